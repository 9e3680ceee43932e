"""Per-layer size and sparsity figures of a QModel (what `edgecomp inspect` prints).

%W_Z and CR follow seed 000: %W_Z = weights the rel8 encoding stores (padding zeros included) /
dense weights, CR = 100 / (%W_Z * (WBW + SIBW) / 32) with WBW = SIBW = 8, whatever encoding the
writer chose. We also report the bytes actually written and their ratio to float32 weights
(cr_actual), which include the per-row index the seed's CR leaves out, and (``alternatives``)
what every other encoding of docs/format.md 3.2-3.8 would cost for the same layer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .encodings import LayerCodings, blob_size, choose
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
    # family -> (best encoding of that family, its bytes); only with layer_stats(alternatives=)
    alternatives: dict[str, tuple[str, int]] | None = None
    distinct: int = 0        # distinct non-zero int8 values (a shared layer has few)

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


def kernel_of(node: QNode) -> tuple[int, int] | None:
    """(kh, kw) of a CONV (the block lengths worth trying), None for FC."""
    return (node.params[0], node.params[1]) if node.op == "CONV" else None


def encoded_bytes(node: QNode) -> int:
    """Bytes of the node's weight blob in its weight_encoding, as the writer writes it."""
    if node.weight_encoding == "sparse_rel8":
        return sparse_bytes(node)
    if node.weight_encoding == "dense":
        return dense_bytes(node)
    return blob_size(node.weights, node.weight_encoding, kernel_of(node))


def layer_stats(model: QModel, alternatives: bool = False) -> list[LayerStats]:
    rows = []
    for node in model.nodes:
        out_shape = model.tensors[node.outputs[0]].shape
        if node.weights is None:
            rows.append(LayerStats(node.name, node.op, out_shape, 0, 0, 0, "-", 0, 0))
            continue
        nnz = int(np.count_nonzero(node.weights))
        alts = (LayerCodings(node.weights, kernel_of(node)).alternatives() if alternatives
                else None)
        rows.append(LayerStats(node.name, node.op, out_shape, int(node.weights.size), nnz,
                               stored_pairs(node.weights), node.weight_encoding,
                               encoded_bytes(node), layer_macs(model, node), alts,
                               int(len(np.unique(node.weights[node.weights != 0])))))
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


def choose_encoding(node: QNode, policy: str = "auto", huffman: bool = False) -> str:
    """The smallest weight encoding the policy allows for this layer (packed/encodings):
    'auto' tries every layout with raw and shared values, a layout name (dense, rel8 /
    sparse_rel8, rel4, bitmap, block) only that layout, 'shared' every layout with shared
    values; ``huffman`` also tries each Huffman coded and keeps it when smaller."""
    if policy in ("dense", "sparse_rel8") and not huffman:
        return policy
    return str(choose(node.weights, policy, huffman, kernel_of(node)))


def section_sizes(data: bytes) -> dict[str, int]:
    """Bytes of each section of a (valid) .ecm file, by name, plus header+table and trailer."""
    import struct

    from . import layout as L

    nsec = struct.unpack_from("<I", data, 24)[0]
    out = {"header": L.HEADER_SIZE + L.SECTION_ENTRY_SIZE * nsec}
    for i in range(nsec):
        t, _, _, size, _, _ = L.SECTION_ENTRY.unpack_from(data, L.HEADER_SIZE + 32 * i)
        out[L.SECTION_NAMES.get(t, f"type{t}")] = size
    out["padding"] = len(data) - L.TRAILER_SIZE - sum(out.values())
    out["sha256"] = L.TRAILER_SIZE
    return out
