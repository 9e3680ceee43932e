"""`edgecomp compress` options of the storage stage (edgecomp/storage.py): weight sharing,
per-layer weight bit widths, the weight encoding policy, Huffman coding and how much metadata
the file carries."""
from __future__ import annotations

from .packed.encodings import POLICIES


def add_storage_args(p) -> None:
    g = p.add_argument_group("storage (docs/format.md 3, docs/compression.md)")
    g.add_argument("--share-bits", metavar="SPEC",
                   help="k-means weight sharing, b = 2..8 bits per weight: one number for "
                   "every Conv/Gemm, or conv=B,fc=B,<layer>=B")
    g.add_argument("--share-scope", choices=("channel", "layer"), default="channel",
                   help="cluster each layer's weights in units of its per-channel quantization "
                   "scale (default) or of one scale for the layer")
    g.add_argument("--weight-bits", metavar="SPEC",
                   help="weight bit widths (2..8, default 8): one number, or conv=8,fc=6,"
                   "<layer>=4")
    g.add_argument("--encoding", choices=POLICIES, default="auto",
                   help="weight encoding per layer: auto (the smallest of all), a layout "
                   "(dense, rel8, rel4, bitmap, block) or shared (codebook + b-bit codes)")
    g.add_argument("--huffman", action="store_true",
                   help="Huffman code each weight blob when that makes it smaller "
                   "(decoded at load)")
    g.add_argument("--metadata", choices=("full", "minimal"), default="full",
                   help="METADATA section: full provenance (default), or minimal: only the "
                   "input preprocessing, the source's SHA-256 and the quantization mode")


def storage_kwargs(a) -> dict:
    return {"share_bits": a.share_bits, "share_scope": a.share_scope,
            "weight_bits": a.weight_bits, "encoding": a.encoding, "huffman": a.huffman,
            "metadata": a.metadata}
