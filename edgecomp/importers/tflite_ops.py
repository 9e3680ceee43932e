"""TFLite operators -> IR, one small converter (and support check) per builtin op.

Layout: a rank-4 TFLite activation is NHWC; its IR tensor is the NCHW permutation (what CONV
and the pools want). Every other rank keeps TFLite's order. Ops with an axis or a shape (MEAN,
CONCATENATION, PAD, SOFTMAX, RESHAPE, FULLY_CONNECTED, TRANSPOSE) translate it, inserting a
Transpose only where the two layouts differ in memory order.

Quantized models: weights are dequantized into the float IR (so the float executor and pruning
work) and the source's own quantization is attached: per-tensor activation scale / zero point
(``TfBuilder.qparams``, uint8 mapped to int8 by subtracting 128) and, per weighted node,
``attrs["given"]`` with the per-output-channel weight scales and the int32 bias. uint8 weights
are re-expressed as symmetric int8 (``w - zero_point``); a channel whose values do not fit in
[-127, 127] gets its own scale instead (counted in ``TfBuilder.requantized_channels``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import ir
from ..errors import ModelImportError, UnsupportedOpError
from .onnx_build import Builder
from .onnx_ops import _aux, emit_const_binary, emit_mean, pool_out
from .tflite_load import TfTensor, TfView

NHWC_TO_NCHW = (0, 3, 1, 2)   # IR axis d holds TFLite axis NHWC_TO_NCHW[d]
NCHW_TO_NHWC = (0, 2, 3, 1)
ACTIVATIONS = {0: None, 1: "relu", 2: ("clip", -1.0, 1.0), 3: "relu6"}
PADDING_SAME, PADDING_VALID = 0, 1


def ir_shape(tf_shape) -> tuple[int, ...]:
    s = tuple(int(d) for d in tf_shape)
    return (s[0], s[3], s[1], s[2]) if len(s) == 4 else s


def ir_axis(axis: int, rank: int) -> int:
    axis %= rank
    return NHWC_TO_NCHW.index(axis) if rank == 4 else axis


def same_memory_order(tf_shape) -> bool:
    """A rank-4 NHWC tensor whose NCHW permutation has the same byte order."""
    return len(tf_shape) != 4 or tf_shape[3] == 1 or tf_shape[1] * tf_shape[2] == 1


class TfBuilder(Builder):
    """The ONNX Builder's state over a TfView (same helpers), plus quantization bookkeeping."""

    def __init__(self, view: TfView) -> None:  # the ONNX Builder state, from a TfView
        self.v = view
        self.values = {n: t.data for n, t in view.tensors.items() if t.data is not None}
        x = view.tensors[view.input_name]
        self.shapes = {view.input_name: ir_shape(x.shape)}
        self.alias: dict[str, str] = {}
        self.nodes: list[ir.Node] = []
        self.constants: dict[str, np.ndarray] = {}
        self.producer: dict[str, ir.Node] = {}
        self._ir_names: set[str] = set()
        self.qparams: dict[str, tuple[float, int]] = {}
        self.requantized_channels = 0
        self.record_q(view.input_name)

    def t(self, name: str) -> TfTensor:
        return self.v.tensors[name]

    def record_q(self, name: str, into: str | None = None) -> None:
        t = self.t(name)
        if t.quantized:
            zp = int(t.zero_point[0]) - (128 if t.dtype == np.uint8 else 0)
            self.qparams[into or name] = (float(t.scale[0]), zp)

    def emit(self, i, op, inputs, shape, attrs=None, name=None):
        node = super().emit(i, op, inputs, shape, attrs, name)
        self.record_q(node.outputs[0])
        return node

    def retarget(self, node, old, new, i):
        super().retarget(node, old, new, i)
        self.record_q(new)  # a folded op's output carries the source's quantization

    def const(self, name: str, i: int, label: str) -> np.ndarray:
        """A constant input as float (dequantized when quantized)."""
        t = self.t(name) if name in self.v.tensors else None
        v = self.value(name, i, label)
        if t is not None and t.quantized and t.data is not None and v is t.data:
            return dequantize_const(t)
        return np.asarray(v, np.float64)


