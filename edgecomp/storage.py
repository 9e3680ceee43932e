"""The storage stage of the compression pipeline: weight sharing before quantization, per-layer
weight bit widths, and the per-layer choice of weight encoding after it (docs/format.md 3).

compress.py calls these in order: ``share`` (float graph, after pruning), ``weight_bits``
(for the quantizer), ``encode`` (the QModel's layers). Each returns what it did, for the
pass list and the model's metadata.
"""
from __future__ import annotations

from typing import Any

from .errors import EdgecompError
from .ir import Graph
from .packed.encodings import POLICIES
from .packed.model import QModel
from .packed.stats import choose_encoding, encoded_bytes
from .passes.prune import prunable_layers
from .passes.share import ShareResult, bits_for, check_spec_layers, parse_bits_spec, share_graph
from .progress import progress

WEIGHT_BITS = (2, 8)


def share(graph: Graph, share_bits, mode: str = "affine", weight_bits: dict[str, int] | None = None,
          scope: str = "channel") -> dict[str, ShareResult]:
    """k-means weight sharing (passes/share.py) of the layers ``share_bits`` names, in place,
    on the grid of the scales the quantizer (``mode``, ``weight_bits``) will use."""
    if share_bits in (None, "", 0, {}):
        return {}
    return share_graph(graph, share_bits, mode, weight_bits, scope)


def weight_scales(results: dict[str, ShareResult]) -> dict[str, Any]:
    """{layer: per-channel scale} for the quantizer (Quantizer(weight_scales=...))."""
    return {name: r.scale for name, r in results.items() if r.scale is not None}


def weight_bits(graph: Graph, spec) -> dict[str, int]:
    """``--weight-bits`` (``6`` or ``conv=8,fc=6,<layer>=4``) -> {layer name: bits} for the
    quantizer; layers not named keep 8 bits."""
    parsed = parse_bits_spec(spec, "--weight-bits")
    check_spec_layers(parsed, graph, "--weight-bits")
    out = {}
    for node in prunable_layers(graph):
        b = bits_for(parsed, node.name, node.op)
        if b is None:
            continue
        if not WEIGHT_BITS[0] <= b <= WEIGHT_BITS[1]:
            raise EdgecompError(f"--weight-bits: node {node.name!r} gets {b} bits; weights take "
                                f"{WEIGHT_BITS[0]}..{WEIGHT_BITS[1]}")
        out[node.name] = b
    return out


def encode(qmodel: QModel, policy: str = "auto", huffman: bool = False,
           show_progress: bool = True) -> dict[str, Any]:
    """Choose every weighted layer's encoding (the smallest the policy allows)."""
    policy = "sparse_rel8" if policy == "rel8" else policy
    if policy not in POLICIES:
        raise EdgecompError(f"unknown --encoding {policy!r}: one of {', '.join(POLICIES)}")
    nodes = [n for n in qmodel.nodes if n.weights is not None]
    counts: dict[str, int] = {}
    for node in progress(nodes, "encoding weights", len(nodes), show_progress):
        node.weight_encoding = choose_encoding(node, policy, huffman)
        counts[node.weight_encoding] = counts.get(node.weight_encoding, 0) + 1
    return {"policy": policy, "huffman": bool(huffman), "layers": counts,
            "weight_bytes": sum(encoded_bytes(n) for n in nodes)}


def sharing_metadata(results: dict[str, ShareResult]) -> dict[str, Any]:
    return {name: {"bits": r.bits, "centroids": r.centroids, "used": r.used,
                   "rel_error": round(r.rel_error, 6)} for name, r in results.items()}
