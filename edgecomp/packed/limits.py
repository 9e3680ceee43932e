"""Resource limits of a model (docs/format.md 6.1), the same in the C reader (src/reader.h).

They stop a small hostile file from making a reader, a session or a run take unbounded memory or
time: the elements of all tensors together (every activation arena is below it), the CONV/FC
weights of all nodes together (what the readers scan, and what this reader expands sparse rows
into), and the multiply-accumulates and pool window reads of one run. Real networks are far
below each one (VGG-16: 1.4e8 weights, 1.5e10 MACs, 1.5e7 activations).
"""
from __future__ import annotations

import math

from ..errors import FormatError

MAX_TOTAL_ELEMENTS = 1 << 30
MAX_TOTAL_WEIGHTS = 1 << 28
MAX_TOTAL_WORK = 1 << 36


class Budget:
    """Running totals, charged node by node before any weight bytes are expanded."""

    def __init__(self) -> None:
        self.weights = 0
        self.work = 0

    def charge(self, what: str, weights: int, work: int) -> None:
        self.weights += weights
        self.work += work
        if self.weights > MAX_TOTAL_WEIGHTS:
            raise FormatError(f"{what}: the CONV/FC weights of the model reach {self.weights}, "
                              "more than the limit 2^28")
        if self.work > MAX_TOTAL_WORK:
            raise FormatError(f"{what}: one run of the model would take {self.work} MACs and "
                              "window reads, more than the limit 2^36")


def node_cost(model, node) -> tuple[int, int]:
    """(weights, work) a node is charged: CONV/FC C_out*K and out_elements*K; pools
    out_elements*kh*kw; every other op (0, 0) (bounded by the element limit)."""
    y = math.prod(model.tensors[node.outputs[0]].shape)
    if node.op in ("CONV", "FC"):
        c_out, k = node.weights.shape
        return c_out * k, y * k
    if node.op in ("MAXPOOL", "AVGPOOL"):
        return 0, y * node.params[0] * node.params[1]
    return 0, 0


def check_limits(model) -> None:
    """All three limits on a complete model (the compressor calls this before writing)."""
    elements = sum(math.prod(t.shape) for t in model.tensors)
    if elements > MAX_TOTAL_ELEMENTS:
        raise FormatError(f"the {len(model.tensors)} tensors hold {elements} elements together, "
                          "more than the limit 2^30")
    budget = Budget()
    for i, node in enumerate(model.nodes):
        budget.charge(f"node {i} {node.name!r} ({node.op})", *node_cost(model, node))
