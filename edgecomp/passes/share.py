"""Weight sharing (seeds 001 and 003): per-layer k-means of the float weights.

Deep Compression clusters each layer's weights into 2^b shared values ("centroids") with k-means
initialised linearly over [min, max] (their best initialisation: it keeps the rare large
weights, which matter most, representable), then stores b-bit codes into the layer's codebook
(docs/format.md 3.7). Here the float weights are clustered after pruning and before
quantization:

- only the non-zero weights are clustered; pruned zeros stay exactly zero;
- a layer that has zeros keeps one of its 2^b codes for 0, so its non-zeros get 2^b - 1
  centroids and every stored value (padding zeros of relative indices included) fits in b bits;
- the weights are clustered in units of the scale the quantizer will give each output channel
  (``scope="channel"``, the default) or the layer (``scope="layer"``, Deep Compression's plain
  form), and the centroids rounded to that integer grid; the quantizer then uses exactly these
  scales (``Quantizer(weight_scales=...)``), so every row's int8 weights come from one codebook
  of at most 2^b values. Per-channel units keep a layer's small-valued channels from collapsing
  onto one or two centroids (docs/compression.md measures both).

Without retraining the centroids are not fine-tuned (Deep Compression's "trained quantization");
what sharing costs in accuracy is measured, not hidden (docs/compression.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EdgecompError
from ..ir import Graph
from .prune import prunable_layers

MIN_BITS, MAX_BITS = 2, 8
_OP_KEYS = {"Conv": "conv", "Gemm": "fc"}


SCOPES = ("channel", "layer")


@dataclass
class ShareResult:
    bits: int
    centroids: int          # clusters of non-zero weights (2^b, or 2^b - 1 with zeros)
    used: int               # centroids that received weights
    nonzeros: int
    iterations: int
    rel_error: float        # ||W_shared - W|| / ||W||
    scale: np.ndarray | None = None  # the per-output-channel quantization scale clustered in


def kmeans_1d(x: np.ndarray, n_clusters: int, max_iter: int = 300
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """Lloyd's k-means of scalars with linear initialisation over [min, max].

    Returns (centroids sorted ascending, label of each x, iterations). An empty cluster keeps
    its centroid (an unused code) rather than being moved; ties go to the lower centroid.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if n_clusters < 1:
        raise EdgecompError(f"k-means needs at least one cluster, got {n_clusters}")
    if x.size == 0:
        return np.linspace(0.0, 0.0, n_clusters), np.zeros(0, np.int64), 0
    c = np.linspace(x.min(), x.max(), n_clusters)
    labels = None
    for it in range(1, max_iter + 1):
        c = np.sort(c)
        new = np.searchsorted((c[1:] + c[:-1]) / 2, x, side="left")
        if labels is not None and np.array_equal(new, labels):
            return c, labels, it - 1
        labels = new
        counts = np.bincount(labels, minlength=n_clusters)
        sums = np.bincount(labels, weights=x, minlength=n_clusters)
        c = np.where(counts > 0, sums / np.maximum(counts, 1), c)
    c_sorted = np.sort(c)
    return c_sorted, np.searchsorted((c_sorted[1:] + c_sorted[:-1]) / 2, x), max_iter


def share_weight(w: np.ndarray, bits: int, where: str = "", scale: np.ndarray | None = None
                 ) -> tuple[np.ndarray, ShareResult]:
    """Replace the non-zero weights of one layer by their k-means centroids. With ``scale``
    (one per output channel) the weights are clustered in those units and the centroids rounded
    to integers, so ``w / scale`` of the result has at most 2^b distinct integer values."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise EdgecompError(f"{where}: weight sharing takes {MIN_BITS}..{MAX_BITS} bits, got "
                            f"{bits}")
    w = np.asarray(w, dtype=np.float32)
    unit = np.ones(w.shape[0]) if scale is None else np.asarray(scale, dtype=np.float64)
    unit = unit.reshape((-1,) + (1,) * (w.ndim - 1))
    u = w / unit
    nz = w != 0
    has_zero = not nz.all()
    k = (1 << bits) - (1 if has_zero else 0)
    c, labels, its = kmeans_1d(u[nz], k)
    if scale is not None:
        c = np.round(c)  # the quantizer's integer grid: one int8 codebook for every row
    out = np.zeros_like(w)
    out[nz] = (c[labels] * np.broadcast_to(unit, w.shape)[nz]).astype(np.float32)
    norm = float(np.linalg.norm(w))
    err = float(np.linalg.norm(out - w)) / norm if norm else 0.0
    return out, ShareResult(bits, k, int(len(np.unique(labels))), int(nz.sum()), its, err,
                            None if scale is None else np.asarray(scale, dtype=np.float64))


def parse_bits_spec(spec: "int | str | dict | None", what: str) -> dict[str, int]:
    """``4`` or ``"4"`` (every layer), or ``"conv=8,fc=6,<layer>=4"`` -> {key: bits}; keys are
    ``conv``, ``fc`` or a layer name. Layer names are checked against the graph later."""
    if spec is None or spec == "" or spec == {}:
        return {}
    if isinstance(spec, dict):
        items = list(spec.items())
    elif isinstance(spec, int) or str(spec).strip().isdigit():
        items = [("*", int(spec))]
    else:
        items = []
        for part in str(spec).split(","):
            key, eq, val = part.strip().rpartition("=")
            if not eq or not key or not val.strip().lstrip("-").isdigit():
                raise EdgecompError(f"{what}: expected N or conv=N,fc=N,<layer>=N, got {spec!r}")
            items.append((key.strip(), int(val)))
    return {str(k): int(v) for k, v in items}


def bits_for(spec: dict[str, int], node_name: str, op: str) -> int | None:
    """A layer's bits: by its name, else by its kind (conv / fc), else the '*' default."""
    if node_name in spec:
        return spec[node_name]
    return spec.get(_OP_KEYS.get(op, op.lower()), spec.get("*"))


def check_spec_layers(spec: dict[str, int], graph: Graph, what: str) -> None:
    names = {n.name for n in prunable_layers(graph)}
    unknown = sorted(k for k in spec if k not in names and k not in ("conv", "fc", "*"))
    if unknown:
        raise EdgecompError(f"{what}: no Conv/Gemm named {', '.join(map(repr, unknown))} "
                            f"(layers: {', '.join(sorted(names)) or 'none'})")


def share_graph(graph: Graph, bits: "int | str | dict[str, int]", mode: str = "affine",
                weight_bits: dict[str, int] | None = None, scope: str = "channel"
                ) -> dict[str, ShareResult]:
    """k-means sharing of every Conv/Gemm the spec gives bits to, in place. ``mode`` and
    ``weight_bits`` are the quantizer's: the scales they give are the grid of the codebook."""
    from ..quant.quantize import quantize_weights

    if scope not in SCOPES:
        raise EdgecompError(f"weight sharing scope {scope!r}: use channel or layer")
    spec = parse_bits_spec(bits, "--share-bits")
    check_spec_layers(spec, graph, "--share-bits")
    results = {}
    for node in prunable_layers(graph):
        b = bits_for(spec, node.name, node.op)
        if b is None:
            continue
        key = node.attrs["weight"]
        w = graph.constants[key]
        _, scale = quantize_weights(w, mode, (weight_bits or {}).get(node.name, 8),
                                    per_layer=scope == "layer")
        graph.constants[key], results[node.name] = share_weight(w, b, f"node {node.name!r}",
                                                                scale)
    return results
