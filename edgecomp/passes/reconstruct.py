"""Post-training reconstruction of pruned layers (in the spirit of AdaPrune / Optimal Brain
Compression): no labels, no training framework, only least squares on calibration activations.

For each Conv/Gemm in topological order we have X_p, its input in the pruned model (every layer
upstream already pruned *and* reconstructed, so errors do not pile up), and Y, the layer's
pre-activation output in the float model on the float model's own input. Per output channel o,
with S_o its surviving (non-zero) weights, we solve the ridge problem

    min_{w, b}  || w . X_p[S_o] + b - Y_o ||^2 + lambda ||w||^2

over every calibration image and output position (the bias is refit too and not regularised;
a channel with no surviving weight gets the bias mean(Y_o)). lambda = ridge x mean diagonal of
X_p X_p^T, so the knob is scale-free. We match the pre-activation output because it is linear in
the weights; fitting through the ReLU would need an iterative solver.

The normal equations need only G = [X;1][X;1]^T and B = [X;1] Y^T, accumulated in float64 a
chunk of images at a time; channels with the same mask (filter, kernel granularity...) share one
solve. Costs: the calibration set runs through both graphs as one batch (memory: images x live
activations, twice); G is (K+1)^2 per group; a fine mask costs one (|S_o|+1)^3 solve per output
channel. A side effect worth knowing: an input channel whose filter was pruned upstream is a
constant, collinear with the bias, so the ridge drives the weights reading it to ~0 and int8
rounds them to zero (filter pruning then also thins the next layer).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import GraphError
from ..exec_float import KERNELS, apply_activation
from ..ir import Graph, Node
from ..progress import progress
from .prune import PRUNABLE

DEFAULT_RIDGE = 1e-3
_CHUNK_BYTES = 32 << 20  # cap on one chunk of im2col columns


@dataclass
class LayerFit:
    layer: str
    kept: float          # fraction of weights that survive (and are refit)
    error_before: float  # relative L2 error of the pre-activation output vs float, calib set
    error_after: float


def columns(node: Node, w_shape: tuple[int, ...], x: np.ndarray) -> np.ndarray:
    """Input patches of a Conv/Gemm as ``[group, K, P]`` (P = images x output positions), the
    same K order as the flattened weight ``[Co, Cg*kh*kw]``."""
    if node.op == "Gemm":
        return np.ascontiguousarray(x.reshape(len(x), -1).T)[None]
    a = node.attrs
    n, c, h, wd = x.shape
    co, cg, kh, kw = w_shape
    group = a.get("group", 1)
    sh, sw = a.get("strides", (1, 1))
    dh, dw = a.get("dilations", (1, 1))
    pt, pl, pb, pr = a.get("pads", (0, 0, 0, 0))
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    s = xp.strides
    view = as_strided(xp, (n, c, kh, kw, ho, wo),
                      (s[0], s[1], s[2] * dh, s[3] * dw, s[2] * sh, s[3] * sw), writeable=False)
    cols = view.reshape(n, group, cg * kh * kw, ho * wo).transpose(1, 2, 0, 3)
    return np.ascontiguousarray(cols).reshape(group, cg * kh * kw, n * ho * wo)


def _targets(y: np.ndarray, group: int) -> np.ndarray:
    """Pre-activation output [N, Co, ...] -> [group, Co/group, P] in the order of columns()."""
    n, co = y.shape[:2]
    co_g = co // group
    return y.reshape(n, group, co_g, -1).transpose(1, 2, 0, 3).reshape(group, co_g, -1)


class NormalEquations:
    """G = [X;1][X;1]^T and B = [X;1] Y^T per group, accumulated over chunks of images."""

    def __init__(self, node: Node, w_shape: tuple[int, ...]) -> None:
        self.node, self.w_shape = node, w_shape
        self.group = node.attrs.get("group", 1) if node.op == "Conv" else 1
        k = int(np.prod(w_shape[1:]))
        self.G = np.zeros((self.group, k + 1, k + 1))
        self.B = np.zeros((self.group, k + 1, w_shape[0] // self.group))
        self.yy = np.zeros(self.group)  # sum of Y^2 per group: the error's denominator

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """x: layer input [N, ...]; y: target pre-activation output [N, Co, ...]."""
        per_image = max(1, x[:1].size * int(np.prod(self.w_shape[2:])) * 4)
        step = max(1, _CHUNK_BYTES // per_image)
        for i in range(0, len(x), step):
            cols = columns(self.node, self.w_shape, x[i:i + step]).astype(np.float64)
            ones = np.ones((cols.shape[0], 1, cols.shape[2]))
            xa = np.concatenate([cols, ones], axis=1)
            t = _targets(y[i:i + step], self.group).astype(np.float64)
            self.G += xa @ xa.transpose(0, 2, 1)
            self.B += xa @ t.transpose(0, 2, 1)
            self.yy += (t * t).sum(axis=(1, 2))

    def error(self, w2: np.ndarray, b: np.ndarray) -> float:
        """Relative L2 error ||W X + b - Y|| / ||Y|| from the statistics alone."""
        co_g = w2.shape[0] // self.group
        num = 0.0
        for gi in range(self.group):
            th = np.concatenate([w2[gi * co_g:(gi + 1) * co_g],
                                 b[gi * co_g:(gi + 1) * co_g, None]], axis=1).T  # [K+1, Co_g]
            # ||th^T xa - t||^2 = tr(th^T G th) - 2 tr(th^T B) + ||t||^2
            num += float(np.einsum("kc,kl,lc->", th, self.G[gi], th)
                         - 2 * np.einsum("kc,kc->", th, self.B[gi])) + self.yy[gi]
        return float(np.sqrt(max(num, 0.0) / max(self.yy.sum(), 1e-30)))

    def solve(self, w: np.ndarray, b: np.ndarray | None, keep: np.ndarray,
              ridge: float = DEFAULT_RIDGE) -> tuple[np.ndarray, np.ndarray]:
        """Refit the kept weights and the bias. Returns (weight like w, bias [Co])."""
        co = w.shape[0]
        w2 = np.zeros((co, int(np.prod(w.shape[1:]))))
        bias = np.zeros(co)
        keep2 = keep.reshape(co, -1)
        co_g = co // self.group
        for gi in range(self.group):
            G, B = self.G[gi], self.B[gi]
            k = G.shape[0] - 1
            # A dead input (a channel pruned away upstream) makes the mean diagonal 0: fall back
            # to an absolute ridge so the system stays solvable (its weights come out 0).
            lam = ridge * (float(np.trace(G[:k, :k])) / max(k, 1) or 1.0)
            rows = keep2[gi * co_g:(gi + 1) * co_g]
            masks, which = np.unique(rows, axis=0, return_inverse=True)
            for mi, mask in enumerate(masks):
                chans = np.flatnonzero(which.reshape(-1) == mi)
                idx = np.append(np.flatnonzero(mask), k)               # kept weights + bias
                A = G[np.ix_(idx, idx)].copy()
                A[np.arange(len(idx) - 1), np.arange(len(idx) - 1)] += lam
                try:
                    sol = np.linalg.solve(A, B[np.ix_(idx, chans)])
                except np.linalg.LinAlgError:  # ridge 0 on a rank-deficient input
                    sol = np.linalg.lstsq(A, B[np.ix_(idx, chans)], rcond=None)[0]
                for j, c in enumerate(chans):
                    o = gi * co_g + c
                    w2[o, idx[:-1]] = sol[:-1, j]
                    bias[o] = sol[-1, j]
        return w2.reshape(w.shape).astype(np.float32), bias.astype(np.float32)


def layer_target(reference: Graph, node: Node, x: np.ndarray) -> np.ndarray:
    """The float layer's pre-activation output for input ``x`` ([N, ...])."""
    shape = (len(x),) + tuple(reference.shape(node.outputs[0]))[1:]
    return KERNELS[node.op](reference, node, [x], shape)


