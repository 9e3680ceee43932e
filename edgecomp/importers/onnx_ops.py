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


# -- operators added with format 1.1 ------------------------------------------------------------
def _aux(b: Builder, i: int, op: str, inputs: list[str], shape, attrs: dict | None = None,
         suffix: str = "") -> str:
    """An IR node of ONNX node ``i`` whose output is an intermediate tensor (lowerings that
    take several IR nodes: the last one is emitted under the ONNX output's name)."""
    from .. import ir

    out = f"{b.v.nodes[i].output[0]}.{suffix or op.lower()}"
    while out in b.shapes:
        out += "_"
    node = ir.Node(op=op, name=out, inputs=list(inputs), outputs=[out], attrs=dict(attrs or {}),
                   source=[b.v.names[i]])
    b.nodes.append(node)
    b.shapes[out] = tuple(int(d) for d in shape)
    b.producer[out] = node
    return out


def _only_reader(b: Builder, i: int, t: str) -> bool:
    """Whether ONNX node i is the only reader of ``t`` (so its producer may be rewritten)."""
    r = b.resolve(t)
    return (len(b.v.consumers.get(t, [])) == 1 and r not in b.v.outputs and t not in b.v.outputs
            and len(b.v.consumers.get(r, [i])) <= 1)


def _channel_vector(b: Builder, i: int, c: np.ndarray, shape, what: str) -> np.ndarray | None:
    """A constant that broadcasts onto ``shape`` as one value per channel (axis 1) -> [C];
    None when it varies over other axes."""
    c = np.asarray(c, np.float64)
    try:
        full = np.broadcast_to(c, shape)
        if np.broadcast_shapes(c.shape, shape) != tuple(shape):
            raise ValueError
    except ValueError:
        raise UnsupportedOpError(f"{b.v.where(i)}: {what} of shape {c.shape} does not "
                                 f"broadcast onto the activation {tuple(shape)}") from None
    if len(shape) < 2:
        return None
    per = full[(0, slice(None)) + (0,) * (len(shape) - 2)]
    if not np.array_equal(full, np.broadcast_to(per.reshape((1, -1) + (1,) * (len(shape) - 2)),
                                                shape)):
        return None
    return per


def emit_affine(b: Builder, i: int, x: str, scale: np.ndarray, bias: np.ndarray,
                source_x: str | None = None) -> None:
    """y = x * scale + bias with per-channel (or equal) scale and bias vectors [C]: folded into
    the producing Conv/Gemm when it may be rewritten, a LUT-able Affine when every channel is
    the same, else a depthwise 1x1 Conv (rank 4) or a diagonal Gemm (rank 2). ``source_x`` is
    the source model's name of the input (None: never fold)."""
    shape = b.shapes[x]
    layer = b.producer.get(x)
    if (source_x is not None and layer is not None and layer.op in ("Conv", "Gemm")
            and not layer.attrs.get("activation") and _only_reader(b, i, source_x)):
        w = b.constants[layer.attrs["weight"]].astype(np.float64)
        old = (b.constants[layer.attrs["bias"]].astype(np.float64) if layer.attrs["bias"]
               else np.zeros(w.shape[0]))
        layer.attrs["weight"] = b.add_constant(
            layer.attrs["weight"], w * scale.reshape((-1,) + (1,) * (w.ndim - 1)))
        layer.attrs["bias"] = b.add_constant(f"{layer.name}.bias", old * scale + bias)
        b.retarget(layer, x, b.v.nodes[i].output[0], i)
        return
    if np.all(scale == scale[0]) and np.all(bias == bias[0]):
        b.emit(i, "Affine", [x], shape, {"scale": float(scale[0]), "offset": float(bias[0])})
        return
    name = b.ir_name(i)
    if len(shape) == 4:
        attrs = {"weight": b.add_constant(f"{name}.weight", scale.reshape(-1, 1, 1, 1)),
                 "bias": b.add_constant(f"{name}.bias", bias), "strides": (1, 1),
                 "pads": (0, 0, 0, 0), "dilations": (1, 1), "group": shape[1],
                 "activation": None}
        b.emit(i, "Conv", [x], shape, attrs, name=name)
    elif len(shape) == 2:
        attrs = {"weight": b.add_constant(f"{name}.weight", np.diag(scale)),
                 "bias": b.add_constant(f"{name}.bias", bias), "activation": None}
        b.emit(i, "Gemm", [x], shape, attrs, name=name)
    else:
        raise UnsupportedOpError(f"{b.v.where(i)}: a per-channel scale/offset of a rank-"
                                 f"{len(shape)} tensor is not supported (rank 2 or 4 only)")


