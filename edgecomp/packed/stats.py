"""Per-layer size and sparsity figures of a QModel (what `edgecomp inspect` prints).

%W_Z and CR follow seed 000: %W_Z = stored weights (padding zeros included) / dense weights,
CR = 100 / (%W_Z * (WBW + SIBW) / 32) with WBW = SIBW = 8. We also report the exact bytes, which
include the per-row index, the biases and the requantization arrays that CR leaves out.
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
    stored: int              # weights stored (rel8 pairs incl. padding, or dense count)
    encoding: str
    weight_bytes: int        # bytes of the weight blob as written
    macs: int                # multiply-accumulates of the dense layer

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzeros / self.params if self.params else 0.0

    @property
    def wz_percent(self) -> float:
        return 100.0 * self.stored / self.params if self.params else 0.0


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
        if node.weight_encoding == "sparse_rel8":
            stored, wbytes = stored_pairs(node.weights), sparse_bytes(node)
        else:
            stored, wbytes = int(node.weights.size), dense_bytes(node)
        rows.append(LayerStats(node.name, node.op, out_shape, int(node.weights.size), nnz,
                               stored, node.weight_encoding, wbytes, layer_macs(model, node)))
    return rows


def model_totals(rows: list[LayerStats]) -> dict[str, float]:
    params = sum(r.params for r in rows)
    stored = sum(r.stored for r in rows)
    nnz = sum(r.nonzeros for r in rows)
    wz = 100.0 * stored / params if params else 0.0
    return {
        "params": params, "nonzeros": nnz, "stored": stored,
        "sparsity": 1 - nnz / params if params else 0.0,
        "wz_percent": wz,
        # seed 000 eq. (1), against 32-bit float weights, with 8-bit values and 8-bit indices
        "cr_seed000": 100.0 / (wz * 16 / 32) if wz else float("inf"),
        "weight_bytes": sum(r.weight_bytes for r in rows),
        "float_bytes": 4 * params,
        "macs": sum(r.macs for r in rows),
    }


def choose_encoding(node: QNode, policy: str = "auto") -> str:
    """'auto' picks the smaller of dense and sparse_rel8 for this layer."""
    if policy in ("dense", "sparse_rel8"):
        return policy
    return "sparse_rel8" if sparse_bytes(node) < dense_bytes(node) else "dense"
