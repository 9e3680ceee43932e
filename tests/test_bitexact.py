"""C runtime == numpy integer reference, bit for bit (docs/format.md section 5).

Three populations: format-level random QModels (every parameter over its whole legal range),
random ONNX graphs taken through the whole pipeline (import, fuse, prune, calibrate, quantize,
encode), and the bundled model on its held-out images.
"""
import numpy as np
import pytest

from edgecomp.compress import CompressOptions
from edgecomp.exec_int import run_int
from edgecomp.packed import write_ecm
from edgecomp.packed.model import QModel
from edgecomp.runtime import Runtime
from edgecomp.testing.random_qmodels import random_qmodel


def assert_same_as_reference(model: QModel, inputs: list[np.ndarray], threads: int = 1):
    data = write_ecm(model)
    rt = Runtime(data, num_threads=threads)
    for x in inputs:
        ref = run_int(model, x, keep_all=True)
        got = rt.run(x)
        want = ref[model.outputs[0]]
        if not np.array_equal(got.reshape(want.shape), want):
            # name the first layer whose output differs, not just the final mismatch
            every = rt.run_all(x)
            for node in model.nodes:
                t = node.outputs[0]
                if not np.array_equal(np.asarray(every[t]).reshape(ref[t].shape), ref[t]):
                    pytest.fail(f"first differing layer: {node.name} ({node.op}), "
                                f"{int((np.asarray(every[t]).reshape(ref[t].shape) != ref[t]).sum())}"
                                f" of {ref[t].size} values")
            pytest.fail("output differs but no layer does")


@pytest.mark.parametrize("seed", range(60))
def test_random_qmodels_bit_exact(seed):
    model = random_qmodel(seed)
    rng = np.random.default_rng(seed)
    inputs = [rng.integers(-128, 128, model.input.shape).astype(np.int8) for _ in range(3)]
    inputs.append(np.full(model.input.shape, -128, np.int8))
    inputs.append(np.full(model.input.shape, 127, np.int8))
    assert_same_as_reference(model, inputs, threads=1 + seed % 2)


def _compress_proto(proto, name: str, seed: int, tmp_path) -> tuple[QModel, np.ndarray]:
    """An ONNX model compressed by the real pipeline, calibrated on random images."""
    import onnx

    from edgecomp.compress import compress

    path = tmp_path / f"{name}.onnx"
    onnx.save(proto, path)
    shape = [d.dim_value or 1 for d in proto.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(seed)
    images = rng.normal(0, 1, (16, *shape[1:])).astype(np.float32)
    opts = CompressOptions(prune=float(rng.choice([0.0, 0.5, 0.9])),
                           calibration=str(rng.choice(["minmax", "percentile"])),
                           show_progress=False)
    return compress(path, opts, calibration_data=images).qmodel, images


def _random_pipeline_model(seed: int, tmp_path):
    from edgecomp.testing.random_graphs import random_onnx_model

    return _compress_proto(random_onnx_model(seed), f"random_{seed}", seed, tmp_path)


def _check_pipeline_model(model: QModel, images: np.ndarray) -> None:
    from edgecomp.exec_int import quantize_input

    q = quantize_input(model, images[:4])
    assert_same_as_reference(model, [q[i:i + 1] for i in range(len(q))])


@pytest.mark.parametrize("seed", range(24))
def test_random_onnx_graphs_through_pipeline_bit_exact(seed, tmp_path):
    _check_pipeline_model(*_random_pipeline_model(seed, tmp_path))


def test_every_onnx_op_case_through_pipeline_bit_exact(tmp_path):
    from edgecomp.testing.random_graphs import op_case_models

    ops, encodings = set(), set()
    for i, case in enumerate(op_case_models()):
        model, images = _compress_proto(case.model, case.name, i, tmp_path)
        _check_pipeline_model(model, images)
        ops |= {n.op for n in model.nodes}
        encodings |= {n.weight_encoding for n in model.nodes if n.weights is not None}
    for seed in range(24):
        model, _ = _random_pipeline_model(seed, tmp_path)
        ops |= {n.op for n in model.nodes}
        encodings |= {n.weight_encoding for n in model.nodes if n.weights is not None}
    assert ops >= {"CONV", "FC", "MAXPOOL", "AVGPOOL", "GLOBALAVGPOOL", "ADD", "CONCAT",
                   "CLAMP", "SOFTMAX", "RESHAPE"}, ops
    # the writer picks the smallest encoding per layer (docs/format.md 3): dense ones and
    # ones decoded at load must both have gone through the pipeline bit-exactly
    assert "dense" in encodings and encodings - {"dense"}, encodings


@pytest.mark.parametrize("prune", [0.0, 0.7])
def test_bundled_model_bit_exact_on_heldout(prune):
    from edgecomp.compress import compress
    from edgecomp.datasets import bundled_digits, load_labeled_folder, read_labels
    from edgecomp.evaluate import int_reference_outputs, runtime_outputs

    b = bundled_digits()
    result = compress(b.onnx, CompressOptions(calib_dir=b.calib_dir, prune=prune,
                                              preprocess=b.preprocess, show_progress=False))
    images, _, _ = load_labeled_folder(b.test_dir, read_labels(b.labels), b.preprocess)
    ref = int_reference_outputs(result.qmodel, images)
    got = runtime_outputs(Runtime(write_ecm(result.qmodel)), result.qmodel, images)
    assert np.array_equal(got.reshape(ref.shape), ref)