def dequantize_const(t: TfTensor) -> np.ndarray:
    q = t.data.astype(np.float64)
    scale, zp = t.scale.astype(np.float64), t.zero_point.astype(np.float64)
    if scale.size > 1:
        shape = [1] * q.ndim
        shape[t.quantized_dimension] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (q - zp) * scale


def _act(b: TfBuilder, i: int, opts: dict):
    f = int(opts.get("FusedActivationFunction", 0))
    if f not in ACTIVATIONS:
        raise UnsupportedOpError(f"{b.v.where(i)}: fused activation {f} is not supported "
                                 "(NONE, RELU, RELU_N1_TO_1, RELU6)")
    return ACTIVATIONS[f]


def _out(b: TfBuilder, i: int) -> str:
    return b.v.nodes[i].output[0]


def _tf_shape(b: TfBuilder, name: str) -> tuple[int, ...]:
    return tuple(int(d) for d in b.t(name).shape)


# -- layout moves -------------------------------------------------------------------------------
def to_tf_memory(b: TfBuilder, i: int, x: str, tf_shape) -> str:
    """An IR tensor with ``tf_shape``'s memory order: x itself, or a Transpose to NHWC."""
    if same_memory_order(tf_shape):
        return x
    return _aux(b, i, "Transpose", [x], tuple(tf_shape), {"perm": list(NCHW_TO_NHWC)},
                suffix="to_nhwc")


def emit_reshape(b: TfBuilder, i: int, x: str, tf_in, tf_out) -> None:
    """TFLite RESHAPE semantics (row-major over TFLite's layout) between IR tensors."""
    src = to_tf_memory(b, i, x, tf_in)
    if same_memory_order(tf_out):
        b.emit(i, "Reshape", [src], ir_shape(tf_out))
        return
    flat = _aux(b, i, "Reshape", [src], tuple(tf_out), suffix="nhwc")
    b.emit(i, "Transpose", [flat], ir_shape(tf_out), {"perm": list(NHWC_TO_NCHW)})


def _emit_with_act(b: TfBuilder, i: int, op: str, inputs, shape, attrs, act) -> None:
    """Ops without a fused-activation slot in the IR (pools): the activation as its own node."""
    if act is None:
        b.emit(i, op, inputs, shape, attrs)
        return
    y = _aux(b, i, op, inputs, shape, attrs)
    if act == "relu":
        b.emit(i, "Relu", [y], shape)
    else:
        lo, hi = (0.0, 6.0) if act == "relu6" else act[1:]
        b.emit(i, "Clip", [y], shape, {"min": lo, "max": hi})


# -- weighted ops -------------------------------------------------------------------------------
def _weights(b: TfBuilder, i: int, name: str, out_axis: int):
    """(float weights, per-output-channel given scales or None) of a weight tensor."""
    t = b.t(name)
    if t.data is None:
        raise UnsupportedOpError(f"{b.v.where(i)}: weight {name!r} is computed at run time")
    if not t.quantized:
        return t.data.astype(np.float64), None
    wf = dequantize_const(t)
    n = t.data.shape[out_axis]
    d = np.moveaxis(t.data.astype(np.int64), out_axis, 0).reshape(n, -1)
    zp = t.zero_point if t.zero_point.size > 1 else np.repeat(t.zero_point, n)
    sc = t.scale.astype(np.float64) if t.scale.size > 1 else np.repeat(
        t.scale.astype(np.float64), n)
    d = d - zp[:, None]
    scales = sc.copy()
    bad = np.abs(d).max(axis=1) > 127
    if np.any(bad):  # uint8 weights beyond int8: that channel gets its own symmetric scale
        wmax = np.abs(np.moveaxis(wf, out_axis, 0).reshape(n, -1)).max(axis=1)
        scales[bad] = np.float32(wmax[bad] / 127)
        b.requantized_channels += int(bad.sum())
    return wf, scales


