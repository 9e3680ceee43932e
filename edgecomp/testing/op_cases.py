"""One-op-focused ONNX models: each supported op and the attribute values that break kernels.

``op_case_models()`` (re-exported by ``random_graphs``) returns ``OpCase(name, model, ops)``;
names are stable. Inputs are small (<= 4 channels, <= 9x9) so a sweep takes milliseconds.
"""
from __future__ import annotations

import zlib

import numpy as np
import onnx

from .random_graphs import OpCase, _Net


def _flat(net: _Net, x, shape):
    return net.node("Flatten", [x], axis=1), (1, int(np.prod(shape)))


def _conv_case(co, **kw):
    return lambda net, x, s: net.conv(x, s, co, **kw)


def _pool_case(op, k, stride, pads=(0, 0, 0, 0), ceil_mode=0, cip=0, auto_pad=None):
    return lambda net, x, s: net.pool(op, x, s, k, stride, pads, ceil_mode, cip, auto_pad)


def _conv_bn(bias):
    def build(net, x, s):
        y, s2 = net.conv(x, s, 5, (3, 3), pads=(1, 1, 1, 1), bias=bias)
        return net.bn(y, s2)
    return build


def _conv_add_const(net, x, s):
    y, s2 = net.conv(x, s, 3, (3, 3), pads=(1, 1, 1, 1))
    c = net.rng.normal(0, 0.5, (1, 3, 1, 1)).astype(np.float32)
    return net.node("Add", [y, net.const("c", c)]), s2


def _gemm(trans_b=True, alpha=1.0, beta=1.0, bias="vector", n=5):
    def build(net, x, s):
        x, s = _flat(net, x, s)
        k = s[1]
        w = net.weights((n, k) if trans_b else (k, n), k)
        ins = [x, net.const("w", w)]
        if bias == "vector":
            ins.append(net.const("b", net.rng.normal(0, 0.3, n).astype(np.float32)))
        elif bias == "row":
            ins.append(net.const("b", net.rng.normal(0, 0.3, (1, n)).astype(np.float32)))
        elif bias == "scalar":
            ins.append(net.const("b", np.float32(0.25)))
        return net.node("Gemm", ins, transB=int(trans_b), alpha=alpha, beta=beta), (1, n)
    return build


def _gemm_bn(net, x, s):
    y, s = _gemm()(net, x, s)
    return net.bn(y, s)


def _matmul(bias_first=None):
    def build(net, x, s):
        x, s = _flat(net, x, s)
        y = net.node("MatMul", [x, net.const("w", net.weights((s[1], 6), s[1]))])
        if bias_first is None:
            return y, (1, 6)
        b = net.const("b", net.rng.normal(0, 0.3, 6).astype(np.float32))
        return net.node("Add", [b, y] if bias_first else [y, b]), (1, 6)
    return build


def _clip(lo, hi):
    return lambda net, x, s: net.clip(x, s, lo, hi)


def _reshape_const(target, out):
    return lambda net, x, s: (net.node("Reshape", [x, net.const("shape", np.array(
        target, np.int64))]), out)


def _reshape_shape_arith(net, x, s):
    """[batch, C*H*W] from Shape -> Gather -> Mul -> Cast -> Unsqueeze -> Concat -> Reshape."""
    shp = net.node("Shape", [x])
    batch = net.node("Gather", [shp, net.const("i0", np.array(0, np.int64))], axis=0)
    dims = [net.node("Gather", [shp, net.const("i", np.array(j, np.int64))], axis=0)
            for j in (1, 2, 3)]
    prod = net.node("Mul", [net.node("Mul", [dims[0], dims[1]]), dims[2]])
    cast = net.node("Cast", [prod], to=onnx.TensorProto.INT64)
    parts = [net.node("Unsqueeze", [v, net.const("ax", np.array([0], np.int64))])
             for v in (batch, cast)]
    target = net.node("Concat", parts, axis=0)
    return net.node("Reshape", [x, target]), (1, int(np.prod(s)))


def _add_branches(net, x, s):
    return net.node("Add", [net.node("Relu", [x]), x]), s


def _concat(axis, n=2):
    def build(net, x, s):
        branches = [x, net.node("Relu", [x]), net.clip(x, s, -0.5, 0.5)[0]][:n]
        out = list(s)
        out[axis % len(s)] *= n
        return net.node("Concat", branches, axis=axis), tuple(out)
    return build


def _concat_2d(net, x, s):
    f, fs = _flat(net, x, s)
    return net.node("Concat", [f, net.node("Relu", [f])], axis=1), (1, 2 * fs[1])


def _softmax(net, x, s):
    f, fs = _flat(net, x, s)
    return net.softmax(f, fs)


def _identity_to_output(net, x, s):
    return net.node("Identity", [net.node("Relu", [x])]), s


