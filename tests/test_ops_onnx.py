"""The ONNX operators added with format 1.1, each through import, the float executor (against
onnxruntime), quantization, the integer spec and the C runtime (bit-exact), with the integer
result close to the float one (edgecomp.testing.pipeline_check)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecomp.importers import import_onnx
from edgecomp.testing.pipeline_check import check_onnx_pipeline

RNG = np.random.default_rng(7)


def const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def w(*shape):
    return (RNG.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)


def model(nodes, inits=(), in_shape=(1, 4, 7, 9), opset=13):
    graph = helper.make_graph(
        nodes, "ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def n(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def conv_relu(x="x", out="r", c_in=4, c_out=6):
    """A conv + relu in front, so the op under test reads a computed activation."""
    return [n("Conv", [x, f"{out}_w", f"{out}_b"], [f"{out}_c"], pads=[1, 1, 1, 1]),
            n("Relu", [f"{out}_c"], [out])], [const(f"{out}_w", w(c_out, c_in, 3, 3)),
                                              const(f"{out}_b", w(c_out))]


def _with_conv(nodes, inits=(), **kw):
    head, head_inits = conv_relu()
    return model(head + nodes, [*head_inits, *inits], **kw)


CASES = {
    "pad_zero": lambda: _with_conv([n("Pad", ["r", "p"], ["y"])],
                                   [const("p", np.array([0, 0, 1, 2, 0, 1, 2, 0], np.int64))]),
    "pad_value": lambda: _with_conv([n("Pad", ["r", "p", "v"], ["y"])],
                                    [const("p", np.array([0, 1, 0, 1, 0, 0, 3, 0], np.int64)),
                                     const("v", np.float32(0.75))]),
    "pad_opset2": lambda: model([n("Pad", ["x"], ["y"], pads=[0, 0, 2, 1, 0, 0, 0, 2],
                                   value=-0.5)], opset=9),
    "lrn": lambda: _with_conv([n("LRN", ["r"], ["y"], size=5, alpha=0.2, beta=0.75,
                                 bias=1.5)]),
    "lrn_size3": lambda: _with_conv([n("LRN", ["r"], ["y"], size=3, alpha=1e-2)]),
    "sigmoid": lambda: model([n("Sigmoid", ["x"], ["y"])]),
    "hard_sigmoid": lambda: model([n("HardSigmoid", ["x"], ["y"], alpha=0.3, beta=0.4)]),
    "hard_swish": lambda: model([n("HardSwish", ["x"], ["y"])], opset=14),
    "tanh": lambda: model([n("Tanh", ["x"], ["y"])]),
    "leaky_relu": lambda: model([n("LeakyRelu", ["x"], ["y"], alpha=0.1)]),
    "squeeze_excite": lambda: _with_conv(
        [n("GlobalAveragePool", ["r"], ["g"]), n("Conv", ["g", "w1"], ["s1"]),
         n("Relu", ["s1"], ["s2"]), n("Conv", ["s2", "w2"], ["s3"]),
         n("HardSigmoid", ["s3"], ["gate"]), n("Mul", ["r", "gate"], ["y"])],
        [const("w1", w(2, 6, 1, 1)), const("w2", w(6, 2, 1, 1))]),
    "add_broadcast": lambda: _with_conv([n("ReduceMean", ["r"], ["m"], axes=[2, 3]),
                                        n("Add", ["m", "r"], ["y"])]),
    "mul_broadcast_rank": lambda: model(
        [n("ReduceMean", ["x"], ["m"], axes=[0, 1], keepdims=0), n("Mul", ["x", "m"], ["y"])]),
    "mul_const_channel": lambda: _with_conv([n("Mul", ["r", "k"], ["y"])],
                                           [const("k", w(1, 6, 1, 1) * 3)]),
    "mul_const_folds_into_conv": lambda: model(
        [n("Conv", ["x", "cw"], ["c"]), n("Mul", ["c", "k"], ["y"])],
        [const("cw", w(3, 4, 1, 1)), const("k", np.array([[[[2.0]], [[-1.0]], [[0.5]]]],
                                                          np.float32))]),
    "add_const_scalar": lambda: _with_conv([n("Add", ["r", "k"], ["y"])],
                                          [const("k", np.float32(-0.5))]),
    "normalize_input": lambda: model(
        [n("Sub", ["x", "mean"], ["s"]), n("Div", ["s", "std"], ["y"])],
        [const("mean", np.array([0.4, 0.5, 0.6, 0.1], np.float32).reshape(1, 4, 1, 1)),
         const("std", np.array([0.2, 0.25, 0.3, 0.5], np.float32).reshape(1, 4, 1, 1))]),
    "const_minus_x": lambda: model([n("Sub", ["k", "x"], ["y"])], [const("k", np.float32(1))]),
    "hardswish_decomposed": lambda: _with_conv(
        [n("Add", ["r", "three"], ["a"]), n("Clip", ["a", "zero", "six"], ["c"]),
         n("Div", ["c", "six"], ["d"]), n("Mul", ["r", "d"], ["y"])],
        [const("three", np.float32(3)), const("zero", np.float32(0)),
         const("six", np.float32(6))]),
    "batchnorm_standalone": lambda: _with_conv(
        [n("BatchNormalization", ["r", "g", "b", "m", "v"], ["y"])],
        [const("g", w(6) + 1), const("b", w(6)), const("m", w(6)),
         const("v", np.abs(w(6)) + 0.5)]),
    "reduce_mean_spatial": lambda: _with_conv([n("ReduceMean", ["r"], ["y"], axes=[2, 3],
                                                 keepdims=0)]),
    "reduce_mean_channels": lambda: _with_conv([n("ReduceMean", ["r"], ["y"], axes=[1])]),
    "reduce_mean_h": lambda: _with_conv([n("ReduceMean", ["r", "ax"], ["y"], keepdims=0)],
                                        [const("ax", np.array([2], np.int64))], opset=18),
    "resize_nearest_scale2": lambda: _with_conv(
        [n("Resize", ["r", "", "s"], ["y"], mode="nearest",
           coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
        [const("s", np.array([1, 1, 2, 2], np.float32))]),
    "resize_nearest_half_pixel": lambda: _with_conv(
        [n("Resize", ["r", "", "", "sz"], ["y"], mode="nearest")],
        [const("sz", np.array([1, 6, 5, 13], np.int64))]),
    "resize_linear_half_pixel": lambda: _with_conv(
        [n("Resize", ["r", "", "", "sz"], ["y"], mode="linear")],
        [const("sz", np.array([1, 6, 11, 4], np.int64))]),
    "resize_linear_align_corners": lambda: _with_conv(
        [n("Resize", ["r", "", "s"], ["y"], mode="linear",
           coordinate_transformation_mode="align_corners")],
        [const("s", np.array([1, 1, 2, 1.5], np.float32))]),
    "upsample": lambda: _with_conv([n("Upsample", ["r", "s"], ["y"], mode="nearest")],
                                   [const("s", np.array([1, 1, 2, 3], np.float32))], opset=9),
    "transpose_ssd_head": lambda: _with_conv(
        [n("Transpose", ["r"], ["t"], perm=[0, 2, 3, 1]), n("Reshape", ["t", "shape"], ["b"]),
         n("Softmax", ["b"], ["y"], axis=-1)],
        [const("shape", np.array([1, -1, 3], np.int64))]),
    "squeeze_unsqueeze": lambda: _with_conv(
        [n("GlobalAveragePool", ["r"], ["g"]), n("Squeeze", ["g", "ax"], ["s"]),
         n("Unsqueeze", ["s", "ax0"], ["y"])],
        [const("ax", np.array([2, 3], np.int64)), const("ax0", np.array([1], np.int64))]),
    "softmax_axis1": lambda: _with_conv([n("Softmax", ["r"], ["y"], axis=1)]),
    "softmax_axis1_opset11": lambda: _with_conv([n("Softmax", ["r"], ["y"], axis=1)],
                                                opset=11),
    "mean_two": lambda: _with_conv([n("Sigmoid", ["r"], ["s"]), n("Mean", ["r", "s"], ["y"])]),
    "concat_axis2": lambda: _with_conv([n("Sigmoid", ["r"], ["s"]),
                                       n("Concat", ["r", "s"], ["y"], axis=2)]),
    "concat_axis3_rank3": lambda: _with_conv(
        [n("Reshape", ["r", "shape"], ["a"]), n("Tanh", ["a"], ["t"]),
         n("Concat", ["a", "t"], ["y"], axis=-1)],
        [const("shape", np.array([1, 6, 63], np.int64))]),
}


@pytest.mark.parametrize("key", sorted(CASES))
def test_op_through_every_executor(key):
    report = check_onnx_pipeline(CASES[key](), seed=hash(key) % 1000)
    assert report.nodes >= 1


def test_new_ops_map_to_the_expected_packed_ops():
    assert "MUL" in check_onnx_pipeline(CASES["squeeze_excite"]()).ops
    assert "EXPAND" in check_onnx_pipeline(CASES["add_broadcast"]()).ops
    assert check_onnx_pipeline(CASES["sigmoid"]()).ops == ("LUT",)
    assert check_onnx_pipeline(CASES["lrn"]()).ops[-1] == "LRN"
    assert check_onnx_pipeline(CASES["pad_zero"]()).ops[-1] == "PAD"
    assert check_onnx_pipeline(CASES["resize_linear_half_pixel"]()).ops[-1] == "RESIZE"
    ops = check_onnx_pipeline(CASES["transpose_ssd_head"]()).ops
    assert ops[-3:] == ("TRANSPOSE", "RESHAPE", "SOFTMAX")
    # a per-channel constant after a Relu becomes a depthwise 1x1 CONV; on a Conv it folds
    assert check_onnx_pipeline(CASES["mul_const_channel"]()).ops[-1] == "CONV"
    assert check_onnx_pipeline(CASES["mul_const_folds_into_conv"]()).ops == ("CONV",)


def test_folded_mul_scales_the_conv_weights():
    proto = CASES["mul_const_folds_into_conv"]()
    g = import_onnx(proto)
    assert [nd.op for nd in g.nodes] == ["Conv"]
    original = numpy_helper.to_array(proto.graph.initializer[0])
    folded = g.constants[g.nodes[0].attrs["weight"]]
    np.testing.assert_allclose(folded, original * np.array([2.0, -1.0, 0.5])[:, None, None, None],
                               rtol=1e-6)
