"""One converter per supported ONNX op: ONNX node -> IR node(s), with the output shape.

The pre-conversion check (``onnx_check``) has already rejected what it could see without shapes;
converters raise for the rest (channel mismatches, broadcasting Adds, ...). Weights are copied
into per-node float32 constants ``<node>.weight`` / ``<node>.bias`` so folding one layer never
changes another that shares an initializer.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import onnx

from ..errors import ModelImportError, UnsupportedOpError
from .onnx_build import Builder
from .onnx_fold import flatten_target, reshape_target

Converter = Callable[[Builder, int, onnx.NodeProto, dict], None]


# -- window geometry (shared by Conv and the pools) --------------------------------------------
def resolve_pads(where: str, a: dict, in_hw, kernel_eff, strides) -> tuple[int, int, int, int]:
    """IR pads (top, left, bottom, right) from ONNX pads / auto_pad."""
    auto_pad = a.get("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for n, k, s in zip(in_hw, kernel_eff, strides):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            small, big = total // 2, total - total // 2
            # SAME_UPPER puts the odd extra pad at the end, SAME_LOWER at the beginning.
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
        return (begin[0], begin[1], end[0], end[1])
    pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
    if len(pads) != 4:
        raise ModelImportError(f"{where}: pads {pads} must have 4 entries for a 2-D window")
    return (pads[0], pads[1], pads[2], pads[3])


def pool_out(n: int, k: int, s: int, p0: int, p1: int, ceil_mode: int) -> int:
    """Pool output size as onnxruntime and PyTorch compute it."""
    if not ceil_mode:
        return (n + p0 + p1 - k) // s + 1
    out = -(-(n + p0 + p1 - k) // s) + 1
    if (out - 1) * s >= n + p0:  # the last window may not start in the end padding
        out -= 1
    return out


def _pair(a: dict, key: str, default: int, where: str) -> tuple[int, int]:
    v = [int(x) for x in a.get(key, [default, default])]
    if len(v) != 2 or any(x < 1 for x in v):
        raise ModelImportError(f"{where}: {key}={v} must be two positive integers")
    return (v[0], v[1])


def _nchw(b: Builder, i: int, t: str) -> tuple[int, int, int, int]:
    shape = b.shapes[t]
    if len(shape) != 4:
        raise UnsupportedOpError(f"{b.v.where(i)}: input {t!r} has shape {shape}; this op needs "
                                 "a rank-4 NCHW tensor")
    return shape


def _check_out(b: Builder, i: int, out_hw) -> None:
    if min(out_hw) < 1:
        raise ModelImportError(f"{b.v.where(i)}: output spatial size {tuple(out_hw)} is empty "
                               "(window larger than the padded input)")


# -- converters -------------------------------------------------------------------------------
def conv(b: Builder, i: int, node, a: dict) -> None:
    where = b.v.where(i)
    x = b.act(node.input[0], i)
    _, c, h, w = _nchw(b, i, x)
    weight = b.value(node.input[1], i, "weight").astype(np.float32)
    bias = b.optional_value(node, 2, i, "bias")
    group = int(a.get("group", 1))
    if weight.ndim != 4:
        raise UnsupportedOpError(f"{where}: weight has shape {weight.shape}; only 2-D convs")
    co, cg, kh, kw = weight.shape
    if group < 1 or c != cg * group or co % group:
        raise ModelImportError(f"{where}: weight {weight.shape} with group={group} does not fit "
                               f"{c} input channels")
    if "kernel_shape" in a and tuple(a["kernel_shape"]) != (kh, kw):
        raise ModelImportError(f"{where}: kernel_shape {list(a['kernel_shape'])} != weight "
                               f"kernel {(kh, kw)}")
    strides, dil = _pair(a, "strides", 1, where), _pair(a, "dilations", 1, where)
    k_eff = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
    pads = resolve_pads(where, a, (h, w), k_eff, strides)
    ho = (h + pads[0] + pads[2] - k_eff[0]) // strides[0] + 1
    wo = (w + pads[1] + pads[3] - k_eff[1]) // strides[1] + 1
    _check_out(b, i, (ho, wo))
    name = b.ir_name(i)
    attrs = {"weight": b.add_constant(f"{name}.weight", weight),
             "bias": _bias(b, name, bias, co, where), "strides": strides, "pads": pads,
             "dilations": dil, "group": group, "activation": None}
    b.emit(i, "Conv", [x], (1, co, ho, wo), attrs, name=name)


def _bias(b: Builder, name: str, bias, n: int, where: str) -> str | None:
    if bias is None:
        return None
    bias = np.asarray(bias, dtype=np.float32).ravel()
    if bias.size != n:
        raise ModelImportError(f"{where}: bias has {bias.size} values, expected {n}")
    return b.add_constant(f"{name}.bias", bias)


def _fc_input(b: Builder, i: int, t: str) -> tuple[str, int]:
    x = b.act(t, i)
    shape = b.shapes[x]
    if len(shape) != 2 or shape[0] != 1:
        raise UnsupportedOpError(f"{b.v.where(i)}: input {t!r} has shape {shape}; Gemm/MatMul "
                                 "need a [1, K] activation (Flatten/Reshape first)")
    return x, shape[1]


def gemm(b: Builder, i: int, node, a: dict) -> None:
    where = b.v.where(i)
    x, k = _fc_input(b, i, node.input[0])
    bmat = b.value(node.input[1], i, "B").astype(np.float64)
    if bmat.ndim != 2:
        raise ModelImportError(f"{where}: B has shape {bmat.shape}, expected rank 2")
    weight = (bmat if a.get("transB", 0) else bmat.T) * a.get("alpha", 1.0)  # -> [N, K]
    if weight.shape[1] != k:
        raise ModelImportError(f"{where}: B {bmat.shape} (transB={a.get('transB', 0)}) does "
                               f"not match the input's {k} features")
    n = weight.shape[0]
    c = b.optional_value(node, 2, i, "C")
    bias = None
    if c is not None:
        try:
            bias = np.broadcast_to(np.asarray(c, np.float64), (1, n))[0] * a.get("beta", 1.0)
        except ValueError:
            raise ModelImportError(f"{where}: C of shape {np.shape(c)} does not broadcast to "
                                   f"[1, {n}]") from None
    name = b.ir_name(i)
    attrs = {"weight": b.add_constant(f"{name}.weight", weight),
             "bias": _bias(b, name, bias, n, where), "activation": None}
    b.emit(i, "Gemm", [x], (1, n), attrs, name=name)


def matmul(b: Builder, i: int, node, a: dict) -> None:
    x, k = _fc_input(b, i, node.input[0])
    bmat = b.value(node.input[1], i, "weight")
    if bmat.ndim != 2 or bmat.shape[0] != k:
        raise UnsupportedOpError(f"{b.v.where(i)}: weight of shape {bmat.shape} does not "
                                 f"multiply a [1, {k}] input (needs [{k}, N])")
    name = b.ir_name(i)
    attrs = {"weight": b.add_constant(f"{name}.weight", bmat.T), "bias": None,
             "activation": None}
    b.emit(i, "Gemm", [x], (1, bmat.shape[1]), attrs, name=name)


def relu(b: Builder, i: int, node, a: dict) -> None:
    x = b.act(node.input[0], i)
    b.emit(i, "Relu", [x], b.shapes[x])


def clip(b: Builder, i: int, node, a: dict) -> None:
    x = b.act(node.input[0], i)
    if b.v.opset < 11:
        lo, hi = a.get("min", -math.inf), a.get("max", math.inf)
    else:
        lo_v = b.optional_value(node, 1, i, "min")
        hi_v = b.optional_value(node, 2, i, "max")
        lo = -math.inf if lo_v is None else float(np.asarray(lo_v).ravel()[0])
        hi = math.inf if hi_v is None else float(np.asarray(hi_v).ravel()[0])
    b.emit(i, "Clip", [x], b.shapes[x], {"min": float(lo), "max": float(hi)})


def pool(b: Builder, i: int, node, a: dict) -> None:
    where = b.v.where(i)
    x = b.act(node.input[0], i)
    _, c, h, w = _nchw(b, i, x)
    kernel = _pair(a, "kernel_shape", 1, where)
    strides = _pair(a, "strides", 1, where)
    pads = resolve_pads(where, a, (h, w), kernel, strides)
    if pads[0] >= kernel[0] or pads[2] >= kernel[0] or pads[1] >= kernel[1] or pads[3] >= kernel[1]:
        raise UnsupportedOpError(f"{where}: pads {pads} must be smaller than the kernel {kernel}")
    ceil_mode = int(a.get("ceil_mode", 0))
    ho = pool_out(h, kernel[0], strides[0], pads[0], pads[2], ceil_mode)
    wo = pool_out(w, kernel[1], strides[1], pads[1], pads[3], ceil_mode)
    _check_out(b, i, (ho, wo))
    cip = int(a.get("count_include_pad", 0)) if node.op_type == "AveragePool" else 0
    attrs = {"kernel": kernel, "strides": strides, "pads": pads, "ceil_mode": ceil_mode,
             "count_include_pad": cip}
    b.emit(i, node.op_type, [x], (1, c, ho, wo), attrs)


def global_avg_pool(b: Builder, i: int, node, a: dict) -> None:
    x = b.act(node.input[0], i)
    _, c, _, _ = _nchw(b, i, x)
    b.emit(i, "GlobalAveragePool", [x], (1, c, 1, 1))


def flatten(b: Builder, i: int, node, a: dict) -> None:
    x = b.act(node.input[0], i)
    b.emit(i, "Reshape", [x], flatten_target(b.shapes[x], int(a.get("axis", 1))))


def reshape(b: Builder, i: int, node, a: dict) -> None:
    x = b.act(node.input[0], i)
    target = b.value(node.input[1], i, "shape")
    b.emit(i, "Reshape", [x], reshape_target(b.shapes[x], target, int(a.get("allowzero", 0)),
                                             b.v.where(i)))


def add(b: Builder, i: int, node, a: dict) -> None:
    ins = list(node.input)
    consts = [t for t in ins if b.is_value(t)]
    if not consts:
        x, y = b.act(ins[0], i), b.act(ins[1], i)
        if b.shapes[x] != b.shapes[y]:
            raise UnsupportedOpError(f"{b.v.where(i)}: inputs {ins[0]!r} {b.shapes[x]} and "
                                     f"{ins[1]!r} {b.shapes[y]} differ; only same-shape Add")
        b.emit(i, "Add", [x, y], b.shapes[x], {"activation": None})
        return
    _fold_bias(b, i, node, consts[0])


def _layer_for_fold(b: Builder, i: int, x: str, what: str):
    layer = b.producer.get(x)
    if layer is None or layer.op not in ("Conv", "Gemm") or layer.attrs.get("activation"):
        raise UnsupportedOpError(f"{b.v.where(i)}: {what} can only fold into a Conv/Gemm/MatMul "
                                 f"that produces {x!r} directly")
    return layer


def _fold_bias(b: Builder, i: int, node, const_name: str) -> None:
    """Add(layer_output, constant) -> the layer's bias, when the constant is per output channel."""
    x = b.act(next(t for t in node.input if t != const_name), i)
    layer = _layer_for_fold(b, i, x, "adding a constant")
    shape = b.shapes[x]
    c = np.asarray(b.value(const_name, i, "addend"), np.float64)
    try:
        full = np.broadcast_to(c, shape)
        if np.broadcast_shapes(c.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise UnsupportedOpError(f"{b.v.where(i)}: constant {const_name!r} of shape {c.shape} "
                                 f"does not broadcast onto {x!r} {shape}") from None
    per_channel = full[(0, slice(None)) + (0,) * (len(shape) - 2)]
    if not np.array_equal(full, np.broadcast_to(
            per_channel.reshape((1, -1) + (1,) * (len(shape) - 2)), shape)):
        raise UnsupportedOpError(f"{b.v.where(i)}: constant {const_name!r} varies over spatial "
                                 "positions; only a per-channel bias can be folded")
    old = b.constants[layer.attrs["bias"]] if layer.attrs["bias"] else 0.0
    layer.attrs["bias"] = b.add_constant(f"{layer.name}.bias", old + per_channel)
    b.retarget(layer, x, node.output[0], i)


def batchnorm(b: Builder, i: int, node, a: dict) -> None:
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, folded into the producing layer."""
    x = b.act(node.input[0], i)
    layer = _layer_for_fold(b, i, x, "BatchNormalization")
    gamma, beta, mean, var = (np.asarray(b.value(node.input[k], i, label), np.float64).ravel()
                              for k, label in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    n = b.shapes[x][1]
    if not all(v.size == n for v in (gamma, beta, mean, var)):
        raise ModelImportError(f"{b.v.where(i)}: parameters do not have {n} channels")
    s = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
    weight = b.constants[layer.attrs["weight"]].astype(np.float64)
    bias = (b.constants[layer.attrs["bias"]].astype(np.float64) if layer.attrs["bias"]
            else np.zeros(n))
    layer.attrs["weight"] = b.add_constant(
        layer.attrs["weight"], weight * s.reshape((-1,) + (1,) * (weight.ndim - 1)))
    layer.attrs["bias"] = b.add_constant(f"{layer.name}.bias", (bias - mean) * s + beta)
    b.retarget(layer, x, node.output[0], i)


def concat(b: Builder, i: int, node, a: dict) -> None:
    xs = [b.act(t, i) for t in node.input]
    shapes = [b.shapes[x] for x in xs]
    rank = len(shapes[0])
    axis = int(a["axis"])
    if not -rank <= axis < rank:
        raise ModelImportError(f"{b.v.where(i)}: axis {axis} out of range for rank {rank}")
    axis %= rank
    if axis == 0:
        raise UnsupportedOpError(f"{b.v.where(i)}: concatenation along the batch axis")
    for x, s in zip(xs, shapes):
        if len(s) != rank or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]:
            raise ModelImportError(f"{b.v.where(i)}: input {x!r} {s} does not match {shapes[0]} "
                                   f"outside axis {axis}")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    b.emit(i, "Concat", xs, tuple(out), {"axis": axis})


def softmax(b: Builder, i: int, node, a: dict) -> None:
    x = b.act(node.input[0], i)
    shape = b.shapes[x]
    axis = int(a.get("axis", -1 if b.v.opset >= 13 else 1)) % len(shape)
    if not (axis == len(shape) - 1
            or (b.v.opset < 13 and all(d == 1 for d in shape[axis:-1]))):
        raise UnsupportedOpError(f"{b.v.where(i)}: softmax over axis {a.get('axis')} of "
                                 f"{shape}; only the last axis is supported")
    b.emit(i, "Softmax", [x], shape, {"axis": -1})


def dropout(b: Builder, i: int, node, a: dict) -> None:
    training = b.optional_value(node, 2, i, "training_mode")
    if training is not None and bool(np.asarray(training).ravel()[0]):
        raise UnsupportedOpError(f"{b.v.where(i)}: training_mode=True is not supported")
    identity(b, i, node, a)


def identity(b: Builder, i: int, node, a: dict) -> None:
    b.alias[node.output[0]] = b.act(node.input[0], i)


CONVERTERS: dict[str, Converter] = {
    "Conv": conv, "Gemm": gemm, "MatMul": matmul, "Relu": relu, "Clip": clip,
    "MaxPool": pool, "AveragePool": pool, "GlobalAveragePool": global_avg_pool,
    "Flatten": flatten, "Reshape": reshape, "Add": add, "Concat": concat, "Softmax": softmax,
    "Dropout": dropout, "Identity": identity, "BatchNormalization": batchnorm,
}
