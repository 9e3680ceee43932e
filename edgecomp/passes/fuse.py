"""Fold standalone Relu / Clip into the Conv, Gemm or Add that produces their input.

A Relu or Clip whose input is produced by a Conv/Gemm/Add (with no activation yet), where it is
that tensor's only consumer and the tensor is not a graph output, becomes the producer's
``activation`` attribute: ``'relu'`` (Relu, or Clip(0, +inf)), ``'relu6'`` (Clip(0, 6)) or
``('clip', lo, hi)``. The producer takes over the activation's output name, so graph outputs keep
their names. Integer kernels then apply the activation as the output clamp for free.
"""
from __future__ import annotations

import math

from ..ir import Graph, Node

FUSE_INTO = ("Conv", "Gemm", "Add")


def activation_of(node: Node):
    """The fused-activation value equivalent to a Relu/Clip node."""
    if node.op == "Relu":
        return "relu"
    lo = float(node.attrs.get("min", -math.inf))
    hi = float(node.attrs.get("max", math.inf))
    if lo == 0.0 and hi == math.inf:
        return "relu"
    if lo == 0.0 and hi == 6.0:
        return "relu6"
    return ("clip", lo, hi)


def fuse_activations(graph: Graph) -> Graph:
    """Return a copy of ``graph`` with activations fused (the input graph is not changed)."""
    g = graph.copy()
    producer = {t: n for n in g.nodes for t in n.outputs}
    consumers: dict[str, int] = {}
    for n in g.nodes:
        for t in n.inputs:
            consumers[t] = consumers.get(t, 0) + 1
    removed: set[int] = set()
    for node in g.nodes:
        if node.op not in ("Relu", "Clip"):
            continue
        x = node.inputs[0]
        p = producer.get(x)
        if (p is None or p.op not in FUSE_INTO or p.attrs.get("activation") is not None
                or consumers.get(x) != 1 or x in g.outputs):
            continue
        p.attrs["activation"] = activation_of(node)
        p.outputs[p.outputs.index(x)] = node.outputs[0]
        p.source.extend(s for s in node.source if s not in p.source)
        producer[node.outputs[0]] = p
        del g.tensors[x]
        removed.add(id(node))
    g.nodes = [n for n in g.nodes if id(n) not in removed]
    g.validate()
    return g
