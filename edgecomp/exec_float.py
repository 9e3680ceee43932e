"""Numpy float32 reference executor for the IR (checked against onnxruntime in the tests).

    outputs = run_float(graph, x)                   # {output name: array}
    everything = run_float(graph, x, keep_all=True) # every tensor, graph input included

``x`` is ``[N, ...]`` with the graph input's shape after the batch dim; N > 1 runs the batch in
one go (every IR tensor carries the batch as its leading dim 1). A graph with a tensor whose
leading dim is not the batch (a Reshape to ``[C, H*W]``, say) runs one sample at a time and
stacks those tensors' results along a new leading axis.

One plain function per op in ``KERNELS``. Convolution is im2col (a strided view, copied in
chunks of at most ``_IM2COL_BYTES``) times the weight matrix per group; pools sum/max over the
kernel offsets of the padded input; windows are clipped to the padded input (docs/format.md 5).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .errors import GraphError, ShapeError
from .ir import Graph, Node

Kernel = Callable[[Graph, Node, list, tuple], np.ndarray]
_IM2COL_BYTES = 64 << 20  # cap on the im2col buffer, so big batches do not blow up memory


def apply_activation(y: np.ndarray, act, where: str = "") -> np.ndarray:
    if act is None:
        return y
    if act == "relu":
        return np.maximum(y, np.float32(0))
    if act == "relu6":
        return np.clip(y, np.float32(0), np.float32(6))
    if isinstance(act, (tuple, list)) and len(act) == 3 and act[0] == "clip":
        lo = -np.inf if act[1] is None else act[1]
        hi = np.inf if act[2] is None else act[2]
        return np.clip(y, np.float32(lo), np.float32(hi)).astype(np.float32)
    raise GraphError(f"{where}: unknown fused activation {act!r}")


def _conv(g: Graph, node: Node, ins: list, out_shape: tuple) -> np.ndarray:
    x = ins[0]
    a = node.attrs
    w = g.constants[a["weight"]]
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    group = a.get("group", 1)
    sh, sw = a.get("strides", (1, 1))
    dh, dw = a.get("dilations", (1, 1))
    pt, pl, pb, pr = a.get("pads", (0, 0, 0, 0))
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    if (co, ho, wo) != tuple(out_shape[1:]):
        raise GraphError(f"node {node.name!r}: Conv computes [{co}, {ho}, {wo}] but the output "
                         f"tensor says {list(out_shape[1:])}")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    s = xp.strides
    # View [N, C, kh, kw, Ho, Wo]: element (ky, kx, oy, ox) is xp[oy*sh + ky*dh, ox*sw + kx*dw].
    view = as_strided(xp, (n, c, kh, kw, ho, wo),
                      (s[0], s[1], s[2] * dh, s[3] * dw, s[2] * sh, s[3] * sw), writeable=False)
    wg = w.reshape(group, co // group, cg * kh * kw)
    y = np.empty((n, co, ho, wo), dtype=np.float32)
    per_sample = c * kh * kw * ho * wo * 4
    step = max(1, _IM2COL_BYTES // max(per_sample, 1))
    for i in range(0, n, step):
        cols = view[i:i + step].reshape(-1, group, cg * kh * kw, ho * wo)
        y[i:i + step] = np.matmul(wg, cols).reshape(-1, co, ho, wo)
    if a.get("bias"):
        y += g.constants[a["bias"]].reshape(1, co, 1, 1)
    return y


def _gemm(g: Graph, node: Node, ins: list, out_shape: tuple) -> np.ndarray:
    w = g.constants[node.attrs["weight"]]
    y = ins[0] @ w.T
    if node.attrs.get("bias"):
        y = y + g.constants[node.attrs["bias"]]
    return y


def _pool_geometry(node: Node, x: np.ndarray, out_shape: tuple):
    a = node.attrs
    kh, kw = a["kernel"]
    sh, sw = a.get("strides", (1, 1))
    pt, pl, pb, pr = a.get("pads", (0, 0, 0, 0))
    ho, wo = out_shape[2], out_shape[3]
    # Extra end padding so every window (ceil_mode may run past the padded input) is in range.
    eb = max(0, (ho - 1) * sh + kh - (x.shape[2] + pt + pb))
    er = max(0, (wo - 1) * sw + kw - (x.shape[3] + pl + pr))
    return kh, kw, sh, sw, pt, pl, pb, pr, ho, wo, eb, er


def _window_sum(xp: np.ndarray, kh, kw, sh, sw, ho, wo, reduce) -> np.ndarray:
    y = None
    for ky in range(kh):
        for kx in range(kw):
            part = xp[:, :, ky:ky + sh * (ho - 1) + 1:sh, kx:kx + sw * (wo - 1) + 1:sw]
            y = part.copy() if y is None else reduce(y, part, out=y)
    return y


def _maxpool(g: Graph, node: Node, ins: list, out_shape: tuple) -> np.ndarray:
    x = ins[0]
    kh, kw, sh, sw, pt, pl, pb, pr, ho, wo, eb, er = _pool_geometry(node, x, out_shape)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb + eb), (pl, pr + er)), constant_values=-np.inf)
    return _window_sum(xp, kh, kw, sh, sw, ho, wo, np.maximum)


def _counts(n: int, k: int, s: int, p0: int, p1: int, out: int, include_pad: bool) -> np.ndarray:
    """Per output position: how many input (or padded-input) positions its window covers."""
    start = np.arange(out) * s - p0
    lo, hi = (-p0, n + p1) if include_pad else (0, n)
    return np.minimum(start + k, hi) - np.maximum(start, lo)


def _avgpool(g: Graph, node: Node, ins: list, out_shape: tuple) -> np.ndarray:
    x = ins[0]
    kh, kw, sh, sw, pt, pl, pb, pr, ho, wo, eb, er = _pool_geometry(node, x, out_shape)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb + eb), (pl, pr + er)))
    total = _window_sum(xp, kh, kw, sh, sw, ho, wo, np.add)
    cip = bool(node.attrs.get("count_include_pad", 0))
    count = np.outer(_counts(x.shape[2], kh, sh, pt, pb, ho, cip),
                     _counts(x.shape[3], kw, sw, pl, pr, wo, cip))
    return total / np.maximum(count, 1).astype(np.float32)


def _softmax(g: Graph, node: Node, ins: list, out_shape: tuple) -> np.ndarray:
    beta = np.float32(node.attrs.get("beta", 1.0))
    e = np.exp((ins[0] - ins[0].max(axis=-1, keepdims=True)) * beta)
    return e / e.sum(axis=-1, keepdims=True)


# -- ops added with format 1.1 -------------------------------------------------------------------
def _hard_sigmoid(x, a):
    return np.clip(x * a.get("alpha", 0.2) + a.get("beta", 0.5), 0, 1)


# Elementwise functions of one input, f(x, attrs); the quantizer tabulates the same functions
# into LUTs (docs/format.md 5), so float and integer paths share one definition.
ELEMENTWISE: dict[str, Callable[[np.ndarray, dict], np.ndarray]] = {
    "Sigmoid": lambda x, a: 1 / (1 + np.exp(-x)),
    "HardSigmoid": _hard_sigmoid,
    "HardSwish": lambda x, a: x * np.clip(x / 6 + 0.5, 0, 1),
    "Tanh": lambda x, a: np.tanh(x),
    "LeakyRelu": lambda x, a: np.where(x >= 0, x, x * a.get("alpha", 0.01)),
    "Affine": lambda x, a: x * a.get("scale", 1.0) + a.get("offset", 0.0),
}


def _elementwise(g: Graph, node: Node, ins: list, out_shape: tuple) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp overflow in Sigmoid saturates correctly to 0
        return ELEMENTWISE[node.op](ins[0], node.attrs).astype(np.float32)


def _pad(g: Graph, node: Node, ins: list, out_shape: tuple) -> np.ndarray:
    a = node.attrs
    return np.pad(ins[0], list(zip(a["begin"], a["end"])),
                  constant_values=np.float32(a.get("value", 0.0)))


def _lrn(g: Graph, node: Node, ins: list, out_shape: tuple) -> np.ndarray:
    x = ins[0]
    a = node.attrs
    size = int(a["size"])
    c = x.shape[1]
    sq = np.concatenate([np.zeros_like(x[:, :1]), np.cumsum(x.astype(np.float64) ** 2, axis=1)],
                        axis=1)
    lo = np.maximum(np.arange(c) - (size - 1) // 2, 0)
    hi = np.minimum(np.arange(c) + size // 2, c - 1) + 1
    total = sq[:, hi] - sq[:, lo]
    return (x / (a.get("k", 1.0) + a.get("alpha", 1e-4) / size * total)
            ** a.get("beta", 0.75)).astype(np.float32)


def _resize(g: Graph, node: Node, ins: list, out_shape: tuple) -> np.ndarray:
    from .resize import resize_float

    return resize_float(ins[0], out_shape[2:], node.attrs)


KERNELS: dict[str, Kernel] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "Relu": lambda g, n, i, s: np.maximum(i[0], np.float32(0)),
    "Clip": lambda g, n, i, s: np.clip(i[0], np.float32(n.attrs.get("min", -np.inf)),
                                       np.float32(n.attrs.get("max", np.inf))),
    "MaxPool": _maxpool,
    "AveragePool": _avgpool,
    "GlobalAveragePool": lambda g, n, i, s: i[0].mean(axis=(2, 3), keepdims=True),
    "Add": lambda g, n, i, s: (i[0] + i[1]) * np.float32(n.attrs.get("alpha", 1.0)),
    "Concat": lambda g, n, i, s: np.concatenate(i, axis=n.attrs["axis"]),
    "Softmax": _softmax,
    "Reshape": lambda g, n, i, s: i[0].reshape(s),
    "Mul": lambda g, n, i, s: i[0] * i[1],
    "Expand": lambda g, n, i, s: np.broadcast_to(i[0], s).copy(),
    **{op: _elementwise for op in ELEMENTWISE},
    "Pad": _pad,
    "LRN": _lrn,
    "Resize": _resize,
    "Transpose": lambda g, n, i, s: np.ascontiguousarray(np.transpose(i[0], n.attrs["perm"])),
    "Requantize": lambda g, n, i, s: i[0],
}


def _check_input(graph: Graph, x) -> np.ndarray:
    name = graph.inputs[0]
    want = graph.shape(name)
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise ShapeError(f"input {name!r}: dtype {x.dtype} is not numeric")
    if x.ndim != len(want) or tuple(x.shape[1:]) != tuple(want[1:]) or x.shape[0] < 1:
        raise ShapeError(f"input {name!r} must be [N, {', '.join(map(str, want[1:]))}], "
                         f"got {list(x.shape)}")
    return np.ascontiguousarray(x, dtype=np.float32)


def _run(graph: Graph, x: np.ndarray, keep_all: bool) -> dict[str, np.ndarray]:
    n = x.shape[0]
    env = {graph.inputs[0]: x}
    last_use = {t: k for k, node in enumerate(graph.nodes) for t in node.inputs}
    keep = set(graph.outputs)
    for k, node in enumerate(graph.nodes):
        kernel = KERNELS.get(node.op)
        if kernel is None:
            raise GraphError(f"node {node.name!r}: no float kernel for op {node.op!r}")
        out = node.outputs[0]
        out_shape = tuple(graph.shape(out))
        if n != 1:  # only reached when every tensor's leading dim is the batch
            out_shape = (n,) + out_shape[1:]
        y = kernel(graph, node, [env[t] for t in node.inputs], out_shape)
        y = apply_activation(y, node.attrs.get("activation"), f"node {node.name!r}")
        if y.shape != out_shape:
            raise GraphError(f"node {node.name!r} ({node.op}) produced {list(y.shape[1:])}, "
                             f"the IR says {list(out_shape[1:])}")
        env[out] = y.astype(np.float32, copy=False)
        if not keep_all:  # free intermediates as soon as their last reader has run
            for t in node.inputs:
                if last_use.get(t) == k and t not in keep:
                    env.pop(t, None)
    return env if keep_all else {o: env[o] for o in graph.outputs}


def run_float(graph: Graph, x: np.ndarray, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run ``graph`` on ``x`` ([N, ...] float) and return its outputs (or every tensor)."""
    x = _check_input(graph, x)
    if x.shape[0] == 1 or all(t.shape[0] == 1 for t in graph.tensors.values()):
        return _run(graph, x, keep_all)
    runs = [_run(graph, x[i:i + 1], keep_all) for i in range(x.shape[0])]
    return {t: (np.concatenate if graph.shape(t)[0] == 1 else np.stack)([r[t] for r in runs])
            for t in runs[0]}