# name: (builder, input [C, H, W], ops, opset)
_CASES = {
    "conv_3x3_pad1": (_conv_case(4, k=(3, 3), pads=(1, 1, 1, 1)), (3, 8, 8), ("Conv",), 13),
    "conv_1x1_no_bias": (_conv_case(6, k=(1, 1), bias=False), (5, 7, 9), ("Conv",), 13),
    "conv_stride2_odd": (_conv_case(3, k=(3, 3), stride=(2, 2)), (2, 9, 7), ("Conv",), 13),
    "conv_asym_pads": (_conv_case(4, k=(3, 3), pads=(0, 1, 2, 1)), (2, 6, 7), ("Conv",), 13),
    "conv_rect_kernel": (_conv_case(3, k=(1, 3), stride=(2, 1), pads=(0, 1, 0, 1)),
                         (2, 7, 6), ("Conv",), 13),
    "conv_dilation2": (_conv_case(3, k=(3, 3), dil=(2, 2), pads=(2, 2, 2, 2)), (2, 9, 9),
                       ("Conv",), 13),
    "conv_dilation_rect": (_conv_case(2, k=(3, 3), dil=(1, 2), pads=(1, 0, 0, 2)),
                           (2, 7, 8), ("Conv",), 13),
    "conv_group2": (_conv_case(6, k=(3, 3), pads=(1, 1, 1, 1), group=2), (4, 6, 6),
                    ("Conv",), 13),
    "conv_depthwise_s2": (_conv_case(4, k=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1), group=4),
                          (4, 7, 8), ("Conv",), 13),
    "conv_depthwise_mult2": (_conv_case(6, k=(3, 3), pads=(1, 1, 1, 1), group=3), (3, 5, 5),
                             ("Conv",), 13),
    "conv_same_upper_s2": (_conv_case(3, k=(3, 3), stride=(2, 2), auto_pad="SAME_UPPER"),
                           (2, 8, 7), ("Conv",), 13),
    "conv_same_lower_k4": (_conv_case(3, k=(4, 4), auto_pad="SAME_LOWER"), (2, 8, 7),
                           ("Conv",), 13),
    "conv_same_upper_k4": (_conv_case(3, k=(4, 2), auto_pad="SAME_UPPER"), (2, 8, 7),
                           ("Conv",), 13),
    "conv_valid_s2": (_conv_case(3, k=(3, 3), stride=(2, 2), auto_pad="VALID"), (2, 9, 8),
                      ("Conv",), 13),
    "conv_kernel_over_input": (_conv_case(2, k=(5, 5), pads=(2, 2, 2, 2)), (2, 3, 3),
                               ("Conv",), 13),
    "conv_1x1_spatial": (_conv_case(4, k=(1, 1)), (3, 1, 1), ("Conv",), 13),
    "conv_bn": (_conv_bn(True), (3, 6, 6), ("Conv", "BatchNormalization"), 13),
    "conv_no_bias_bn": (_conv_bn(False), (3, 6, 6), ("Conv", "BatchNormalization"), 13),
    "conv_add_const_bias": (_conv_add_const, (2, 5, 5), ("Conv", "Add"), 13),
    "gemm_transb": (_gemm(), (2, 3, 3), ("Flatten", "Gemm"), 13),
    "gemm_alpha_beta": (_gemm(trans_b=False, alpha=0.7, beta=1.3, bias="row"), (2, 3, 3),
                        ("Flatten", "Gemm"), 13),
    "gemm_no_bias": (_gemm(bias=None), (1, 4, 4), ("Flatten", "Gemm"), 13),
    "gemm_scalar_bias": (_gemm(bias="scalar"), (1, 4, 4), ("Flatten", "Gemm"), 13),
    "gemm_bn": (_gemm_bn, (2, 3, 3), ("Gemm", "BatchNormalization"), 13),
    "matmul": (_matmul(), (2, 3, 3), ("Flatten", "MatMul"), 13),
    "matmul_add_bias": (_matmul(False), (2, 3, 3), ("MatMul", "Add"), 13),
    "matmul_bias_add_first": (_matmul(True), (2, 3, 3), ("MatMul", "Add"), 13),
    "relu": (lambda net, x, s: (net.node("Relu", [x]), s), (3, 5, 6), ("Relu",), 13),
    "clip_relu6": (_clip(0.0, 6.0), (3, 5, 5), ("Clip",), 13),
    "clip_lo_hi": (_clip(-0.5, 0.7), (3, 5, 5), ("Clip",), 13),
    "clip_min_only": (_clip(-0.25, None), (2, 4, 4), ("Clip",), 13),
    "clip_max_only": (_clip(None, 0.5), (2, 4, 4), ("Clip",), 13),
    "clip_opset10_attrs": (_clip(-0.3, 0.4), (2, 4, 4), ("Clip",), 10),
    "maxpool_2x2_s2": (_pool_case("MaxPool", (2, 2), (2, 2)), (3, 8, 8), ("MaxPool",), 13),
    "maxpool_3x3_s2_pad1": (_pool_case("MaxPool", (3, 3), (2, 2), (1, 1, 1, 1)), (2, 7, 8),
                            ("MaxPool",), 13),
    "maxpool_ceil": (_pool_case("MaxPool", (2, 2), (2, 2), ceil_mode=1), (2, 7, 5),
                     ("MaxPool",), 13),
    "maxpool_ceil_last_window_rule": (_pool_case("MaxPool", (3, 3), (3, 3), (1, 1, 1, 1), 1),
                                      (2, 5, 5), ("MaxPool",), 13),
    "maxpool_asym_pads": (_pool_case("MaxPool", (3, 2), (1, 2), (0, 1, 2, 0)), (2, 6, 7),
                          ("MaxPool",), 13),
    "maxpool_same_upper": (_pool_case("MaxPool", (3, 3), (2, 2), auto_pad="SAME_UPPER"),
                           (2, 8, 7), ("MaxPool",), 13),
    "maxpool_1x1_s2": (_pool_case("MaxPool", (1, 1), (2, 2)), (2, 7, 6), ("MaxPool",), 13),
    "avgpool_pad1_cip0": (_pool_case("AveragePool", (3, 3), (1, 1), (1, 1, 1, 1)), (2, 5, 6),
                          ("AveragePool",), 13),
    "avgpool_pad1_cip1": (_pool_case("AveragePool", (3, 3), (1, 1), (1, 1, 1, 1), cip=1),
                          (2, 5, 6), ("AveragePool",), 13),
    "avgpool_ceil_cip0": (_pool_case("AveragePool", (2, 2), (2, 2), ceil_mode=1), (2, 7, 5),
                          ("AveragePool",), 13),
    "avgpool_ceil_cip1": (_pool_case("AveragePool", (3, 3), (2, 2), (1, 0, 1, 0), 1, 1),
                          (2, 6, 8), ("AveragePool",), 13),
    "avgpool_ceil_last_window_rule": (_pool_case("AveragePool", (3, 3), (3, 3), (1, 1, 1, 1),
                                                 1, 1), (2, 5, 5), ("AveragePool",), 13),
    "avgpool_asym_s2": (_pool_case("AveragePool", (3, 2), (2, 1), (2, 0, 0, 1), cip=1),
                        (2, 7, 6), ("AveragePool",), 13),
    "avgpool_same_lower": (_pool_case("AveragePool", (2, 2), (1, 1), auto_pad="SAME_LOWER"),
                           (2, 5, 6), ("AveragePool",), 13),
    "global_avgpool": (lambda net, x, s: (net.node("GlobalAveragePool", [x]),
                                          (1, s[1], 1, 1)), (3, 5, 7),
                       ("GlobalAveragePool",), 13),
    "flatten_axis1": (lambda net, x, s: _flat(net, x, s), (3, 4, 5), ("Flatten",), 13),
    "flatten_axis0": (lambda net, x, s: (net.node("Flatten", [x], axis=0),
                                         (1, int(np.prod(s)))), (2, 3, 3), ("Flatten",), 13),
    "reshape_const": (_reshape_const([1, -1], (1, 48)), (3, 4, 4), ("Reshape",), 13),
    "reshape_zero_copy": (_reshape_const([0, -1], (1, 48)), (3, 4, 4), ("Reshape",), 13),
    "reshape_rank4": (_reshape_const([1, 6, 4, 2], (1, 6, 4, 2)), (3, 4, 4), ("Reshape",), 13),
    "reshape_shape_arith": (_reshape_shape_arith, (3, 4, 5), ("Shape", "Reshape"), 13),
    "add_branches": (_add_branches, (3, 5, 5), ("Add",), 13),
    "add_same_tensor": (lambda net, x, s: (net.node("Add", [x, x]), s), (2, 3, 4), ("Add",),
                        13),
    "concat_channels": (_concat(1), (2, 4, 5), ("Concat",), 13),
    "concat_three": (_concat(1, 3), (2, 4, 5), ("Concat",), 13),
    "concat_height": (_concat(2), (2, 4, 5), ("Concat",), 13),
    "concat_width_negative_axis": (_concat(-1), (2, 4, 5), ("Concat",), 13),
    "concat_2d": (_concat_2d, (2, 2, 2), ("Concat",), 13),
    "softmax_opset13": (_softmax, (2, 2, 3), ("Softmax",), 13),
    "softmax_opset11_axis1": (_softmax, (2, 2, 3), ("Softmax",), 11),
    "dropout_opset13": (lambda net, x, s: net.dropout(net.node("Relu", [x]), s), (2, 3, 3),
                        ("Dropout",), 13),
    "dropout_opset10": (lambda net, x, s: net.dropout(net.node("Relu", [x]), s), (2, 3, 3),
                        ("Dropout",), 10),
    "identity_to_output": (_identity_to_output, (2, 3, 3), ("Identity",), 13),
}


def op_case_models() -> list[OpCase]:
    """Every op case, built fresh (deterministic: weights seeded by the case name)."""
    cases = []
    for name, (build, chw, ops, opset) in _CASES.items():
        net = _Net(np.random.default_rng(zlib.crc32(name.encode())), opset)
        y, y_shape = build(net, "input", (1, *chw))
        cases.append(OpCase(name, net.model("input", [1, *chw], y, y_shape, name), ops))
    return cases
