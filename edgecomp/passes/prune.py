"""Magnitude pruning of Conv/Gemm weights at several granularities (seeds 000, 001, 004).

A Conv weight is ``[Co, Cg, kh, kw]``; a Gemm weight ``[Co, K]`` is treated as a 1x1 Conv
``[Co, K, 1, 1]``, so for Gemm (and for 1x1 convolutions) vector and kernel pruning are the same
as fine pruning. Granularities, i.e. which weights are pruned together as one *group*:

- ``fine``: every weight alone.
- ``vector``: one row of a kernel, the ``kw`` weights ``w[o, c, y, :]``.
- ``kernel``: one 2-D kernel, the ``kh x kw`` weights ``w[o, c, :, :]``.
- ``filter``: one whole output channel ``w[o]`` (3-D).
- ``block``: 4 consecutive input channels at one kernel position, ``w[o, 4j:4j+4, y, x]``
  (4 consecutive K for Gemm): the operand of one x86 VNNI ``vpdpbusd`` in the runtime's q4
  layout, so a kept block uses all four lanes of the instruction and a pruned one costs
  nothing (a trailing run of fewer than 4 channels is one block).
- ``block8x4``: 8 consecutive output channels x 4 consecutive input channels at one kernel
  position, ``w[8i:8i+8, 4j:4j+4, y, x]`` (8 rows x 4 K for Gemm): the weight block of the
  runtime's register-blocked q4 kernel (8 output channels share each input load), which runs
  only the blocks that survive, at the dense kernel's efficiency. Coarser than ``block``, so it
  costs more accuracy at the same sparsity (docs/compression.md); trailing runs of fewer than
  8 / 4 channels are blocks too.
- ``N:M`` (e.g. ``2:4``): in every run of M consecutive input channels at one kernel position
  (``w[o, c:c+M, y, x]``; consecutive K for Gemm) only the N largest-magnitude weights survive.
  A trailing run shorter than M also keeps at most N, so a layer whose Cg <= N (the first conv
  of a gray-image model, depthwise convs) is left dense.

Group saliency is the group's L2 norm (or L1 with ``norm="l1"``) divided by size^(1/p), i.e. the
RMS (or mean absolute value) of its weights. Dividing by the size keeps saliency in weight units,
so one magnitude threshold or seed 001's ``std(W) x ratio`` means the same at every granularity,
and for ``fine`` it is just ``|w|``.

The threshold of a layer comes from a ``Rule``: a target sparsity (prune the k least salient
groups, k = round(target x groups), ties broken by position so the count is exact), an absolute
magnitude threshold (prune groups whose saliency < t), or seed 001's rule (t = std(W) x ratio,
std over all the layer's weights). At least one group always survives, so no layer goes dead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EdgecompError
from ..ir import Graph, Node

PRUNABLE = ("Conv", "Gemm")
GROUPED = ("fine", "vector", "kernel", "filter", "block", "block8x4")
NORMS = ("l2", "l1")
RULES = ("sparsity", "threshold", "std")


@dataclass(frozen=True)
class Granularity:
    kind: str       # fine | vector | kernel | filter | block | block8x4 | nm
    n: int = 0      # N of N:M
    m: int = 0      # M of N:M

    @staticmethod
    def parse(text: "str | Granularity") -> "Granularity":
        if isinstance(text, Granularity):
            return text
        text = str(text).strip().lower()
        if text in GROUPED:
            return Granularity(text)
        n, sep, m = text.partition(":")
        if sep and n.isdigit() and m.isdigit() and 0 < int(n) < int(m):
            return Granularity("nm", int(n), int(m))
        raise EdgecompError(f"unknown pruning granularity {text!r}: use one of "
                            f"{', '.join(GROUPED)} or N:M with 0 < N < M (e.g. 2:4)")

    @property
    def is_nm(self) -> bool:
        return self.kind == "nm"

    def __str__(self) -> str:
        return f"{self.n}:{self.m}" if self.is_nm else self.kind


@dataclass(frozen=True)
class Rule:
    """How a layer's threshold is chosen: ``sparsity`` (target fraction of weights),
    ``threshold`` (absolute saliency threshold) or ``std`` (threshold = std(W) x value)."""
    kind: str
    value: float

    @staticmethod
    def parse(text: "str | float | Rule") -> "Rule":
        """``0.8`` / ``sparsity:0.8``, ``abs:0.05`` / ``threshold:0.05``, ``std:1.2``."""
        if isinstance(text, Rule):
            return text
        if isinstance(text, (int, float)):
            return Rule("sparsity", float(text))
        kind, sep, value = str(text).strip().lower().partition(":")
        if not sep:
            kind, value = "sparsity", kind
        kind = {"abs": "threshold", "magnitude": "threshold"}.get(kind, kind)
        try:
            rule = Rule(kind, float(value))
        except ValueError:
            rule = Rule("?", 0.0)
        if rule.kind not in RULES:
            raise EdgecompError(f"bad pruning rule {text!r}: use a sparsity (0.8), "
                                f"abs:THRESHOLD or std:RATIO")
        return rule.check()

    def check(self, where: str = "") -> "Rule":
        at = f"{where}: " if where else ""
        if self.kind == "sparsity" and not 0.0 <= self.value < 1.0:
            raise EdgecompError(f"{at}sparsity {self.value} must be in [0, 1)")
        if self.kind in ("threshold", "std") and not (self.value >= 0 and np.isfinite(self.value)):
            raise EdgecompError(f"{at}{self.kind} value {self.value} must be finite and >= 0")
        return self

    def __str__(self) -> str:
        return {"sparsity": f"{self.value:g}", "threshold": f"abs:{self.value:g}",
                "std": f"std:{self.value:g}"}[self.kind]


@dataclass(frozen=True)
class LayerPrune:
    """What to do with one layer. ``rule`` is ignored for N:M (its sparsity is fixed)."""
    granularity: Granularity
    rule: Rule | None = None


@dataclass
class PruneResult:
    layer: str
    granularity: str
    rule: str
    threshold: float | None  # saliency threshold actually applied (None for N:M)
    groups: int
    pruned_groups: int
    sparsity: float          # fraction of the layer's weights that are zero afterwards


def as_4d(w: np.ndarray) -> np.ndarray:
    if w.ndim == 2:
        return w.reshape(w.shape[0], w.shape[1], 1, 1)
    if w.ndim != 4:
        raise EdgecompError(f"cannot prune a weight of rank {w.ndim} (shape {list(w.shape)})")
    return w


def group_labels(shape: tuple[int, ...], granularity: Granularity) -> np.ndarray:
    """Group id (0..groups-1) of every weight of a ``[Co, Cg, kh, kw]`` weight (int64, same
    shape). Weights with the same id are pruned together."""
    co, cg, kh, kw = shape
    g = granularity
    if g.kind == "fine":
        return np.arange(co * cg * kh * kw).reshape(shape)
    if g.kind == "vector":
        ids = np.arange(co * cg * kh).reshape(co, cg, kh, 1)
    elif g.kind == "kernel":
        ids = np.arange(co * cg).reshape(co, cg, 1, 1)
    elif g.kind == "filter":
        ids = np.arange(co).reshape(co, 1, 1, 1)
    elif g.kind == "block8x4":
        runs = -(-cg // 4)
        pos = (np.arange(co) // 8).reshape(co, 1, 1, 1) * (kh * kw) + \
            np.arange(kh * kw).reshape(1, 1, kh, kw)
        ids = pos * runs + (np.arange(cg) // 4).reshape(1, cg, 1, 1)
    else:  # block (runs of 4 input channels) and N:M (runs of M) group the same way
        m = 4 if g.kind == "block" else g.m
        runs = -(-cg // m)
        pos = np.arange(co * kh * kw).reshape(co, 1, kh, kw)
        ids = pos * runs + (np.arange(cg) // m).reshape(1, cg, 1, 1)
    return np.broadcast_to(ids, shape).copy()


def group_saliency(w4: np.ndarray, labels: np.ndarray, norm: str = "l2") -> np.ndarray:
    """Per group: RMS (l2) or mean |w| (l1) of its weights."""
    if norm not in NORMS:
        raise EdgecompError(f"unknown group norm {norm!r} (use l2 or l1)")
    flat = labels.reshape(-1)
    n = int(flat.max()) + 1
    size = np.bincount(flat, minlength=n).astype(np.float64)
    a = np.abs(w4.reshape(-1).astype(np.float64))
    if norm == "l2":
        return np.sqrt(np.bincount(flat, weights=a * a, minlength=n) / size)
    return np.bincount(flat, weights=a, minlength=n) / size


def _nm_keep(w4: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep mask for N:M along the input channels (see module docstring)."""
    co, cg, kh, kw = w4.shape
    runs = -(-cg // m)
    mag = np.abs(w4.astype(np.float64)).transpose(0, 2, 3, 1)          # [Co, kh, kw, Cg]
    pad = np.full(mag.shape[:3] + (runs * m - cg,), -1.0)              # pads rank below |w|
    mag = np.concatenate([mag, pad], axis=3).reshape(co, kh, kw, runs, m)
    order = np.argsort(-mag, axis=4, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(m).reshape(1, 1, 1, 1, m), axis=4)
    keep = (rank < n).reshape(co, kh, kw, runs * m)[..., :cg]
    return keep.transpose(0, 3, 1, 2)


def prune_weight(w: np.ndarray, spec: LayerPrune, norm: str = "l2",
                 where: str = "") -> tuple[np.ndarray, np.ndarray, PruneResult]:
    """Prune one weight array. Returns (pruned weight, keep mask, result)."""
    w4 = as_4d(np.asarray(w, dtype=np.float32))
    g = spec.granularity
    labels = group_labels(w4.shape, g)
    groups = int(labels.max()) + 1
    threshold = None
    if g.is_nm:
        keep = _nm_keep(w4, g.n, g.m)
        flat = labels.reshape(-1)
        kept = np.bincount(flat, weights=keep.reshape(-1), minlength=groups)
        pruned_groups = int((kept < np.bincount(flat, minlength=groups)).sum())
        rule_text = f"{g.n}:{g.m}"
    else:
        rule = (spec.rule or Rule("sparsity", 0.0)).check(where)
        sal = group_saliency(w4, labels, norm)
        order = np.argsort(sal, kind="stable")                     # least salient first
        if rule.kind == "sparsity":
            k = int(round(rule.value * groups))
        else:
            threshold = rule.value * float(np.std(w4)) if rule.kind == "std" else rule.value
            k = int((sal < threshold).sum())
        k = min(k, groups - 1)                                     # never kill the whole layer
        if k and rule.kind == "sparsity":
            threshold = float(sal[order[k - 1]])
        drop = np.zeros(groups, dtype=bool)
        drop[order[:k]] = True
        keep = ~drop[labels]
        pruned_groups = k
        rule_text = str(rule)
    out = np.where(keep, w4, np.float32(0)).astype(np.float32).reshape(np.shape(w))
    result = PruneResult(where, str(g), rule_text, threshold, groups, pruned_groups,
                         float((out == 0).mean()))
    return out, keep.reshape(np.shape(w)), result


def prunable_layers(graph: Graph) -> list[Node]:
    return [n for n in graph.nodes if n.op in PRUNABLE]


def prune_graph(graph: Graph, plan: dict[str, LayerPrune], norm: str = "l2"
                ) -> dict[str, PruneResult]:
    """Prune the layers named in ``plan`` in place; returns what happened per layer."""
    layers = {n.name: n for n in prunable_layers(graph)}
    unknown = sorted(set(plan) - set(layers))
    if unknown:
        raise EdgecompError(f"cannot prune {', '.join(map(repr, unknown))}: no Conv/Gemm of that "
                            f"name (prunable layers: {', '.join(layers) or 'none'})")
    results = {}
    for name, spec in plan.items():
        key = layers[name].attrs["weight"]
        w, _, results[name] = prune_weight(graph.constants[key], spec, norm,
                                           where=f"node {name!r}")
        graph.constants[key] = w
    return results


def uniform_plan(graph: Graph, granularity: "str | Granularity",
                 rule: "str | float | Rule | dict[str, float]") -> dict[str, LayerPrune]:
    """One granularity for every prunable layer; one rule, or {layer: sparsity}."""
    g = Granularity.parse(granularity)
    if isinstance(rule, dict):
        return {name: LayerPrune(g, Rule("sparsity", float(s)).check(f"node {name!r}"))
                for name, s in rule.items()}
    r = Rule.parse(rule)
    return {n.name: LayerPrune(g, r) for n in prunable_layers(graph)}


def prune_magnitude(graph: Graph, sparsity: float | dict[str, float]) -> dict[str, float]:
    """Fine-grained pruning to a target sparsity (one for all layers or {layer: target}), in
    place; returns the achieved sparsity per pruned layer."""
    results = prune_graph(graph, uniform_plan(graph, "fine", sparsity))
    return {name: r.sparsity for name, r in results.items()}
