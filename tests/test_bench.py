"""`edgecomp bench` and edgecomp.bench on a small model: every engine runs in its own process
and reports latency and peak memory; the source model is found next to the .ecm; clear errors
when it is not. Speed itself is measured by benchmarks/, never asserted here."""
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecomp.bench import find_source, measure, measure_isolated
from edgecomp.cli import main
from edgecomp.compress import CompressOptions, compress
from edgecomp.errors import EdgecompError
from edgecomp.packed import save_ecm


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32) * 0.2,
                                "w")
    b = numpy_helper.from_array(np.zeros(16, np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3],
                              pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["y"])]
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 32, 32])],
                          [w, b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, d / "net.onnx")
    images = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    q = compress(d / "net.onnx", CompressOptions(prune=0.5, show_progress=False),
                 calibration_data=images).qmodel
    save_ecm(q, d / "net.ecm")
    return d


def test_measure_reports_latency_and_counters(model_dir):
    m = measure("edgecomp", model_dir / "net.ecm", reps=3, warmup=1)
    assert m.runs == 3 and 0 < m.min_ms <= m.median_ms <= m.p90_ms
    assert m.peak_rss_mb >= m.baseline_rss_mb > 0
    e = m.extra
    assert e["dense_macs"] == 16 * 32 * 32 * 27
    assert e["executed_macs"] + e["skipped_zero_weight_macs"] + \
        e["skipped_zero_activation_macs"] + e["padding_macs"] == e["dense_macs"]
    assert sum(e["kernels"].values()) == 1


def test_isolated_measurement_of_onnxruntime(model_dir):
    m = measure_isolated("onnxruntime", model_dir / "net.onnx", reps=2, warmup=0)
    assert m.engine == "onnxruntime" and m.median_ms > 0 and m.peak_rss_mb > 0


def test_cli_bench_vs_onnxruntime(model_dir, capsys):
    out = model_dir / "bench.json"
    rc = main(["bench", str(model_dir / "net.ecm"), "--vs", "onnxruntime", "--reps", "2",
               "--warmup", "0", "--layers", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "onnxruntime fp32" in text and "onnxruntime int8" in text and "CONV" in text
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == ["edgecomp", "onnxruntime fp32", "onnxruntime int8"]
    assert all(r["median_ms"] > 0 and r["peak_rss_mb"] > 0 for r in rows)


def test_cli_bench_errors(model_dir, tmp_path, capsys):
    lone = tmp_path / "lone.ecm"
    lone.write_bytes((model_dir / "net.ecm").read_bytes())
    assert main(["bench", str(lone), "--vs", "onnxruntime", "--reps", "1"]) == 2
    assert "cannot find the source model (net.onnx)" in capsys.readouterr().err
    assert main(["bench", str(lone), "--vs", "tflite", "--reps", "1"]) == 2
    assert "--tflite PATH" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "nope.ecm")]) == 2
    assert find_source(lone, {"source": {"path": "net.onnx"}}, ".onnx") is None
    with pytest.raises(EdgecompError, match="unknown engine"):
        measure("tensorrt", lone)


def test_tuned_session_same_outputs_and_a_candidate_kernel(model_dir):
    """tune_runs: the session times each candidate kernel of the CONV layer and keeps one;
    outputs stay bit-identical to the cost model's choice and to the reference kernels."""
    from edgecomp.runtime import Runtime
    from edgecomp.testing.random_qmodels import random_qmodel

    x = np.random.default_rng(1).integers(-128, 128, (1, 3, 32, 32)).astype(np.int8)
    with Runtime(model_dir / "net.ecm") as plain, \
            Runtime(model_dir / "net.ecm", tune_runs=2, num_threads=2) as tuned, \
            Runtime(model_dir / "net.ecm", kernels="reference") as ref:
        want = ref.run(x)
        assert np.array_equal(plain.run(x), want) and np.array_equal(tuned.run(x), want)
        kernel = [r["kernel"] for r in tuned.layer_stats() if r["op"] == "CONV"][0]
        assert kernel.startswith("conv_") and "ref" not in kernel
    for seed in range(3):  # random graphs: every op, several layers to tune at once
        q = random_qmodel(seed)
        path = model_dir / f"random{seed}.ecm"
        save_ecm(q, path)
        with Runtime(path, tune_runs=1) as tuned, Runtime(path, kernels="reference") as ref:
            xr = np.random.default_rng(seed).integers(-128, 128, ref.input_shape).astype(np.int8)
            assert np.array_equal(tuned.run(xr), ref.run(xr))


def test_cli_bench_tune(model_dir, capsys):
    assert main(["bench", str(model_dir / "net.ecm"), "--tune", "1", "--reps", "2",
                 "--warmup", "0", "--layers"]) == 0
    text = capsys.readouterr().out
    assert "edgecomp tuned (" in text and "s load)" in text and "CONV" in text
    assert main(["bench", str(model_dir / "net.ecm"), "--tune", "101"]) == 2
    assert "--tune 101" in capsys.readouterr().err


def test_tune_runs_out_of_range_is_a_clear_error(model_dir):
    from edgecomp.errors import RuntimeFailure
    from edgecomp.runtime import Runtime

    with pytest.raises(RuntimeFailure, match=r"tune_runs = -1 is out of range \[0, 100\]"):
        Runtime(model_dir / "net.ecm", tune_runs=-1)