def _given(b: TfBuilder, i: int, wname: str, bias_name: str, scales, bias_f):
    """attrs["given"] of a weighted node (None for float weights)."""
    if scales is None:
        return None
    bt = b.t(bias_name) if bias_name else None
    # the int32 bias is in units of s_in * s_w: valid only where the weight scale is the source's
    exact = np.array_equal(scales, _raw_scales(b.t(wname), len(scales)))
    bias_q = (bt.data.astype(np.int64).ravel() if bt is not None and exact
              and bt.dtype == np.int32 and bt.scale is not None else None)
    return {"weight_scale": np.asarray(scales, np.float64), "bias_q": bias_q,
            "bias_f": None if bias_f is None else np.asarray(bias_f, np.float32),
            "f32_product": b.t(b.v.nodes[i].input[0]).dtype == np.uint8}


def _raw_scales(t: TfTensor, n: int) -> np.ndarray:
    return (t.scale.astype(np.float64) if t.scale.size > 1
            else np.repeat(t.scale.astype(np.float64), n))


def _bias(b: TfBuilder, i: int, node, k: int, n: int):
    name = node.input[k] if len(node.input) > k else ""
    if not name:
        return "", None
    bt = b.t(name)
    if bt.data is None:
        raise UnsupportedOpError(f"{b.v.where(i)}: bias {name!r} is computed at run time")
    v = dequantize_const(bt) if bt.scale is not None and bt.scale.size else bt.data
    v = np.asarray(v, np.float64).ravel()
    if v.size != n:
        raise ModelImportError(f"{b.v.where(i)}: bias has {v.size} values, expected {n}")
    return name, v


def _window(b: TfBuilder, i: int, opts: dict, hw, k_eff, strides) -> tuple[int, int, int, int]:
    if opts.get("Padding", PADDING_SAME) == PADDING_VALID:
        return (0, 0, 0, 0)
    begin, end = [], []
    for n, k, s in zip(hw, k_eff, strides):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return (begin[0], begin[1], end[0], end[1])


def conv(b: TfBuilder, i: int, node, opts: dict) -> None:
    depthwise = node.op_type == "DEPTHWISE_CONV_2D"
    x = b.act(node.input[0], i)
    _, c, h, w = b.shapes[x]
    wf, scales = _weights(b, i, node.input[1], 3 if depthwise else 0)
    if wf.ndim != 4:
        raise ModelImportError(f"{b.v.where(i)}: filter has shape {wf.shape}, expected rank 4")
    if depthwise:  # [1, kh, kw, C * m] -> [C * m, 1, kh, kw], one group per input channel
        weight = wf.transpose(3, 0, 1, 2)
        group = c
        if weight.shape[0] % c:
            raise ModelImportError(f"{b.v.where(i)}: {weight.shape[0]} output channels are not "
                                   f"a multiple of the {c} input channels")
    else:          # [O, kh, kw, I] -> [O, I, kh, kw]
        weight = wf.transpose(0, 3, 1, 2)
        if c % weight.shape[1]:
            raise ModelImportError(f"{b.v.where(i)}: filter {wf.shape} does not fit {c} "
                                   "input channels")
        group = c // weight.shape[1]
    co, _, kh, kw = weight.shape
    strides = (int(opts.get("StrideH", 1)), int(opts.get("StrideW", 1)))
    dil = (int(opts.get("DilationHFactor", 1)), int(opts.get("DilationWFactor", 1)))
    k_eff = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
    pads = _window(b, i, opts, (h, w), k_eff, strides)
    ho = (h + pads[0] + pads[2] - k_eff[0]) // strides[0] + 1
    wo = (w + pads[1] + pads[3] - k_eff[1]) // strides[1] + 1
    bias_name, bias = _bias(b, i, node, 2, co)
    name = b.ir_name(i)
    attrs = {"weight": b.add_constant(f"{name}.weight", weight),
             "bias": b.add_constant(f"{name}.bias", bias) if bias is not None else None,
             "strides": strides, "pads": pads, "dilations": dil, "group": group,
             "activation": _act(b, i, opts)}
    given = _given(b, i, node.input[1], bias_name, scales, b.constants.get(attrs["bias"] or ""))
    if given is not None:
        attrs["given"] = given
    b.emit(i, "Conv", [x], (1, co, ho, wo), attrs, name=name)


