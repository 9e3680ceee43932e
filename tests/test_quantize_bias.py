"""Rows whose weights are tiny next to their bias (pruning + least-squares refit leave such rows
in a big FC layer) must not overflow the int32 bias: the quantizer coarsens their scale."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecomp.exec_float import run_float
from edgecomp.exec_int import dequantize, quantize_input, run_int
from edgecomp.importers import import_onnx
from edgecomp.quant.quantize import bias_safe_scales, quantize

K = 768


def _gemm(w: np.ndarray, b: np.ndarray):
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, len(b)])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))


@pytest.mark.parametrize("mode", ["affine", "dfp"])
def test_tiny_row_next_to_a_large_bias_quantizes_within_int32(mode):
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (4, K)).astype(np.float32)
    w[1] = 0.0
    w[1, 3] = 1e-12                 # what a refit can leave of a nearly pruned row
    b = np.array([0.1, 2.0, -0.3, 0.0], np.float32)
    g = _gemm(w, b)
    x = rng.uniform(0, 1, (1, K)).astype(np.float32)
    ref = run_float(g, x)["y"]
    ranges = {"x": (0.0, 1.0), "y": (float(ref.min()) - 1, float(ref.max()) + 1)}
    model = quantize(g, ranges, mode)      # raised "int32 accumulator could overflow" before
    fc = model.nodes[0]
    assert np.all(np.abs(fc.bias.astype(np.int64)) + 255 * 127 * K < 2 ** 31)
    y = dequantize(model.output, run_int(model, quantize_input(model, x))[model.outputs[0]])
    step = model.output.scale
    assert abs(float(y.reshape(-1)[1]) - 2.0) <= 2 * step     # the row still outputs its bias
    assert np.abs(y.reshape(-1) - ref.reshape(-1)).max() <= 0.05 * np.abs(ref).max() + 2 * step


def test_bias_safe_scales_bound():
    floor = bias_safe_scales(np.array([0.0, 1.0, -4.0]), 0.01, K, "affine")
    assert floor[0] == 0 and floor[2] == pytest.approx(4 * floor[1])
    room = 2 ** 31 - 1 - 255 * 127 * K
    assert 1.0 / (0.01 * floor[1]) < room
    dfp = bias_safe_scales(np.array([1.0]), 0.01, K, "dfp")
    assert dfp[0] >= floor[1] and np.log2(dfp[0]) == np.round(np.log2(dfp[0]))