def refit_node(graph: Graph, node: Node, eq: NormalEquations, keep: np.ndarray,
               ridge: float = DEFAULT_RIDGE) -> LayerFit:
    """Refit ``node``'s weight and bias in ``graph`` (in place) from its normal equations."""
    wname, bname = node.attrs["weight"], node.attrs.get("bias")
    w = graph.constants[wname]
    b = graph.constants[bname] if bname else np.zeros(w.shape[0], np.float32)
    before = eq.error(w.reshape(w.shape[0], -1).astype(np.float64), b.astype(np.float64))
    w_new, b_new = eq.solve(w, b, keep, ridge)
    after = eq.error(w_new.reshape(w.shape[0], -1).astype(np.float64), b_new.astype(np.float64))
    if after > before:  # ridge can only lose on the calib set if the system is degenerate
        return LayerFit(node.name, float(keep.mean()), before, before)
    if not bname:  # a layer without bias gets one: it is free in the int8 format
        bname = f"{node.name}.bias"
        while bname in graph.constants:
            bname += "_"
        node.attrs["bias"] = bname
    graph.constants[wname] = w_new
    graph.constants[bname] = b_new
    return LayerFit(node.name, float(keep.mean()), before, after)


def reconstruct(reference: Graph, pruned: Graph, images: np.ndarray,
                ridge: float = DEFAULT_RIDGE, layers: list[str] | None = None,
                show_progress: bool = True) -> dict[str, LayerFit]:
    """Refit every Conv/Gemm of ``pruned`` (in place) so its output matches ``reference``'s.

    ``reference`` is the unpruned float graph, ``pruned`` the same graph after pruning; the
    surviving weights are the non-zero ones. ``layers`` limits the refit to those names (default
    all Conv/Gemm: unpruned layers downstream of pruned ones also absorb some of the error).
    """
    if [n.name for n in reference.nodes] != [n.name for n in pruned.nodes]:
        raise GraphError("reconstruction needs the pruned graph to have the reference graph's "
                         "nodes (same names, same order)")
    bad = [t.name for t in pruned.tensors.values() if t.shape and t.shape[0] != 1]
    if bad:
        raise GraphError(f"reconstruction runs the calibration set as one batch; tensor "
                         f"{bad[0]!r} has leading dim {pruned.shape(bad[0])[0]}, not the batch")
    x = np.ascontiguousarray(images, dtype=np.float32)
    env_r = {reference.inputs[0]: x}
    env_p = {pruned.inputs[0]: x}
    last_use = {t: k for k, node in enumerate(pruned.nodes) for t in node.inputs}
    todo = set(layers) if layers is not None else {n.name for n in pruned.nodes
                                                   if n.op in PRUNABLE}
    fits: dict[str, LayerFit] = {}
    steps = list(enumerate(zip(reference.nodes, pruned.nodes)))
    for k, (nr, np_) in progress(steps, "reconstructing", total=len(steps),
                                 enabled=show_progress):
        shape = (len(x),) + tuple(pruned.shape(np_.outputs[0]))[1:]
        y_ref = KERNELS[nr.op](reference, nr, [env_r[t] for t in nr.inputs], shape)
        if np_.name in todo and np_.op in PRUNABLE:
            xin = env_p[np_.inputs[0]]
            w = pruned.constants[np_.attrs["weight"]]
            eq = NormalEquations(np_, as_4d_shape(w))
            eq.add(xin, y_ref)
            fits[np_.name] = refit_node(pruned, np_, eq, w != 0, ridge)
        y_p = KERNELS[np_.op](pruned, np_, [env_p[t] for t in np_.inputs], shape)
        env_r[nr.outputs[0]] = apply_activation(y_ref, nr.attrs.get("activation"),
                                                f"node {nr.name!r}").astype(np.float32)
        env_p[np_.outputs[0]] = apply_activation(y_p, np_.attrs.get("activation"),
                                                 f"node {np_.name!r}").astype(np.float32)
        for t in np_.inputs:  # free what no later node reads
            if last_use.get(t) == k:
                env_r.pop(t, None)
                env_p.pop(t, None)
    return fits


def as_4d_shape(w: np.ndarray) -> tuple[int, ...]:
    return tuple(w.shape) if w.ndim == 4 else (w.shape[0], w.shape[1], 1, 1)