def binary(b: Builder, i: int, node, a: dict) -> None:
    """Add / Sub / Mul / Div of two activations (numpy broadcasting; Add and Mul only) or of an
    activation and a constant (per-channel or scalar: folded, LUT or depthwise, emit_affine)."""
    op = node.op_type
    ins = list(node.input)
    consts = [k for k, t in enumerate(ins) if b.is_value(t)]
    if not consts:
        if op not in ("Add", "Mul"):
            raise UnsupportedOpError(f"{b.v.where(i)}: {op} of two activations is not supported "
                                     "(only Add and Mul)")
        x, y = b.act(ins[0], i), b.act(ins[1], i)
        sx, sy = b.shapes[x], b.shapes[y]
        try:
            out = tuple(np.broadcast_shapes(sx, sy))
        except ValueError:
            raise ModelImportError(f"{b.v.where(i)}: shapes {sx} and {sy} do not "
                                   "broadcast") from None
        xs = [x, y]
        for k, s in enumerate((sx, sy)):  # same rank for the IR: leading 1s made explicit
            if len(s) < len(out):
                xs[k] = _aux(b, i, "Reshape", [xs[k]], (1,) * (len(out) - len(s)) + tuple(s),
                             suffix=f"rank{k}")
        b.emit(i, op, xs, out, {"activation": None} if op == "Add" else {})
        return
    k = 1 - consts[0]
    emit_const_binary(b, i, op, b.act(ins[k], i),
                      np.asarray(b.value(ins[consts[0]], i, "constant"), np.float64), k,
                      ins[k])


def emit_const_binary(b: Builder, i: int, op: str, x: str, c: np.ndarray, k: int,
                      source_x: str | None) -> None:
    """``op`` (Add, Sub, Mul, Div) of activation ``x`` (operand position k) and constant ``c``
    (already in the IR layout) as a per-channel affine (emit_affine)."""
    shape = b.shapes[x]
    if np.broadcast_shapes(c.shape, shape) != tuple(shape):
        raise UnsupportedOpError(f"{b.v.where(i)}: constant of shape {c.shape} would enlarge "
                                 f"the activation {shape}")
    vec = _channel_vector(b, i, c, shape, "constant")
    if vec is None:
        raise UnsupportedOpError(f"{b.v.where(i)}: constant operand varies over spatial "
                                 "positions; only per-channel or scalar constants")
    one, zero = np.ones_like(vec), np.zeros_like(vec)
    if op == "Add":
        scale, bias = one, vec
    elif op == "Sub":
        scale, bias = (one, -vec) if k == 0 else (-one, vec)
    elif op == "Mul":
        scale, bias = vec, zero
    elif k == 0:  # Div by a constant
        if np.any(vec == 0):
            raise ModelImportError(f"{b.v.where(i)}: division by a constant that holds 0")
        scale, bias = 1.0 / vec, zero
    else:
        raise UnsupportedOpError(f"{b.v.where(i)}: a constant divided by an activation is not "
                                 "supported")
    emit_affine(b, i, x, scale, bias, source_x)