def fully_connected(b: TfBuilder, i: int, node, opts: dict) -> None:
    if int(opts.get("WeightsFormat", 0)) != 0:
        raise UnsupportedOpError(f"{b.v.where(i)}: shuffled weights are not supported")
    x = b.act(node.input[0], i)
    wf, scales = _weights(b, i, node.input[1], 0)
    if wf.ndim != 2:
        raise ModelImportError(f"{b.v.where(i)}: weights have shape {wf.shape}, expected rank 2")
    n, k = wf.shape
    tf_in, tf_out = _tf_shape(b, node.input[0]), _tf_shape(b, _out(b, i))
    rows = int(np.prod(tf_in)) // k
    if rows * k != int(np.prod(tf_in)) or int(np.prod(tf_out)) != rows * n:
        raise ModelImportError(f"{b.v.where(i)}: input {tf_in} / output {tf_out} do not fit "
                               f"weights [{n}, {k}]")
    bias_name, bias = _bias(b, i, node, 2, n)
    name = b.ir_name(i)
    attrs = {"weight": b.add_constant(f"{name}.weight", wf),
             "bias": b.add_constant(f"{name}.bias", bias) if bias is not None else None,
             "activation": _act(b, i, opts)}
    given = _given(b, i, node.input[1], bias_name, scales, b.constants.get(attrs["bias"] or ""))
    if given is not None:
        attrs["given"] = given
    src = to_tf_memory(b, i, x, tf_in)
    if rows > 1:
        # every row through the same weights: a 1x1 CONV over [1, K, rows, 1] (K-major bytes)
        t = _aux(b, i, "Reshape", [src], (1, rows, k), suffix="rows")
        t = _aux(b, i, "Transpose", [t], (1, k, rows), {"perm": [0, 2, 1]}, suffix="k_major")
        t = _aux(b, i, "Reshape", [t], (1, k, rows, 1), suffix="as_nchw")
        attrs.update({"weight": b.add_constant(f"{name}.weight", wf.reshape(n, k, 1, 1)),
                      "strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1),
                      "group": 1})
        t = _aux(b, i, "Conv", [t], (1, n, rows, 1), attrs)
        t = _aux(b, i, "Reshape", [t], (1, n, rows), suffix="n_major")
        t = _aux(b, i, "Transpose", [t], (1, rows, n), {"perm": [0, 2, 1]}, suffix="row_major")
        emit_reshape(b, i, t, (1, rows, n), tf_out)
        return
    if b.shapes[src] != (1, k):
        src = _aux(b, i, "Reshape", [src], (1, k), suffix="rows")
    if len(tf_out) == 2:
        b.emit(i, "Gemm", [src], (1, n), attrs, name=name)
    else:  # keep_num_dims: the row, then a view of the same bytes
        emit_reshape(b, i, _aux(b, i, "Gemm", [src], (1, n), attrs), (1, n), tf_out)


