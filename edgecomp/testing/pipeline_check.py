"""One source model through every executor, with the checks the op and model-zoo tests share.

    report = check_onnx_pipeline(model_proto, seed=0)

1. import (``import_onnx``) and the numpy float executor against onnxruntime;
2. activation fusion, calibration on random inputs, quantization, the format checks;
3. the numpy integer executor (the spec) against the C runtime, bit for bit, on several inputs;
4. the dequantized integer output against the float output, within ``int_tolerance`` of the
   output's range (catches wrong integer semantics that are still self-consistent).

Returns a ``PipelineReport`` with the measured errors; raises ``AssertionError`` naming the step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PipelineReport:
    float_max_err: float       # numpy float vs onnxruntime, max abs
    int_max_err: float         # dequantized int vs float, max abs
    out_range: float           # max - min of the float output
    ops: tuple[str, ...]       # packed-model op names, in order
    nodes: int


def ort_run(proto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def runtime_matches_spec(qmodel, inputs, threads: int = 1) -> None:
    """The C runtime reproduces ``exec_int.run_int`` bit for bit (first differing layer named)."""
    from ..exec_int import run_int
    from ..packed import write_ecm
    from ..runtime import Runtime

    rt = Runtime(write_ecm(qmodel), num_threads=threads)
    for x in inputs:
        ref = run_int(qmodel, x, keep_all=True)
        every = rt.run_all(x)
        for node in qmodel.nodes:
            t = node.outputs[0]
            got = np.asarray(every[t]).reshape(ref[t].shape)
            if not np.array_equal(got, ref[t]):
                raise AssertionError(
                    f"C runtime differs from the spec at {node.name} ({node.op}): "
                    f"{int((got != ref[t]).sum())} of {ref[t].size} values")


def check_onnx_pipeline(proto, seed: int = 0, calib: int = 8, float_atol: float = 1e-4,
                        int_tolerance: float = 0.1, input_scale: float = 1.0,
                        threads: int = 1) -> PipelineReport:
    from ..exec_float import run_float
    from ..exec_int import dequantize, quantize_input, run_int
    from ..importers import import_onnx
    from ..packed.checks import check_model
    from ..passes.fuse import fuse_activations
    from ..quant import calibrate, quantize

    graph = import_onnx(proto)
    shape = graph.shape(graph.inputs[0])
    rng = np.random.default_rng(seed)
    images = (rng.standard_normal((calib, *shape[1:])) * input_scale).astype(np.float32)
    want = ort_run(proto, images[:1])
    got = run_float(graph, images[:1])[graph.outputs[0]]
    float_err = float(np.abs(got.reshape(want.shape) - want).max())
    scale = max(1.0, float(np.abs(want).max()))
    assert float_err <= float_atol * scale, \
        f"float executor vs onnxruntime: max error {float_err:.3g}"
    fused = fuse_activations(graph)
    qmodel = quantize(fused, calibrate(fused, images, show_progress=False))
    check_model(qmodel)
    q = quantize_input(qmodel, images)
    runtime_matches_spec(qmodel, [q[i:i + 1] for i in range(min(3, calib))], threads)
    ref = run_float(fused, images)[graph.outputs[0]]
    out = np.concatenate([dequantize(qmodel.output, run_int(qmodel, q[i:i + 1])[qmodel.outputs[0]])
                          for i in range(calib)])
    out_range = float(ref.max() - ref.min()) or 1.0
    int_err = float(np.abs(out.reshape(ref.shape) - ref).max())
    assert int_err <= int_tolerance * out_range + 2 * qmodel.output.scale, \
        f"int8 vs float: max error {int_err:.3g} over an output range of {out_range:.3g}"
    return PipelineReport(float_err, int_err, out_range, tuple(n.op for n in qmodel.nodes),
                          len(qmodel.nodes))
