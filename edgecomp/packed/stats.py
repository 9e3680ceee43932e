"""Per-layer size and sparsity figures of a QModel (what `edgecomp inspect` prints).

%W_Z and CR follow seed 000: %W_Z = weights the rel8 encoding stores (padding zeros included) /
dense weights, CR = 100 / (%W_Z * (WBW + SIBW) / 32) with WBW = SIBW = 8, whatever encoding the
writer chose. We also report the bytes actually written and their ratio to float32 weights
(cr_actual), which include the per-row index the seed's CR leaves out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .model import QModel, QNode
from .sparse import stored_pairs


@dataclass
class LayerStats:
    name: str
    op: str
    out_shape: tuple[int, ...]
    params: int              # weights in the dense layer
    nonzeros: int            # non-zero weights
    rel8_pairs: int          # pairs the rel8 encoding stores (padding zeros included)
    encoding: str
    weight_bytes: int        # bytes of the weight blob as written
    macs: int                # multiply-accumulates of the dense layer

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzeros / self.params if self.params else 0.0

    @property
    def wz_percent(self) -> float:
        """Seed 000's %W_Z: surviving weights plus padding zeros, of the dense count."""
        return 100.0 * self.rel8_pairs / self.params if self.params else 0.0


def dense_bytes(node: QNode) -> int:
    return int(node.weights.size)


def sparse_bytes(node: QNode) -> int:
    return 4 * (node.weights.shape[0] + 1) + 2 * stored_pairs(node.weights)


def layer_macs(model: QModel, node: QNode) -> int:
    y = model.tensors[node.outputs[0]].shape
    if node.op == "CONV":
        return int(math.prod(y) * node.weights.shape[1])
    if node.op == "FC":
        return int(node.weights.size)
    return 0


def layer_stats(model: QModel) -> list[LayerStats]:
    rows = []
    for node in model.nodes:
        out_shape = model.tensors[node.outputs[0]].shape
        if node.weights is None:
            rows.append(LayerStats(node.name, node.op, out_shape, 0, 0, 0, "-", 0, 0))
            continue
        nnz = int(np.count_nonzero(node.weights))
        wbytes = sparse_bytes(node) if node.weight_encoding == "sparse_rel8" else dense_bytes(node)
        rows.append(LayerStats(node.name, node.op, out_shape, int(node.weights.size), nnz,
                               stored_pairs(node.weights), node.weight_encoding, wbytes,
                               layer_macs(model, node)))
    return rows


def model_totals(rows: list[LayerStats]) -> dict[str, float]:
    params = sum(r.params for r in rows)
    stored = sum(r.rel8_pairs for r in rows)
    nnz = sum(r.nonzeros for r in rows)
    wz = 100.0 * stored / params if params else 0.0
    return {
        "params": params, "nonzeros": nnz, "rel8_pairs": stored,
        "sparsity": 1 - nnz / params if params else 0.0,
        "wz_percent": wz,
        # seed 000 eq. (1), against 32-bit float weights, with 8-bit values and 8-bit indices
        "cr_seed000": 100.0 / (wz * 16 / 32) if wz else float("inf"),
        "weight_bytes": sum(r.weight_bytes for r in rows),
        "float_bytes": 4 * params,
        # what this file really achieves: float32 weight bytes / weight bytes as written
        "cr_actual": 4 * params / max(1, sum(r.weight_bytes for r in rows)),
        "macs": sum(r.macs for r in rows),
    }


def choose_encoding(node: QNode, policy: str = "auto") -> str:
    """'auto' picks the smaller of dense and sparse_rel8 for this layer."""
    if policy in ("dense", "sparse_rel8"):
        return policy
    return "sparse_rel8" if sparse_bytes(node) < dense_bytes(node) else "dense"