def pool(b: TfBuilder, i: int, node, opts: dict) -> None:
    x = b.act(node.input[0], i)
    _, c, h, w = b.shapes[x]
    kernel = (int(opts["FilterHeight"]), int(opts["FilterWidth"]))
    strides = (int(opts.get("StrideH", 1)), int(opts.get("StrideW", 1)))
    pads = _window(b, i, opts, (h, w), kernel, strides)
    ho = pool_out(h, kernel[0], strides[0], pads[0], pads[2], 0)
    wo = pool_out(w, kernel[1], strides[1], pads[1], pads[3], 0)
    op = "MaxPool" if node.op_type == "MAX_POOL_2D" else "AveragePool"
    attrs = {"kernel": kernel, "strides": strides, "pads": pads, "ceil_mode": 0,
             "count_include_pad": 0}
    _emit_with_act(b, i, op, [x], (1, c, ho, wo), attrs, _act(b, i, opts))


# -- elementwise --------------------------------------------------------------------------------
def _to_rank(b: TfBuilder, i: int, x: str, tf_shape, rank: int, k: int) -> str:
    """Left-pad an activation with 1s to ``rank`` (TFLite broadcasting), in the IR layout."""
    if len(tf_shape) == rank:
        return x
    padded = (1,) * (rank - len(tf_shape)) + tuple(tf_shape)
    if rank != 4:
        return _aux(b, i, "Reshape", [x], padded, suffix=f"rank{k}")
    nhwc = _aux(b, i, "Reshape", [x], padded, suffix=f"rank{k}")
    if same_memory_order(padded):
        b.shapes[nhwc] = ir_shape(padded)
        return nhwc
    return _aux(b, i, "Transpose", [nhwc], ir_shape(padded), {"perm": list(NHWC_TO_NCHW)},
                suffix=f"rank{k}_nchw")


def binary(b: TfBuilder, i: int, node, opts: dict) -> None:
    op = {"ADD": "Add", "MUL": "Mul", "SUB": "Sub", "DIV": "Div"}[node.op_type]
    act = _act(b, i, opts)
    ins = node.input[:2]
    consts = [k for k, t in enumerate(ins) if b.is_value(t)]
    out_tf = _tf_shape(b, _out(b, i))
    if not consts:
        if op not in ("Add", "Mul"):
            raise UnsupportedOpError(f"{b.v.where(i)}: {node.op_type} of two activations is "
                                     "not supported (only ADD and MUL)")
        xs = [_to_rank(b, i, b.act(t, i), _tf_shape(b, t), len(out_tf), k)
              for k, t in enumerate(ins)]
        b.emit(i, op, xs, ir_shape(out_tf), {"activation": act})
        return
    k = 1 - consts[0]
    x = b.act(ins[k], i)
    c = b.const(ins[consts[0]], i, "constant")
    rank = len(b.shapes[x])
    c = c.reshape((1,) * (rank - c.ndim) + c.shape) if c.ndim < rank else c
    if rank == 4 and c.ndim == 4:
        c = c.transpose(NHWC_TO_NCHW)
    emit_const_binary(b, i, op, x, c, k, ins[k])
    if act is not None:
        layer = b.producer[_out(b, i)]
        if layer.attrs.get("activation") is not None:
            raise UnsupportedOpError(f"{b.v.where(i)}: a fused activation after a folded "
                                     "activation")
        layer.attrs["activation"] = act


