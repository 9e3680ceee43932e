"""The numpy integer reference executor: the executable spec of docs/format.md section 5.

Every C kernel, optimized or not, on any architecture, must reproduce these bytes. Arithmetic is
exact: int64 everywhere, and matrix products in float64, which is exact here because every
partial sum is an integer below 2^53 (|x - zx| <= 255, |w| <= 127, K < 2^37).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import ShapeError
from .packed.model import RESIZE_NEAREST, RESIZE_ONE, QModel, QNode, QTensor

INT8_MIN, INT8_MAX = -128, 127


def rshift_round(v: np.ndarray, n) -> np.ndarray:
    """(v + 2^(n-1)) >> n with an arithmetic shift: halves round towards +infinity."""
    v = np.asarray(v, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    return (v + (np.int64(1) << (n - 1))) >> n


def rdiv(v: np.ndarray, d) -> np.ndarray:
    """floor((2v + d) / (2d)) for d > 0: division rounding halves towards +infinity."""
    v = np.asarray(v, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    return (2 * v + d) // (2 * d)


def clamp(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(v, lo, hi).astype(np.int8)


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, zero_point: int,
               lo: int, hi: int, channel_axis: int) -> np.ndarray:
    """Per-channel fixed-point requantization of an int32 accumulator."""
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    m = multiplier.astype(np.int64).reshape(shape)
    s = shift.astype(np.int64).reshape(shape)
    return clamp(zero_point + rshift_round(acc.astype(np.int64) * m, s), lo, hi)


def _windows(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, pads, fill, out_hw,
             dil=(1, 1)) -> np.ndarray:
    """[C, H, W] -> [C, Ho, Wo, kh, kw] windows over x padded with ``fill`` (enough on the
    bottom/right for ceil-mode windows)."""
    pt, pl, pb, pr = pads
    ho, wo = out_hw
    dh, dw = dil
    ext_h, ext_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    need_h = (ho - 1) * sh + ext_h
    need_w = (wo - 1) * sw + ext_w
    c, h, w = x.shape
    padded = np.full((c, max(need_h, h + pt + pb), max(need_w, w + pl + pr)), fill, x.dtype)
    padded[:, pt:pt + h, pl:pl + w] = x
    win = sliding_window_view(padded, (ext_h, ext_w), axis=(1, 2))
    return win[:, :(ho - 1) * sh + 1:sh, :(wo - 1) * sw + 1:sw, ::dh, ::dw]


def _conv(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    xt, yt = _io(model, node)
    kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, g, lo, hi = node.params
    _, c, _, _ = xt.shape
    _, co, ho, wo = yt.shape
    xs = x[0].astype(np.int64) - xt.zero_point
    # padding positions hold zx, i.e. contribute 0 after subtracting it
    win = _windows(xs, kh, kw, sh, sw, (pt, pl, pb, pr), 0, (ho, wo), (dh, dw))
    cg, cog = c // g, co // g
    cols = win.reshape(g, cg, ho, wo, kh, kw).transpose(0, 2, 3, 1, 4, 5)
    cols = cols.reshape(g, ho * wo, cg * kh * kw).astype(np.float64)
    w = node.weights.reshape(g, cog, cg * kh * kw).astype(np.float64)
    acc = np.matmul(w, cols.transpose(0, 2, 1)).reshape(co, ho, wo)  # exact, see module doc
    acc = acc.astype(np.int64) + node.bias.astype(np.int64)[:, None, None]
    return requantize(acc, node.multiplier, node.shift, yt.zero_point, lo, hi, 0)[None]


def _fc(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    xt, yt = _io(model, node)
    lo, hi = node.params
    xs = (x.reshape(-1).astype(np.int64) - xt.zero_point).astype(np.float64)
    acc = (node.weights.astype(np.float64) @ xs).astype(np.int64) + node.bias
    return requantize(acc, node.multiplier, node.shift, yt.zero_point, lo, hi, 0)[None]


def _maxpool(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    _, yt = _io(model, node)
    kh, kw, sh, sw, pt, pl, pb, pr = node.params
    win = _windows(x[0].astype(np.int16), kh, kw, sh, sw, (pt, pl, pb, pr), -1000, yt.shape[2:])
    return win.max(axis=(3, 4)).astype(np.int8)[None]


def _avgpool(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    xt, yt = _io(model, node)
    kh, kw, sh, sw, pt, pl, pb, pr, include_pad, m, s = node.params
    ho, wo = yt.shape[2:]
    h, w = xt.shape[2:]
    xs = x[0].astype(np.int64) - xt.zero_point
    acc = _windows(xs, kh, kw, sh, sw, (pt, pl, pb, pr), 0, (ho, wo)).sum(axis=(3, 4))
    if include_pad:
        # positions of the window inside the padded input (ceil-mode windows may reach past it)
        rows = np.arange(ho) * sh - pt
        cols = np.arange(wo) * sw - pl
        count = ((np.minimum(rows + kh, h + pb) - rows)[:, None]
                 * (np.minimum(cols + kw, w + pr) - cols)[None, :])[None]
    else:
        ones = np.ones((1, h, w), np.int64)
        count = _windows(ones, kh, kw, sh, sw, (pt, pl, pb, pr), 0, (ho, wo)).sum(axis=(3, 4))
    y = yt.zero_point + rdiv(acc * m, count.astype(np.int64) << s)
    return clamp(y, INT8_MIN, INT8_MAX)[None]


def _globalavgpool(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    xt, yt = _io(model, node)
    m, s = node.params
    h, w = xt.shape[2:]
    acc = (x[0].astype(np.int64) - xt.zero_point).sum(axis=(1, 2))
    y = yt.zero_point + rdiv(acc * m, np.int64(h * w) << s)
    return clamp(y, INT8_MIN, INT8_MAX).reshape(yt.shape)


def _add(model: QModel, node: QNode, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    at, bt = (model.tensors[i] for i in node.inputs)
    yt = model.tensors[node.outputs[0]]
    ma, mb, s, lo, hi = node.params
    acc = (a.astype(np.int64) - at.zero_point) * ma + (b.astype(np.int64) - bt.zero_point) * mb
    return clamp(yt.zero_point + rshift_round(acc, s), lo, hi)


def _concat(model: QModel, node: QNode, *xs: np.ndarray) -> np.ndarray:
    yt = model.tensors[node.outputs[0]]
    axis = node.params[0]
    parts = []
    for j, (t, x) in enumerate(zip(node.inputs, xs)):
        m, s = node.params[1 + 2 * j], node.params[2 + 2 * j]
        zx = model.tensors[t].zero_point
        parts.append(clamp(yt.zero_point + rshift_round((x.astype(np.int64) - zx) * m, s),
                           INT8_MIN, INT8_MAX))
    return np.concatenate(parts, axis=axis)


def _clamp(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    lo, hi = node.params
    return clamp(x, lo, hi)


def _softmax(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    xi = x.astype(np.int64)
    mx = xi.max(axis=-1, keepdims=True)
    e = node.exp_table.astype(np.int64)[mx - xi]
    total = e.sum(axis=-1, keepdims=True)
    return clamp(rdiv(e * 256, total) - 128, INT8_MIN, INT8_MAX)


def _reshape(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    return x.reshape(model.tensors[node.outputs[0]].shape)


# -- ops of format 1.1 ---------------------------------------------------------------------------
def _lut(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    return node.table.astype(np.int8)[x.astype(np.int64) + 128]


def _mul(model: QModel, node: QNode, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    at, bt = (model.tensors[i] for i in node.inputs)
    yt = model.tensors[node.outputs[0]]
    m, s, lo, hi = node.params
    prod = (a.astype(np.int64) - at.zero_point) * (b.astype(np.int64) - bt.zero_point)
    return clamp(yt.zero_point + rshift_round(prod * m, s), lo, hi)


def _expand(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(x, model.tensors[node.outputs[0]].shape))


def _pad(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    p = node.params
    widths = [(p[d], p[4 + d]) for d in range(x.ndim)]
    return np.pad(x, widths, constant_values=np.int8(p[8]))


def _lrn(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    xt, yt = _io(model, node)
    size, acc_shift, s = node.params
    xs = x[0].astype(np.int64) - xt.zero_point            # [C, H, W]
    sq = np.concatenate([np.zeros((1,) + xs.shape[1:], np.int64), np.cumsum(xs * xs, axis=0)])
    c = xs.shape[0]
    lo = np.maximum(np.arange(c) - (size - 1) // 2, 0)   # window [c - (size-1)//2, c + size//2]
    hi = np.minimum(np.arange(c) + size // 2, c - 1) + 1
    acc = sq[hi] - sq[lo]
    t = np.minimum(acc >> acc_shift, node.table.size - 1)
    m = node.table.astype(np.int64)[t]
    return clamp(yt.zero_point + rshift_round(xs * m, s), INT8_MIN, INT8_MAX)[None]


def _resize(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    xt, yt = _io(model, node)
    mode, m, s = node.params
    ho, wo = yt.shape[2:]
    rows = node.table[:3 * ho].reshape(ho, 3).astype(np.int64)
    cols = node.table[3 * ho:].reshape(wo, 3).astype(np.int64)
    if mode == RESIZE_NEAREST:
        return x[:, :, rows[:, 0]][:, :, :, cols[:, 0]]
    xs = x[0].astype(np.int64) - xt.zero_point
    wy = np.stack([RESIZE_ONE - rows[:, 2], rows[:, 2]])  # [2, Ho]
    wx = np.stack([RESIZE_ONE - cols[:, 2], cols[:, 2]])  # [2, Wo]
    acc = np.zeros((xs.shape[0], ho, wo), np.int64)
    for a in range(2):
        for b in range(2):
            tap = xs[:, rows[:, a]][:, :, cols[:, b]]
            acc += tap * (wy[a][:, None] * wx[b][None, :])
    return clamp(yt.zero_point + rshift_round(acc * m, s), INT8_MIN, INT8_MAX)[None]


def _transpose(model: QModel, node: QNode, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, node.params[:x.ndim]))


def _io(model: QModel, node: QNode) -> tuple[QTensor, QTensor]:
    return model.tensors[node.inputs[0]], model.tensors[node.outputs[0]]


KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "CONV": _conv, "FC": _fc, "MAXPOOL": _maxpool, "AVGPOOL": _avgpool,
    "GLOBALAVGPOOL": _globalavgpool, "ADD": _add, "CONCAT": _concat, "CLAMP": _clamp,
    "SOFTMAX": _softmax, "RESHAPE": _reshape,
    "LUT": _lut, "MUL": _mul, "EXPAND": _expand, "PAD": _pad, "LRN": _lrn, "RESIZE": _resize,
    "TRANSPOSE": _transpose,
}


def quantize_input(model: QModel, x: np.ndarray) -> np.ndarray:
    """float -> int8 with the input's scale and zero point (round half to even, saturate)."""
    t = model.input
    q = np.round(np.asarray(x, dtype=np.float32) / np.float32(t.scale)) + t.zero_point
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(t: QTensor, q: np.ndarray) -> np.ndarray:
    return (np.asarray(q, np.float32) - t.zero_point) * np.float32(t.scale)


def run_int(model: QModel, x: np.ndarray, keep_all: bool = False) -> dict[int, np.ndarray]:
    """Run one int8 input ([1, ...] of the input shape); return {tensor index: int8 array} for
    the outputs (or every tensor with keep_all)."""
    t = model.input
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise ShapeError(f"input {t.name!r}: dtype {x.dtype} given, int8 expected "
                         "(quantize float inputs with quantize_input)")
    if tuple(x.shape) != tuple(t.shape):
        raise ShapeError(f"input {t.name!r}: shape {tuple(x.shape)} given, {t.shape} expected")
    values: dict[int, np.ndarray] = {model.inputs[0]: x}
    for node in model.nodes:
        args = [values[i] for i in node.inputs]
        values[node.outputs[0]] = KERNELS[node.op](model, node, *args)
    if keep_all:
        return values
    return {i: values[i] for i in model.outputs}


def run_int_batch(model: QModel, x: np.ndarray) -> np.ndarray:
    """[N, ...] int8 -> [N, ...] int8 of output 0, one sample at a time."""
    out = model.outputs[0]
    return np.concatenate([run_int(model, x[i:i + 1])[out] for i in range(len(x))])
