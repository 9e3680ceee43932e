"""Per-layer pruning sensitivity (seed 000, after Han et al.): prune one layer alone at several
sparsities, measure top-1 agreement with the unpruned float model on unlabeled images, and
pick for each layer the largest sparsity whose drop stays within a budget.
"""
from __future__ import annotations

import numpy as np

from ..exec_float import run_float
from ..ir import Graph
from ..progress import progress
from .prune import PRUNABLE, prune_magnitude

DEFAULT_SPARSITIES = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _predictions(graph: Graph, images: np.ndarray, batch: int = 64) -> np.ndarray:
    out = graph.outputs[0]
    logits = np.concatenate([run_float(graph, images[i:i + batch])[out]
                             for i in range(0, len(images), batch)])
    return logits.reshape(len(images), -1).argmax(axis=1)


def sensitivity_sweep(graph: Graph, images: np.ndarray,
                      sparsities=DEFAULT_SPARSITIES,
                      show_progress: bool = True) -> dict[str, dict[float, float]]:
    """{layer: {sparsity: top-1 agreement with the unpruned model}}."""
    base = _predictions(graph, images)
    layers = [n.name for n in graph.nodes if n.op in PRUNABLE]
    curves: dict[str, dict[float, float]] = {}
    jobs = [(name, s) for name in layers for s in sparsities]
    for name, s in progress(jobs, "sensitivity", total=len(jobs), enabled=show_progress):
        g = graph.copy()
        prune_magnitude(g, {name: s})
        curves.setdefault(name, {})[s] = float((_predictions(g, images) == base).mean())
    return curves


def choose_sparsities(curves: dict[str, dict[float, float]],
                      max_drop: float = 0.01) -> dict[str, float]:
    """Largest tested sparsity per layer whose agreement is >= 1 - max_drop (0 if none)."""
    chosen = {}
    for name, curve in curves.items():
        ok = [s for s, agree in sorted(curve.items()) if agree >= 1.0 - max_drop]
        chosen[name] = max(ok) if ok else 0.0
    return chosen