def batchnorm_any(b: Builder, i: int, node, a: dict) -> None:
    """BatchNormalization: folded into its Conv/Gemm, else a per-channel affine."""
    x = b.act(node.input[0], i)
    gamma, beta, mean, var = (np.asarray(b.value(node.input[k], i, label), np.float64).ravel()
                              for k, label in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    n = b.shapes[x][1]
    if not all(v.size == n for v in (gamma, beta, mean, var)):
        raise ModelImportError(f"{b.v.where(i)}: parameters do not have {n} channels")
    s = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
    emit_affine(b, i, x, s, beta - mean * s, node.input[0])


def unary(b: Builder, i: int, node, a: dict) -> None:
    """Elementwise Sigmoid, HardSigmoid, HardSwish, Tanh, LeakyRelu (a LUT in integer)."""
    x = b.act(node.input[0], i)
    attrs = {k: float(a[k]) for k in ("alpha", "beta") if k in a}
    b.emit(i, node.op_type, [x], b.shapes[x], attrs)


def pad(b: Builder, i: int, node, a: dict) -> None:
    where = b.v.where(i)
    x = b.act(node.input[0], i)
    shape = b.shapes[x]
    r = len(shape)
    if a.get("mode", "constant") != "constant":
        raise UnsupportedOpError(f"{where}: mode {a.get('mode')!r}; only constant padding")
    if b.v.opset < 11:
        pads, value = list(a.get("pads", [])), float(a.get("value", 0.0))
    else:
        pads = [int(p) for p in np.asarray(b.value(node.input[1], i, "pads")).ravel()]
        v = b.optional_value(node, 2, i, "constant_value")
        value = 0.0 if v is None else float(np.asarray(v).ravel()[0])
        axes_v = b.optional_value(node, 3, i, "axes")
        if axes_v is not None:  # opset 18: pads only for the listed axes
            axes = [int(t) % r for t in np.asarray(axes_v).ravel()]
            full = [0] * (2 * r)
            for j, ax in enumerate(axes):
                full[ax], full[r + ax] = pads[j], pads[len(axes) + j]
            pads = full
    if len(pads) != 2 * r:
        raise ModelImportError(f"{where}: {len(pads)} pads for a rank-{r} input")
    begin, end = [int(p) for p in pads[:r]], [int(p) for p in pads[r:]]
    if min(begin + end) < 0:
        raise UnsupportedOpError(f"{where}: negative pads {pads} (cropping) are not supported")
    if begin[0] or end[0]:
        raise UnsupportedOpError(f"{where}: padding the batch axis is not supported")
    out = tuple(d + p + q for d, p, q in zip(shape, begin, end))
    b.emit(i, "Pad", [x], out, {"begin": begin, "end": end, "value": value})


def lrn(b: Builder, i: int, node, a: dict) -> None:
    x = b.act(node.input[0], i)
    _nchw(b, i, x)
    size = int(a["size"])
    if not 1 <= size <= 255:
        raise UnsupportedOpError(f"{b.v.where(i)}: size {size} out of [1, 255]")
    b.emit(i, "LRN", [x], b.shapes[x], {"size": size, "alpha": float(a.get("alpha", 1e-4)),
                                        "beta": float(a.get("beta", 0.75)),
                                        "k": float(a.get("bias", 1.0))})


def transpose(b: Builder, i: int, node, a: dict) -> None:
    x = b.act(node.input[0], i)
    shape = b.shapes[x]
    perm = [int(p) for p in a.get("perm", range(len(shape) - 1, -1, -1))]
    if sorted(perm) != list(range(len(shape))):
        raise ModelImportError(f"{b.v.where(i)}: perm {perm} is not a permutation of "
                               f"{len(shape)} axes")
    b.emit(i, "Transpose", [x], tuple(shape[p] for p in perm), {"perm": perm})


def squeeze_unsqueeze(b: Builder, i: int, node, a: dict) -> None:
    from .onnx_fold import FOLDERS

    x = b.act(node.input[0], i)
    axes_in = b.optional_value(node, 1, i, "axes")
    inputs = [np.zeros(b.shapes[x], np.int8), axes_in]
    out = FOLDERS[node.op_type](node, inputs, a)[0].shape  # the folder computes the shape
    b.emit(i, "Reshape", [x], tuple(out))


def reduce_mean(b: Builder, i: int, node, a: dict) -> None:
    """ReduceMean (and TFLite MEAN): a GlobalAveragePool over the reduced axes, after a Transpose
    that makes them the trailing ones and a Reshape to [1, kept, reduced, 1] when needed."""
    x = b.act(node.input[0], i)
    shape = b.shapes[x]
    axes_v = b.optional_value(node, 1, i, "axes")
    axes = ([int(t) for t in np.asarray(axes_v).ravel()] if axes_v is not None
            else list(a.get("axes", [])))
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            b.alias[node.output[0]] = x
            return
        axes = list(range(len(shape)))
    emit_mean(b, i, x, sorted({t % len(shape) for t in axes}), bool(a.get("keepdims", 1)))


def emit_mean(b: Builder, i: int, x: str, axes: list[int], keepdims: bool,
              aux: bool = False) -> str:
    """The mean over ``axes``; its last node writes the source node's output, or (aux) an
    intermediate tensor. Returns the IR tensor name."""
    def final(op, inputs, shape):
        if aux:
            return _aux(b, i, op, inputs, shape, suffix="mean")
        b.emit(i, op, inputs, shape)
        return b.v.nodes[i].output[0]

    shape = b.shapes[x]
    r = len(shape)
    out = tuple(1 if d in axes else n for d, n in enumerate(shape)) if keepdims else \
        tuple(n for d, n in enumerate(shape) if d not in axes)
    out = out or (1,)
    kept = [d for d in range(r) if d not in axes]
    red = int(np.prod([shape[d] for d in axes]))
    keep = int(np.prod([shape[d] for d in kept]))
    if red > 65536 or keep > 65535:
        raise UnsupportedOpError(f"{b.v.where(i)}: mean of {red} values per output for {keep} "
                                 "outputs exceeds the runtime's limits (65536, 65535)")
    if red == 1:  # nothing to average
        return final("Reshape", [x], out)
    if r == 4 and axes == [2, 3]:
        gap_in = x
    else:
        # the reduced axes that are not 1 must come after every kept axis that is not 1
        live = [d for d in range(r) if shape[d] != 1]
        order = [d for d in live if d not in axes] + [d for d in live if d in axes]
        cur = x
        if order != live:
            perm = [d for d in range(r) if d not in live] + order
            cur = _aux(b, i, "Transpose", [cur], tuple(shape[p] for p in perm), {"perm": perm})
        gap_in = _aux(b, i, "Reshape", [cur], (1, keep, red, 1), suffix="as_nchw")
    if out == (1, keep, 1, 1):
        return final("GlobalAveragePool", [gap_in], out)
    pooled = _aux(b, i, "GlobalAveragePool", [gap_in], (1, keep, 1, 1))
    return final("Reshape", [pooled], out)


def resize(b: Builder, i: int, node, a: dict) -> None:
    """Resize (opset 10+) and Upsample: nearest or (bi)linear over H, W of an NCHW tensor."""
    from ..resize import COORDS, NEAREST_MODES

    where = b.v.where(i)
    x = b.act(node.input[0], i)
    _, c, h, w = _nchw(b, i, x)
    mode = a.get("mode", "nearest")
    if node.op_type == "Upsample":
        coord, nm = "asymmetric", "floor"
        scales = (a["scales"] if "scales" in a and b.v.opset < 9
                  else b.value(node.input[1], i, "scales"))
        sizes = None
    else:
        coord = a.get("coordinate_transformation_mode",
                      "asymmetric" if b.v.opset < 11 else "half_pixel")
        nm = a.get("nearest_mode", "round_prefer_floor" if b.v.opset >= 11 else "floor")
        scale_k, size_k = (1, None) if b.v.opset < 11 else (2, 3)
        scales = b.optional_value(node, scale_k, i, "scales")
        sizes = b.optional_value(node, size_k, i, "sizes") if size_k else None
        if a.get("antialias", 0) or a.get("exclude_outside", 0) or "axes" in a:
            raise UnsupportedOpError(f"{where}: antialias / exclude_outside / axes are not "
                                     "supported")
    if mode not in ("nearest", "linear", "bilinear"):
        raise UnsupportedOpError(f"{where}: mode {mode!r}; only nearest and linear")
    mode = "linear" if mode == "bilinear" else mode
    if coord not in COORDS or nm not in NEAREST_MODES:
        raise UnsupportedOpError(f"{where}: coordinate_transformation_mode {coord!r} / "
                                 f"nearest_mode {nm!r} is not supported")
    if sizes is not None and np.size(sizes):
        sizes = [int(s) for s in np.asarray(sizes).ravel()]
        if len(sizes) != 4 or sizes[:2] != [1, c]:
            raise UnsupportedOpError(f"{where}: sizes {sizes} must keep N and C")
        out_hw, sc = (sizes[2], sizes[3]), None
    else:
        s = [float(v) for v in np.asarray(scales, np.float64).ravel()]
        if len(s) != 4 or s[:2] != [1.0, 1.0]:
            raise UnsupportedOpError(f"{where}: scales {s} must be 1 on N and C")
        out_hw, sc = (int(np.floor(h * s[2])), int(np.floor(w * s[3]))), (s[2], s[3])
    _check_out(b, i, out_hw)
    b.emit(i, "Resize", [x], (1, c, *out_hw),
           {"mode": mode, "coord": coord, "nearest_mode": nm, "scales": sc})


def softmax_any(b: Builder, i: int, node, a: dict) -> None:
    """Softmax over any axis: opset >= 13 moves the axis last with Transposes; older opsets
    flatten [axis:] with Reshapes (their definition)."""
    x = b.act(node.input[0], i)
    shape = b.shapes[x]
    r = len(shape)
    axis = int(a.get("axis", -1 if b.v.opset >= 13 else 1)) % r
    if axis == r - 1:
        b.emit(i, "Softmax", [x], shape, {"axis": -1})
        return
    if b.v.opset < 13:
        flat = (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))
        y = _aux(b, i, "Reshape", [x], flat, suffix="flat")
        y = _aux(b, i, "Softmax", [y], flat, {"axis": -1})
        b.emit(i, "Reshape", [y], shape)
        return
    perm = list(range(r))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    moved = tuple(shape[p] for p in perm)
    y = _aux(b, i, "Transpose", [x], moved, {"perm": perm}, suffix="to_last")
    y = _aux(b, i, "Softmax", [y], moved, {"axis": -1})
    b.emit(i, "Transpose", [y], shape, {"perm": perm})


def mean(b: Builder, i: int, node, a: dict) -> None:
    ins = [b.act(t, i) for t in node.input]
    if len(ins) == 1:
        b.alias[node.output[0]] = ins[0]
        return
    if len(ins) != 2 or b.shapes[ins[0]] != b.shapes[ins[1]]:
        raise UnsupportedOpError(f"{b.v.where(i)}: Mean of {len(ins)} inputs; only 1 or 2 "
                                 "activations of the same shape")
    b.emit(i, "Add", ins, b.shapes[ins[0]], {"activation": None, "alpha": 0.5})


CONVERTERS.update({
    "Add": binary, "Sub": binary, "Mul": binary, "Div": binary,
    "BatchNormalization": batchnorm_any,
    "Sigmoid": unary, "HardSigmoid": unary, "HardSwish": unary, "Tanh": unary,
    "LeakyRelu": unary, "Pad": pad, "LRN": lrn, "Transpose": transpose,
    "Squeeze": squeeze_unsqueeze, "Unsqueeze": squeeze_unsqueeze, "ReduceMean": reduce_mean,
    "Resize": resize, "Upsample": resize, "Softmax": softmax_any, "Mean": mean,
})
