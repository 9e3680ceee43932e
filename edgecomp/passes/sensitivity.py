"""Per-layer pruning sensitivity (seed 000, after Han et al.) and a per-layer choice that meets a
budget for the whole model.

Sweep: each prunable layer alone is pruned at several points (target sparsities, or seed 001's
std(W) x ratio thresholds), optionally reconstructed (reconstruct.py; the layer alone, on float
inputs), and the model is measured on a validation set: top-1 accuracy when labels are given,
otherwise top-1 agreement with the unpruned float model, plus the output SNR against the float
model's output.

Choice under a metric budget: start every layer at its last point before the first one whose own
drop is over the budget, then verify the *combined* model (drops compound) as it will be written
(weight sharing, quantization and the integer reference included, when the caller says how:
``Evaluator.deliverable``) and, while it is over budget, back one layer off by one point. The layer backed off is the one whose current step costs the most output
noise per weight it removes (noise = 10^(-SNR/10), which adds up roughly linearly across layers,
unlike a top-1 count on a few hundred images). Choice under a size budget: from nothing pruned,
greedily take the step that adds the least noise per byte saved until the weights fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import EdgecompError
from ..evaluate import float_outputs, snr_db
from ..exec_float import run_float
from ..ir import Graph
from ..packed.sparse import stored_pairs
from ..progress import progress
from .prune import Granularity, LayerPrune, Rule, prunable_layers, prune_graph, prune_weight
from .reconstruct import (DEFAULT_RIDGE, NormalEquations, as_4d_shape, layer_target,
                          reconstruct, refit_node)

DEFAULT_SPARSITIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
DEFAULT_STD_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)


def weight_bytes(w: np.ndarray) -> int:
    """Bytes of one layer's int8 weights in the smaller of the dense and sparse_rel8 encodings
    (docs/format.md 3.2), from its zero pattern."""
    w2 = (np.asarray(w).reshape(w.shape[0], -1) != 0).astype(np.int8)
    return int(min(w2.size, 4 * (w2.shape[0] + 1) + 2 * stored_pairs(w2)))


class Evaluator:
    """Scores float graphs on a validation set against the unpruned reference model."""

    def __init__(self, reference: Graph, images: np.ndarray, labels: np.ndarray | None = None,
                 deliverable: Callable[[Graph, np.ndarray], np.ndarray] | None = None):
        """``deliverable(graph, images)``: the outputs of the model compress would write from a
        pruned graph (shared, quantized, run by the integer reference); the choice is verified
        on it, so the budget holds for the file, not only for the pruned float graph."""
        self.images, self.labels = np.asarray(images, np.float32), labels
        self.deliverable = deliverable
        self.metric = "top1" if labels is not None else "agreement"
        self.ref_logits = self._logits(reference)
        self.ref_pred = self.ref_logits.argmax(axis=1)
        self.baseline = self._score(self.ref_logits)

    def _logits(self, graph: Graph) -> np.ndarray:
        return float_outputs(graph, self.images).reshape(len(self.images), -1)

    def _score(self, logits: np.ndarray) -> float:
        truth = self.labels if self.labels is not None else self.ref_pred
        return float((logits.argmax(axis=1) == truth).mean())

    def measure(self, graph: Graph, deliverable: bool = False) -> tuple[float, float]:
        """(metric, output SNR in dB against the reference), of the float graph or (with
        ``deliverable``, when the evaluator has one) of the model written from it."""
        metric, snr, _ = self.measure_paired(graph, deliverable)
        return metric, snr

    def measure_paired(self, graph: Graph, deliverable: bool = False
                       ) -> tuple[float, float, float]:
        """(metric, SNR, standard error of the drop): the drop is a paired difference on the
        same images, so its standard error counts the images on which exactly one of the two
        models is right (b lost, c gained): sqrt(b + c - (b - c)^2 / n) / n."""
        if deliverable and self.deliverable is not None:
            logits = np.asarray(self.deliverable(graph, self.images), np.float32).reshape(
                len(self.images), -1)
        else:
            logits = self._logits(graph)
        truth = self.labels if self.labels is not None else self.ref_pred
        ref_ok = self.ref_pred == truth
        ok = logits.argmax(axis=1) == truth
        n = len(ok)
        lost, gained = int((ref_ok & ~ok).sum()), int((~ref_ok & ok).sum())
        se = math.sqrt(max(lost + gained - (lost - gained) ** 2 / n, 0.0)) / n if n else 0.0
        return self._score(logits), snr_db(self.ref_logits, logits), se


@dataclass
class Point:
    spec: LayerPrune
    sparsity: float       # achieved
    bytes: int            # weight_bytes() of the pruned layer
    metric: float
    drop: float           # baseline - metric
    snr_db: float

    @property
    def noise(self) -> float:
        return 0.0 if math.isinf(self.snr_db) else 10.0 ** (-self.snr_db / 10.0)


@dataclass
class Curve:
    layer: str
    params: int
    dense_bytes: int
    points: list[Point] = field(default_factory=list)   # increasing sparsity


@dataclass
class Setup:
    """Everything a sweep and a choice need. ``calib`` set = reconstruct after pruning."""
    graph: Graph
    evaluator: Evaluator
    granularity: Granularity
    knob: str = "sparsity"            # sparsity | std
    values: tuple[float, ...] = DEFAULT_SPARSITIES
    norm: str = "l2"
    calib: np.ndarray | None = None
    ridge: float = DEFAULT_RIDGE
    show_progress: bool = True

    def specs(self) -> list[LayerPrune]:
        if self.granularity.is_nm:
            return [LayerPrune(self.granularity)]
        return [LayerPrune(self.granularity, Rule(self.knob, float(v)).check("sweep"))
                for v in self.values]

    def build(self, plan: dict[str, LayerPrune]) -> Graph:
        """The model with ``plan`` applied (and reconstructed when calib images are set)."""
        g = self.graph.copy()
        prune_graph(g, plan, self.norm)
        if self.calib is not None and plan:
            reconstruct(self.graph, g, self.calib, self.ridge, show_progress=False)
        return g


def _layer_equations(setup: Setup) -> dict[str, NormalEquations]:
    """Per layer, normal equations on its float input: a layer pruned alone sees exactly that."""
    g = setup.graph
    acts = run_float(g, setup.calib, keep_all=True)
    eqs = {}
    for node in prunable_layers(g):
        x = acts[node.inputs[0]]
        eq = NormalEquations(node, as_4d_shape(g.constants[node.attrs["weight"]]))
        eq.add(x, layer_target(g, node, x))
        eqs[node.name] = eq
    return eqs


def sensitivity_sweep(setup: Setup) -> dict[str, Curve]:
    """{layer: Curve}. Points that prune nothing, or no more than the previous point (coarse
    groups round targets), are dropped."""
    g = setup.graph
    eqs = _layer_equations(setup) if setup.calib is not None else {}
    layers = prunable_layers(g)
    specs = setup.specs()
    curves = {n.name: Curve(n.name, int(g.constants[n.attrs["weight"]].size),
                            weight_bytes(g.constants[n.attrs["weight"]])) for n in layers}
    jobs = [(n, s) for n in layers for s in specs]
    for node, spec in progress(jobs, "sensitivity", total=len(jobs),
                               enabled=setup.show_progress):
        wkey = node.attrs["weight"]
        saved_attrs, saved_keys = dict(node.attrs), set(g.constants)
        saved = {k: g.constants[k] for k in (wkey, node.attrs.get("bias")) if k}
        curve = curves[node.name]
        try:
            w, keep, res = prune_weight(saved[wkey], spec, setup.norm, f"node {node.name!r}")
            if res.sparsity == 0 or (curve.points and res.sparsity <= curve.points[-1].sparsity):
                continue
            g.constants[wkey] = w
            if node.name in eqs:
                refit_node(g, node, eqs[node.name], keep, setup.ridge)
            metric, snr = setup.evaluator.measure(g)
        finally:  # the sweep borrows the caller's graph: put it back as it was
            for k in set(g.constants) - saved_keys:  # a bias the refit added
                del g.constants[k]
            g.constants.update(saved)
            node.attrs = saved_attrs
        curve.points.append(Point(spec, res.sparsity, weight_bytes(w), metric,
                                  setup.evaluator.baseline - metric, snr))
    return curves


@dataclass
class Choice:
    plan: dict[str, LayerPrune]
    index: dict[str, int]          # chosen point per layer, -1 = not pruned
    metric: float                  # of the combined model (verified)
    drop: float
    snr_db: float
    drop_se: float                 # standard error of the drop (paired, on these images)
    weight_bytes: int
    steps: list[str] = field(default_factory=list)   # what the search did, for the report


def _plan(curves: dict[str, Curve], index: dict[str, int]) -> dict[str, LayerPrune]:
    return {k: curves[k].points[i].spec for k, i in index.items() if i >= 0}


def _bytes(curves: dict[str, Curve], index: dict[str, int]) -> int:
    return sum(c.points[index[k]].bytes if index[k] >= 0 else c.dense_bytes
               for k, c in curves.items())


def _step_cost(curve: Curve, i: int) -> tuple[float, float, int]:
    """(added noise, weights removed, bytes saved) going from point i-1 to point i."""
    p = curve.points[i]
    prev = curve.points[i - 1] if i > 0 else None
    noise = p.noise - (prev.noise if prev else 0.0)
    weights = curve.params * (p.sparsity - (prev.sparsity if prev else 0.0))
    saved = (prev.bytes if prev else curve.dense_bytes) - p.bytes
    return noise, weights, saved


def _verify(setup: Setup, curves: dict[str, Curve], index: dict[str, int],
            steps: list[str]) -> Choice:
    plan = _plan(curves, index)
    metric, snr, se = setup.evaluator.measure_paired(setup.build(plan), deliverable=True)
    drop = setup.evaluator.baseline - metric
    size = _bytes(curves, index)
    steps.append(f"verify: {setup.evaluator.metric} {metric:.4f} (drop {drop:+.4f} "
                 f"+- {se:.4f}), SNR {snr:.1f} dB, weights {size} B")
    return Choice(plan, dict(index), metric, drop, snr, se, size, steps)


def choose_for_drop(setup: Setup, curves: dict[str, Curve], max_drop: float,
                    margin_se: float = 0.0) -> Choice:
    """Largest per-layer points whose combined drop, plus ``margin_se`` standard errors of it,
    is <= max_drop (see module docstring). The margin keeps the choice from resting on the few
    validation images a search over many per-layer points happens to get right."""
    if not max_drop >= 0:
        raise EdgecompError(f"max drop must be >= 0, got {max_drop}")
    if not margin_se >= 0:
        raise EdgecompError(f"drop margin must be >= 0 standard errors, got {margin_se}")
    index = {name: -1 for name in curves}
    for name, c in curves.items():
        for i, p in enumerate(c.points):
            if p.drop > max_drop:  # a later point back within budget is validation noise
                break
            index[name] = i
    steps: list[str] = []
    choice = _verify(setup, curves, index, steps)
    while choice.drop + margin_se * choice.drop_se > max_drop:
        live = [k for k, i in index.items() if i >= 0]
        if not live:
            break
        def harm(k):  # noise per weight removed by the layer's current step
            noise, weights, _ = _step_cost(curves[k], index[k])
            return noise / max(weights, 1.0)
        worst = max(live, key=harm)
        index[worst] -= 1
        now = curves[worst].points[index[worst]].sparsity if index[worst] >= 0 else 0.0
        steps.append(f"back off {worst} to sparsity {now:.3f}")
        choice = _verify(setup, curves, index, steps)
    return choice


def choose_for_size(setup: Setup, curves: dict[str, Curve], target_bytes: int,
                    max_drop: float | None = None) -> Choice:
    """Cheapest steps (least noise per byte saved) until the weights fit in target_bytes."""
    index = {name: -1 for name in curves}
    steps: list[str] = []
    while _bytes(curves, index) > target_bytes:
        options = []
        for k, c in curves.items():
            if index[k] + 1 < len(c.points):
                noise, _, saved = _step_cost(c, index[k] + 1)
                options.append((noise / max(saved, 1), k))
        if not options:
            raise EdgecompError(f"target size {target_bytes} B is out of reach: pruning every "
                                f"layer to its last swept point leaves {_bytes(curves, index)} B "
                                f"of weights")
        _, k = min(options)
        index[k] += 1
        steps.append(f"prune {k} to sparsity {curves[k].points[index[k]].sparsity:.3f}")
    choice = _verify(setup, curves, index, steps)
    if max_drop is not None and choice.drop > max_drop:
        raise EdgecompError(f"fitting the weights in {target_bytes} B drops "
                            f"{setup.evaluator.metric} by {choice.drop:.4f}, over the budget "
                            f"{max_drop}: relax one of the two")
    return choice
