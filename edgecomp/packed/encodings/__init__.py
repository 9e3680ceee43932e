"""Weight encodings of the packed format (docs/format.md 3.2-3.8), their sizes and the
writer's choice.

A layer's encoding is named by a string (``QNode.weight_encoding``):
``[huffman+][shared+]<layout>`` with layout ``dense``, ``sparse_rel8`` (seed 000), ``rel4``
(EIE), ``bitmap`` or ``block:B`` (B weights per block). ``shared+`` stores the values as codes
into a codebook (3.7), ``huffman+`` Huffman codes the resulting blob (3.8). Every encoding is
lossless: decoding gives back exactly the int8 weights.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ...errors import EdgecompError, FormatError
from . import huffman, shared
from .bits import Take
from .layouts import BY_KIND, Layout, Split, layout

KIND_NAMES = {1: "WEIGHTS_DENSE", 2: "WEIGHTS_SPARSE_REL8", 9: "WEIGHTS_SPARSE_REL4",
              10: "WEIGHTS_BITMAP", 11: "WEIGHTS_BLOCK", 12: "WEIGHTS_SHARED",
              13: "WEIGHTS_HUFFMAN"}
KIND_CODES = {v: k for k, v in KIND_NAMES.items()}
DECODED_KINDS = ("WEIGHTS_SPARSE_REL4", "WEIGHTS_BITMAP", "WEIGHTS_BLOCK", "WEIGHTS_SHARED",
                 "WEIGHTS_HUFFMAN")
MAX_DECODED = 1 << 28          # C_out * K of a layer stored in kinds 9-13 (3.3)
LAYOUTS = ("dense", "sparse_rel8", "rel4", "bitmap", "block")
# --encoding choices; "rel8" is the CLI's short name of sparse_rel8
POLICIES = ("auto", "dense", "rel8", "sparse_rel8", "rel4", "bitmap", "block", "shared")


@dataclass(frozen=True)
class WeightCoding:
    layout: str                 # one of LAYOUTS
    block_len: int = 0          # B of the block layout
    shared: bool = False
    huffman: bool = False

    def __str__(self) -> str:
        name = f"block:{self.block_len}" if self.layout == "block" else self.layout
        return ("huffman+" if self.huffman else "") + ("shared+" if self.shared else "") + name

    @staticmethod
    def parse(text: str) -> "WeightCoding":
        parts = str(text).split("+")
        name, flags = parts[-1], parts[:-1]
        lay, _, b = name.partition(":")
        ok = (lay in LAYOUTS and (b.isdigit() and int(b) > 0 if lay == "block" else not b)
              and flags in ([], ["shared"], ["huffman"], ["huffman", "shared"]))
        if not ok:
            raise EdgecompError(f"unknown weight encoding {text!r}: [huffman+][shared+]LAYOUT "
                                f"with LAYOUT one of dense, sparse_rel8, rel4, bitmap, block:B")
        return WeightCoding(lay, int(b) if b else 0, "shared" in flags, "huffman" in flags)

    @property
    def kind(self) -> int:
        if self.huffman:
            return 13
        if self.shared:
            return 12
        return layout(self.layout, self.block_len).kind


def _parts(w: np.ndarray, c: WeightCoding, split: Split | None = None) -> list[tuple[str, bytes]]:
    lay = layout(c.layout, c.block_len)
    s = split if split is not None else lay.split(w)
    return shared.shared_parts(s, lay, aligned=c.huffman) if c.shared else s.parts()


def encode_blob(weights: np.ndarray, coding: "WeightCoding | str") -> tuple[str, int, bytes]:
    """-> (blob kind name, count, blob bytes) of a [C_out, K] int8 weight matrix."""
    c = WeightCoding.parse(coding) if isinstance(coding, str) else coding
    w = np.ascontiguousarray(weights, dtype=np.int8)
    s = layout(c.layout, c.block_len).split(w)
    parts = [b for _, b in _parts(w, c, s)]
    inner = replace(c, huffman=False).kind
    data = huffman.encode(inner, parts) if c.huffman else b"".join(parts)
    return KIND_NAMES[c.kind], s.count, data


def decode_blob(kind: str, count: int, raw: bytes, c_out: int, k: int,
                what: str = "weights") -> tuple[np.ndarray, str]:
    """Blob of kind 1, 2 or 9-13 -> (dense [C_out, K] int8 weights, encoding name). Checks every
    rule of docs/format.md 3.2-3.8."""
    if kind in DECODED_KINDS and c_out * k > MAX_DECODED:
        raise FormatError(f"{what}: decoded weights of C_out*K = {c_out}*{k} exceed 2^28")
    if kind == "WEIGHTS_HUFFMAN":
        inner_kind, inner = huffman.decode(raw, what)
        w, name = decode_blob(KIND_NAMES[inner_kind], count, inner, c_out, k, what)
        return w, "huffman+" + name
    t = Take(raw, what)
    if kind == "WEIGHTS_SHARED":
        w, lay, idx = shared.decode(t, count, c_out, k)
        name = "shared+" + _layout_name(lay, idx)
    else:
        lay = BY_KIND[KIND_CODES[kind]]
        idx, values = lay.read(t, count, c_out, k)
        w = lay.expand(idx, values, count, c_out, k, what)
        name = _layout_name(lay, idx)
    if t.rest():
        raise FormatError(f"{what}: {kind} blob has {t.rest()} unexpected bytes after its "
                          "layout")
    return w, name


def _layout_name(lay: Layout, idx: dict) -> str:
    return f"block:{idx['b']}" if lay.kind == 11 else lay.name


# ---- sizes and the writer's choice ----

class LayerCodings:
    """All encodings of one layer's weights, with splits computed once per layout."""

    def __init__(self, weights: np.ndarray, kernel: tuple[int, int] | None = None) -> None:
        self.w = np.ascontiguousarray(weights, dtype=np.int8)
        self.kernel = kernel
        self._splits: dict[tuple[str, int], Split] = {}

    def block_lengths(self) -> list[int]:
        """Block lengths worth trying: a kernel row (vector), a 2-D kernel, the whole filter,
        and short runs for fully connected layers (N:M-like patterns)."""
        k = self.w.shape[1]
        cands = {k, 1, 2, 4, 8, 16}
        if self.kernel:
            cands |= {self.kernel[1], self.kernel[0] * self.kernel[1]}
        return sorted(b for b in cands if k % b == 0)

    def split(self, c: WeightCoding) -> Split:
        key = (c.layout, c.block_len)
        if key not in self._splits:
            self._splits[key] = layout(c.layout, c.block_len).split(self.w)
        return self._splits[key]

    def size(self, c: WeightCoding) -> int:
        s = self.split(c)
        if c.huffman:
            return huffman.coded_size([b for _, b in _parts(self.w, c, s)])
        if c.shared:
            return shared.shared_size(s)
        return s.index_bytes() + len(s.values)

    def candidates(self, policy: str = "auto", shared_ok: bool = True) -> list[WeightCoding]:
        if policy not in POLICIES:
            raise EdgecompError(f"unknown weight encoding policy {policy!r}: one of "
                                f"{', '.join(POLICIES)}")
        lays = {"rel8": ["sparse_rel8"]}.get(policy, [policy] if policy in LAYOUTS else
                                              list(LAYOUTS))
        base = []
        for lay in lays:
            if lay == "block":
                base += [WeightCoding("block", b) for b in self.block_lengths()]
            else:
                base.append(WeightCoding(lay))
        if policy == "shared":
            return [replace(c, shared=True) for c in base]
        if policy == "auto" and shared_ok:
            return base + [replace(c, shared=True) for c in base]
        return base

    def best(self, cands: list[WeightCoding], huffman_too: bool = False
             ) -> tuple[WeightCoding, int]:
        """Smallest candidate (the first on ties); with huffman_too, each also Huffman coded."""
        best, best_size = None, None
        pool = cands + ([replace(c, huffman=True) for c in cands] if huffman_too else [])
        for c in pool:
            n = self.size(c)
            if best_size is None or n < best_size:
                best, best_size = c, n
        return best, best_size

    def alternatives(self) -> dict[str, tuple[str, int]]:
        """The best encoding and its bytes for each family: what each method would cost."""
        out = {}
        for fam in ("dense", "rel8", "rel4", "bitmap", "block", "shared"):
            c, n = self.best(self.candidates(fam))
            out[fam] = (str(c), n)
        # the best Huffman-coded encoding, whether or not it beats the best plain one
        c, n = self.best([replace(x, huffman=True) for x in self.candidates("auto")])
        out["huffman"] = (str(c), n)
        return out


def choose(weights: np.ndarray, policy: str = "auto", huffman_coding: bool = False,
           kernel: tuple[int, int] | None = None) -> WeightCoding:
    """The smallest encoding the policy allows; with huffman_coding, Huffman coded when that is
    smaller."""
    lc = LayerCodings(weights, kernel)
    return lc.best(lc.candidates(policy), huffman_too=huffman_coding)[0]


def blob_size(weights: np.ndarray, coding: "WeightCoding | str",
              kernel: tuple[int, int] | None = None) -> int:
    c = WeightCoding.parse(coding) if isinstance(coding, str) else coding
    return LayerCodings(weights, kernel).size(c)
