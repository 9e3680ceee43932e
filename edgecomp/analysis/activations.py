"""Activation sparsity and seed 000's activation %, counted exactly from one run's int8 tensors.

For a CONV or FC node with input x (zero point zx), weights w and output y (zero point zy), a
*MAC* is one (output element, weight position) pair of the dense layer; ``dense`` counts all of
them, padding positions included. Over those MACs (docs/analysis.md has the full definitions):

- ``in_bounds``: the input position lies inside the input (not padding).
- ``nonzero_w``: in bounds and w != 0: what a kernel that skips zero weights executes.
- ``nonzero_x``: in bounds and x != zx: what a kernel that skips only zero activations
  executes.
- ``both_nonzero``: in bounds, w != 0 and x != zx (a non-zero real input): what a kernel that
  also skips zero activations executes. ``act_operand_pct = 100 * both_nonzero / dense``.
- ``result_nonzero``: MACs of output elements that are non-zero (y != zy) after requantization
  and the fused activation, i.e. whose accumulation was not thrown away by the ReLU;
  ``act_result_pct = 100 * result_nonzero / dense`` (seed 000's "MAC operations which output
  non-zero valued results"). All outputs of a layer have the same dense MAC count, so this is
  the layer's output density.

Counting needs no second convolution: for each kernel tap (c, ky, kx), the number of output
positions whose input at that tap is non-zero is a strided sum over the non-zero map of x; the
MAC counts are dot products of those tap counts with the per-tap count of non-zero weights.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..packed.model import QModel, QNode

COUNTED_OPS = ("CONV", "FC")


@dataclass
class NodeCounts:
    """Counts for one node, summed over images."""
    images: int = 0
    in_values: int = 0
    in_nonzero: int = 0
    out_values: int = 0
    out_nonzero: int = 0
    dense: int = 0
    in_bounds: int = 0
    nonzero_w: int = 0
    nonzero_x: int = 0
    both_nonzero: int = 0
    result_nonzero: int = 0

    def add(self, other: "NodeCounts") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


def _valid_range(n_in: int, n_out: int, stride: int, offset: int) -> tuple[int, int]:
    """Output indices o in [lo, hi) with 0 <= o * stride + offset < n_in."""
    lo = max(0, (-offset + stride - 1) // stride)
    hi = min(n_out, (n_in - 1 - offset) // stride + 1)
    return lo, max(lo, hi)


def tap_counts(nz: np.ndarray, node: QNode, out_hw: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray]:
    """For a CONV: (non-zero input count per tap [C, kh, kw], in-bounds count per tap [kh, kw])
    over all output positions."""
    kh, kw, sh, sw, pt, pl, _, _, dh, dw = node.params[:10]
    c, h, w = nz.shape
    ho, wo = out_hw
    nzc = np.zeros((c, kh, kw), dtype=np.int64)
    inb = np.zeros((kh, kw), dtype=np.int64)
    for ky in range(kh):
        oy0, oy1 = _valid_range(h, ho, sh, ky * dh - pt)
        if oy1 <= oy0:
            continue
        iy0 = oy0 * sh + ky * dh - pt
        rows = nz[:, iy0:iy0 + (oy1 - oy0 - 1) * sh + 1:sh, :]
        for kx in range(kw):
            ox0, ox1 = _valid_range(w, wo, sw, kx * dw - pl)
            if ox1 <= ox0:
                continue
            ix0 = ox0 * sw + kx * dw - pl
            nzc[:, ky, kx] = rows[:, :, ix0:ix0 + (ox1 - ox0 - 1) * sw + 1:sw].sum(axis=(1, 2))
            inb[ky, kx] = (oy1 - oy0) * (ox1 - ox0)
    return nzc, inb


def count_node(model: QModel, node: QNode, x: np.ndarray, y: np.ndarray) -> NodeCounts:
    xt = model.tensors[node.inputs[0]]
    yt = model.tensors[node.outputs[0]]
    nz = np.asarray(x) != np.int8(xt.zero_point)
    out_nz = int(np.count_nonzero(np.asarray(y) != np.int8(yt.zero_point)))
    counts = NodeCounts(1, int(nz.size), int(nz.sum()), int(y.size), out_nz)
    if node.op not in COUNTED_OPS:
        return counts
    wmask = node.weights != 0
    co, k = wmask.shape
    if node.op == "FC":
        counts.dense = counts.in_bounds = co * k
        counts.nonzero_w = int(wmask.sum())
        counts.nonzero_x = co * int(nz.sum())
        counts.both_nonzero = int(wmask.sum(axis=0) @ nz.reshape(-1))
        counts.result_nonzero = out_nz * k
        return counts
    kh, kw = node.params[0], node.params[1]
    groups = node.params[10]
    _, _, ho, wo = yt.shape
    nzc, inb = tap_counts(nz[0], node, (ho, wo))
    cg, cog = xt.shape[1] // groups, co // groups
    both = nonzero_w = 0
    for g in range(groups):
        wcount = wmask[g * cog:(g + 1) * cog].sum(axis=0).reshape(cg, kh, kw).astype(np.int64)
        both += int((wcount * nzc[g * cg:(g + 1) * cg]).sum())
        nonzero_w += int((wcount * inb[None]).sum())
    counts.dense = co * ho * wo * k
    counts.in_bounds = co * cg * int(inb.sum())
    counts.nonzero_w = nonzero_w
    counts.nonzero_x = cog * int(nzc.sum())
    counts.both_nonzero = both
    counts.result_nonzero = out_nz * k
    return counts


def count_run(model: QModel, values: dict[int, np.ndarray]) -> list[NodeCounts]:
    """Counts of every node for one image (``values``: every tensor of the run)."""
    return [count_node(model, n, values[n.inputs[0]], values[n.outputs[0]])
            for n in model.nodes]


def layer_summary(node: QNode, c: NodeCounts) -> dict:
    """Percentages and savings of one node from its summed counts."""
    pct = (lambda a, b: 100.0 * a / b if b else None)
    row = {
        "name": node.name, "op": node.op, "images": c.images,
        "input_density_pct": pct(c.in_nonzero, c.in_values),
        "output_density_pct": pct(c.out_nonzero, c.out_values),
    }
    if node.op in COUNTED_OPS:
        n = max(c.images, 1)
        row.update({
            "dense_macs": c.dense // n,
            "act_operand_pct": pct(c.both_nonzero, c.dense),
            "act_result_pct": pct(c.result_nonzero, c.dense),
            "nonzero_weight_macs": c.nonzero_w / n,
            "zero_skip_macs": c.both_nonzero / n,
            "saved_padding_macs": (c.dense - c.in_bounds) / n,
            "saved_zero_weight_macs": (c.in_bounds - c.nonzero_w) / n,
            "saved_zero_activation_macs": (c.nonzero_w - c.both_nonzero) / n,
            "saved_pct": pct(c.dense - c.both_nonzero, c.dense),
        })
    return row


def model_summary(model: QModel, totals: list[NodeCounts]) -> dict:
    """MAC-weighted totals over the counted layers (seed 000 Table III's %ACT)."""
    sel = [c for n, c in zip(model.nodes, totals) if n.op in COUNTED_OPS]
    dense = sum(c.dense for c in sel)
    pct = (lambda a: 100.0 * a / dense if dense else None)
    n = max(max((c.images for c in sel), default=1), 1)
    return {
        "dense_macs": dense // n,
        "act_operand_pct": pct(sum(c.both_nonzero for c in sel)),
        "act_result_pct": pct(sum(c.result_nonzero for c in sel)),
        "nonzero_weight_macs": sum(c.nonzero_w for c in sel) / n,
        "zero_skip_macs": sum(c.both_nonzero for c in sel) / n,
        "saved_by_weight_skipping_pct": pct(sum(c.dense - c.nonzero_w for c in sel)),
        "saved_by_zero_skipping_pct": pct(sum(c.dense - c.both_nonzero for c in sel)),
    }
