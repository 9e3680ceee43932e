"""Magnitude pruning of Conv/Gemm weights (fine granularity, per-layer target sparsity).

The zeros it makes are what the sparse encoding and the zero-skipping kernels exploit.
"""
from __future__ import annotations

import numpy as np

from ..errors import EdgecompError
from ..ir import Graph

PRUNABLE = ("Conv", "Gemm")


def prune_magnitude(graph: Graph, sparsity: float | dict[str, float]) -> dict[str, float]:
    """Zero the smallest-magnitude weights of every Conv/Gemm, in place.

    ``sparsity`` is one target for all layers or {node name: target}; returns the achieved
    sparsity per layer (ties at the threshold are all pruned, so it can exceed the target).
    """
    achieved = {}
    for node in graph.nodes:
        if node.op not in PRUNABLE:
            continue
        target = sparsity.get(node.name, 0.0) if isinstance(sparsity, dict) else sparsity
        if not 0.0 <= target < 1.0:
            raise EdgecompError(f"node {node.name!r}: sparsity {target} must be in [0, 1)")
        w = graph.constants[node.attrs["weight"]]
        n_prune = int(round(target * w.size))
        if n_prune:
            threshold = np.partition(np.abs(w).reshape(-1), n_prune - 1)[n_prune - 1]
            w = np.where(np.abs(w) <= threshold, 0, w).astype(np.float32)
            graph.constants[node.attrs["weight"]] = w
        achieved[node.name] = float((w == 0).mean())
    return achieved
