"""Weight sharing storage (docs/format.md 3.7): the stored values of any position layout are
replaced by ``bits``-bit codes into an int8 codebook of the layer.

The codebook is exactly the distinct stored values, so storing is lossless for any layer; it
pays when the layer has few distinct values, i.e. after k-means sharing
(edgecomp/passes/share.py) or at low weight bit widths.
"""
from __future__ import annotations

import math
import struct

import numpy as np

from ...errors import FormatError
from .bits import Take, pack_codes, unpack_codes
from .layouts import BY_KIND, Layout, Split

HEAD = struct.Struct("<BBH")  # bits, layout kind, n_codes


def code_bits(n_codes: int) -> int:
    return max(1, math.ceil(math.log2(n_codes))) if n_codes > 1 else 1


def shared_parts(split: Split, layout: Layout, aligned: bool = False) -> list[tuple[str, bytes]]:
    """The WEIGHTS_SHARED blob of a split, as named parts (header + codebook, index, codes).
    ``aligned`` widens the codes to 1, 2, 4 or 8 bits so that no code straddles a byte: what a
    bytewise Huffman coder (3.8) needs to see the codes' statistics."""
    codebook = np.unique(split.values) if len(split.values) else np.zeros(1, np.int8)
    bits = code_bits(len(codebook))
    if aligned:
        bits = next(b for b in (1, 2, 4, 8) if b >= bits)
    codes = np.searchsorted(codebook, split.values)
    head = HEAD.pack(bits, layout.kind, len(codebook)) + codebook.astype(np.int8).tobytes()
    return [("codebook", head), *split.index, ("codes", pack_codes(codes, bits))]


def shared_size(split: Split) -> int:
    n_codes = max(1, len(np.unique(split.values)))
    return (HEAD.size + n_codes + split.index_bytes()
            + (len(split.values) * code_bits(n_codes) + 7) // 8)


def decode(t: Take, count: int, c_out: int, k: int) -> tuple[np.ndarray, Layout, dict]:
    """Read a WEIGHTS_SHARED blob from t -> (dense weights, inner layout, its index info)."""
    what = t.what
    bits, kind, n_codes = HEAD.unpack(t.bytes(HEAD.size, "shared header"))
    if not 1 <= bits <= 8:
        raise FormatError(f"{what}: shared code width {bits} is not in [1, 8]")
    if kind not in BY_KIND:
        raise FormatError(f"{what}: shared weights over layout kind {kind}; allowed 1, 2, 9, "
                          "10, 11")
    if not 1 <= n_codes <= 1 << bits:
        raise FormatError(f"{what}: {n_codes} codebook entries, {bits}-bit codes allow 1.."
                          f"{1 << bits}")
    codebook = np.frombuffer(t.bytes(n_codes, "codebook"), np.int8)
    layout = BY_KIND[kind]
    idx = layout.read_index(t, count, c_out, k)
    n = idx["n_values"]
    codes = unpack_codes(t.bytes((n * bits + 7) // 8, "codes"), n, bits, what)
    if len(codes) and codes.max() >= n_codes:
        raise FormatError(f"{what}: code {int(codes.max())} at value {int(codes.argmax())} is "
                          f"past the codebook ({n_codes} entries)")
    return layout.expand(idx, codebook[codes], count, c_out, k, what), layout, idx