def unary(b: TfBuilder, i: int, node, opts: dict) -> None:
    x = b.act(node.input[0], i)
    shape = b.shapes[x]
    t = node.op_type
    if t == "RELU":
        b.emit(i, "Relu", [x], shape)
    elif t in ("RELU6", "RELU_N1_TO_1", "RELU_0_TO_1"):
        lo, hi = {"RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0), "RELU_0_TO_1": (0.0, 1.0)}[t]
        b.emit(i, "Clip", [x], shape, {"min": lo, "max": hi})
    elif t == "LEAKY_RELU":
        b.emit(i, "LeakyRelu", [x], shape, {"alpha": float(opts.get("Alpha", 0.2))})
    else:
        b.emit(i, {"LOGISTIC": "Sigmoid", "HARD_SWISH": "HardSwish", "TANH": "Tanh"}[t], [x],
               shape)


def quantize(b: TfBuilder, i: int, node, opts: dict) -> None:
    """float -> int (the model's input step: the IR input takes the output's quantization) or
    int -> int (a requantization)."""
    src, out = b.t(node.input[0]), _out(b, i)
    x = b.act(node.input[0], i)
    if not src.quantized:
        b.alias[out] = x
        b.record_q(out, x)
        return
    b.emit(i, "Requantize", [x], b.shapes[x])


def dequantize(b: TfBuilder, i: int, node, opts: dict) -> None:
    name = node.input[0]
    if b.is_value(name):  # float16 / int8 weights stored compressed: fold
        b.values[_out(b, i)] = b.const(name, i, "input").astype(np.float32)
        return
    b.alias[_out(b, i)] = b.act(name, i)  # the edgecomp output is int8 with its own scale


# -- shape and axis ops -------------------------------------------------------------------------
def reshape(b: TfBuilder, i: int, node, opts: dict) -> None:
    x = b.act(node.input[0], i)
    tf_in, tf_out = _tf_shape(b, node.input[0]), _tf_shape(b, _out(b, i))
    if int(np.prod(tf_in)) != int(np.prod(tf_out)) or min(tf_out, default=1) < 1:
        raise ModelImportError(f"{b.v.where(i)}: cannot reshape {tf_in} to {tf_out}")
    emit_reshape(b, i, x, tf_in, tf_out)


def concatenation(b: TfBuilder, i: int, node, opts: dict) -> None:
    if _act(b, i, opts) is not None:
        raise UnsupportedOpError(f"{b.v.where(i)}: a fused activation on CONCATENATION")
    xs = [b.act(t, i) for t in node.input]
    tf_out = _tf_shape(b, _out(b, i))
    axis = ir_axis(int(opts.get("Axis", 0)), len(tf_out))
    if axis == 0:
        raise UnsupportedOpError(f"{b.v.where(i)}: concatenation along the batch axis")
    b.emit(i, "Concat", xs, ir_shape(tf_out), {"axis": axis})


def softmax(b: TfBuilder, i: int, node, opts: dict) -> None:
    x = b.act(node.input[0], i)
    shape = b.shapes[x]
    attrs = {"axis": -1, "beta": float(opts.get("Beta", 1.0))}
    if len(shape) != 4:
        b.emit(i, "Softmax", [x], shape, attrs)
        return
    tf = _tf_shape(b, node.input[0])
    if tf[1] * tf[2] == 1:
        y = _aux(b, i, "Reshape", [x], (1, tf[3]), suffix="rows")
        y = _aux(b, i, "Softmax", [y], (1, tf[3]), attrs)
        b.emit(i, "Reshape", [y], shape)
        return
    y = _aux(b, i, "Transpose", [x], tf, {"perm": list(NCHW_TO_NHWC)}, suffix="to_nhwc")
    y = _aux(b, i, "Softmax", [y], tf, attrs)
    b.emit(i, "Transpose", [y], shape, {"perm": list(NHWC_TO_NCHW)})


def mean(b: TfBuilder, i: int, node, opts: dict) -> None:
    x = b.act(node.input[0], i)
    tf_in = _tf_shape(b, node.input[0])
    axes = sorted({ir_axis(int(a), len(tf_in))
                   for a in np.asarray(b.value(node.input[1], i, "axes")).ravel()})
    keep = bool(opts.get("KeepDims", False))
    if keep or len(tf_in) != 4:
        emit_mean(b, i, x, axes, keep)
        return
    m = emit_mean(b, i, x, axes, True, aux=True)  # NCHW with 1s, then TFLite's squeeze
    kept_tf = tuple(1 if d in [NHWC_TO_NCHW[a] for a in axes] else n
                    for d, n in enumerate(tf_in))
    emit_reshape(b, i, m, kept_tf, _tf_shape(b, _out(b, i)))


def pad(b: TfBuilder, i: int, node, opts: dict) -> None:
    x = b.act(node.input[0], i)
    p = np.asarray(b.value(node.input[1], i, "paddings"), np.int64).reshape(-1, 2)
    r = len(b.shapes[x])
    if p.shape[0] != r or p.min() < 0 or p[0].any():
        raise UnsupportedOpError(f"{b.v.where(i)}: paddings {p.tolist()} (non-negative, none on "
                                 "the batch axis) do not fit the input")
    if r == 4:
        p = p[list(NHWC_TO_NCHW)]
    value = 0.0
    if node.op_type == "PADV2" and len(node.input) > 2 and node.input[2]:
        value = float(np.asarray(b.const(node.input[2], i, "constant_values")).ravel()[0])
    elif b.t(node.input[0]).quantized:
        value = 0.0  # TFLite pads a quantized tensor with its zero point, i.e. real 0
    b.emit(i, "Pad", [x], tuple(int(d + lo + hi) for d, (lo, hi) in zip(b.shapes[x], p)),
           {"begin": [int(v) for v in p[:, 0]], "end": [int(v) for v in p[:, 1]],
            "value": value})


def transpose(b: TfBuilder, i: int, node, opts: dict) -> None:
    x = b.act(node.input[0], i)
    perm = [int(v) for v in np.asarray(b.value(node.input[1], i, "perm")).ravel()]
    r = len(perm)
    if sorted(perm) != list(range(r)):
        raise ModelImportError(f"{b.v.where(i)}: perm {perm} is not a permutation")
    lin = NHWC_TO_NCHW if r == 4 else tuple(range(r))   # IR axis -> TFLite axis, input
    lout = lin                                            # output has the same rank
    inv_in = [lin.index(a) for a in range(r)]             # TFLite axis -> IR axis
    ir_perm = [inv_in[perm[lout[d]]] for d in range(r)]
    b.emit(i, "Transpose", [x], ir_shape(_tf_shape(b, _out(b, i))), {"perm": ir_perm})


def resize(b: TfBuilder, i: int, node, opts: dict) -> None:
    x = b.act(node.input[0], i)
    _, c, h, w = b.shapes[x]
    size = [int(v) for v in np.asarray(b.value(node.input[1], i, "size")).ravel()]
    align, half = bool(opts.get("AlignCorners", False)), bool(opts.get("HalfPixelCenters", False))
    if node.op_type == "RESIZE_BILINEAR":
        attrs = {"mode": "linear", "coord": "align_corners" if align else
                 "half_pixel" if half else "asymmetric"}
    else:
        attrs = {"mode": "nearest",
                 "coord": "align_corners" if align else
                 "tf_half_pixel_for_nn" if half else "asymmetric",
                 "nearest_mode": "round_prefer_ceil" if align else "floor"}
    b.emit(i, "Resize", [x], (1, c, size[0], size[1]), attrs)


Converter = Callable[[TfBuilder, int, object, dict], None]
CONVERTERS: dict[str, Converter] = {
    "CONV_2D": conv, "DEPTHWISE_CONV_2D": conv, "FULLY_CONNECTED": fully_connected,
    "AVERAGE_POOL_2D": pool, "MAX_POOL_2D": pool,
    "ADD": binary, "MUL": binary, "SUB": binary, "DIV": binary,
    "CONCATENATION": concatenation, "RESHAPE": reshape, "SQUEEZE": reshape,
    "EXPAND_DIMS": reshape, "SOFTMAX": softmax, "MEAN": mean, "PAD": pad, "PADV2": pad,
    "HARD_SWISH": unary, "LOGISTIC": unary, "TANH": unary, "RELU": unary, "RELU6": unary,
    "RELU_N1_TO_1": unary, "RELU_0_TO_1": unary, "LEAKY_RELU": unary,
    "QUANTIZE": quantize, "DEQUANTIZE": dequantize, "TRANSPOSE": transpose,
    "RESIZE_BILINEAR": resize, "RESIZE_NEAREST_NEIGHBOR": resize,
}
