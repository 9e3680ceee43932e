"""Canonical, length-limited Huffman coding of byte streams (seed 003's last stage; the blob
layout is docs/format.md 3.8).

Code lengths come from package-merge, so they are optimal under the 15-bit limit; codes are
canonical, so a table is only (symbol, length) pairs; bits are written MSB first. The decoder
checks everything the C runtime checks (runtime/src/decode_huffman.c): table ranges, a complete
code, exactly ``raw_bytes`` symbols, no bits past the stream, unused bits zero.
"""
from __future__ import annotations

import heapq
import itertools
import struct

import numpy as np

from ...errors import FormatError
from .bits import Take

MAX_LEN = 15
MAX_STREAMS = 8
HEAD = struct.Struct("<III")          # inner_kind, inner_size, n_streams
STREAM_HEAD = struct.Struct("<IIH")   # raw_bytes, coded_bytes, n_symbols


def code_lengths(hist: np.ndarray, limit: int = MAX_LEN) -> np.ndarray:
    """Optimal code lengths (0 for unused symbols) under ``limit`` bits. One used symbol gets
    length 1; no used symbol gives symbol 0 length 1 (a valid table)."""
    hist = np.asarray(hist, dtype=np.int64)
    used = np.flatnonzero(hist)
    lengths = np.zeros(len(hist), np.int64)
    if len(used) <= 1:
        lengths[used[0] if len(used) else 0] = 1
        return lengths
    lengths[used] = _huffman_lengths(hist[used])
    if lengths.max() > limit:  # rare (very skewed counts): the limited optimum instead
        lengths[used] = _package_merge(hist[used], limit)
    return lengths


def _huffman_lengths(weights: np.ndarray) -> np.ndarray:
    """Plain Huffman: merge the two lightest trees until one is left."""
    heap = [(int(w), i, [i]) for i, w in enumerate(weights)]
    heapq.heapify(heap)
    depth = np.zeros(len(weights), np.int64)
    tie = len(weights)
    while len(heap) > 1:
        w1, _, a = heapq.heappop(heap)
        w2, _, b = heapq.heappop(heap)
        depth[a + b] += 1
        heapq.heappush(heap, (w1 + w2, tie, a + b))
        tie += 1
    return depth


def _package_merge(weights: np.ndarray, limit: int) -> np.ndarray:
    """Optimal lengths under a limit (Larmore-Hirschberg): package pairs level by level, keep
    the 2n-2 lightest items; a symbol's length is the number of kept items holding it."""
    n = len(weights)
    order = np.argsort(weights, kind="stable")
    leaf_w = weights[order]
    leaf_c = np.eye(n, dtype=np.int32)           # each item: how often it holds each leaf
    items_w, items_c = leaf_w, leaf_c
    for _ in range(limit - 1):
        m = len(items_w) // 2 * 2
        w = np.concatenate([leaf_w, items_w[0:m:2] + items_w[1:m:2]])
        c = np.concatenate([leaf_c, items_c[0:m:2] + items_c[1:m:2]])
        s = np.argsort(w, kind="stable")
        items_w, items_c = w[s], c[s]
    out = np.zeros(n, np.int64)
    out[order] = items_c[:2 * n - 2].sum(axis=0)
    return out


def canonical_codes(symbols: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Codes of ``symbols`` (strictly increasing) with ``lengths``, canonical order."""
    codes = np.zeros(len(symbols), np.int64)
    code, prev = 0, 0
    for i in np.lexsort((symbols, lengths)):
        code <<= int(lengths[i]) - prev
        prev = int(lengths[i])
        codes[i] = code
        code += 1
    return codes


def stream_size(hist: np.ndarray) -> int:
    """Bytes of one coded stream (head, table, bits) for a byte histogram."""
    lengths = code_lengths(hist)
    used = int(np.count_nonzero(lengths))
    return STREAM_HEAD.size + 2 * used + (int((hist * lengths).sum()) + 7) // 8


def _hist(data: bytes) -> np.ndarray:
    return np.bincount(np.frombuffer(data, np.uint8), minlength=256).astype(np.int64)


def best_partition(parts: list[bytes]) -> tuple[list[int], int]:
    """Cut the parts (in order) into at most MAX_STREAMS contiguous streams of least total
    size; returns (stream sizes in parts, coded size of the whole blob)."""
    hists = [_hist(p) for p in parts]
    n = len(parts)
    group_size: dict[tuple[int, int], int] = {}

    def size_of(a: int, b: int) -> int:
        if (a, b) not in group_size:
            group_size[(a, b)] = stream_size(sum(hists[a:b]))
        return group_size[(a, b)]

    best, best_size = None, None
    for cuts in itertools.product((0, 1), repeat=max(0, n - 1)):
        bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [n]
        if len(bounds) - 1 > MAX_STREAMS:
            continue
        size = HEAD.size + sum(size_of(a, b) for a, b in zip(bounds, bounds[1:]))
        if best_size is None or size < best_size:
            best, best_size = [b - a for a, b in zip(bounds, bounds[1:])], size
    return best, best_size


def _encode_stream(data: bytes) -> bytes:
    sym = np.frombuffer(data, np.uint8)
    lengths = code_lengths(_hist(data))
    used = np.flatnonzero(lengths)
    codes = np.zeros(256, np.int64)
    codes[used] = canonical_codes(used, lengths[used])
    ls, cs = lengths[sym], codes[sym]
    total = int(ls.sum())
    starts = np.cumsum(ls) - ls
    bitarr = np.zeros(total, np.uint8)
    for j in range(MAX_LEN):
        sel = ls > j
        bitarr[starts[sel] + j] = (cs[sel] >> (ls[sel] - 1 - j)) & 1
    coded = np.packbits(bitarr).tobytes()
    return (STREAM_HEAD.pack(len(data), len(coded), len(used))
            + used.astype(np.uint8).tobytes() + lengths[used].astype(np.uint8).tobytes() + coded)


def encode(inner_kind: int, parts: list[bytes]) -> bytes:
    """The WEIGHTS_HUFFMAN blob of an inner blob given as its parts (cut points)."""
    sizes, _ = best_partition(parts)
    streams, i = [], 0
    for n in sizes:
        streams.append(b"".join(parts[i:i + n]))
        i += n
    body = b"".join(_encode_stream(s) for s in streams)
    return HEAD.pack(inner_kind, sum(len(p) for p in parts), len(streams)) + body


def coded_size(parts: list[bytes]) -> int:
    return best_partition(parts)[1]


# ---- decoding ----

def _table(symbols: np.ndarray, lengths: np.ndarray, what: str) -> None:
    n = len(symbols)
    if not 1 <= n <= 256:
        raise FormatError(f"{what}: {n} symbols, a table has 1..256")
    if np.any(np.diff(symbols.astype(np.int64)) <= 0):
        raise FormatError(f"{what}: table symbols are not strictly increasing")
    if np.any(lengths < 1) or np.any(lengths > MAX_LEN):
        raise FormatError(f"{what}: code lengths must be in [1, {MAX_LEN}]")
    kraft = int((1 << (MAX_LEN - lengths.astype(np.int64))).sum())
    if not (kraft == 1 << MAX_LEN or (n == 1 and lengths[0] == 1)):
        raise FormatError(f"{what}: code lengths do not make a complete prefix code "
                          f"(Kraft sum {kraft}/{1 << MAX_LEN})")


def _decode_stream(bits_raw: bytes, raw_bytes: int, symbols, lengths, what: str) -> bytes:
    maxlen = int(lengths.max())
    codes = canonical_codes(symbols, lengths)
    lut_sym = np.zeros(1 << maxlen, np.uint8)
    lut_len = np.zeros(1 << maxlen, np.int64)       # 0: no code starts with these bits
    for s, l, c in zip(symbols, lengths, codes):
        lo = int(c) << (maxlen - int(l))
        lut_sym[lo:lo + (1 << (maxlen - int(l)))] = s
        lut_len[lo:lo + (1 << (maxlen - int(l)))] = l
    bits = np.unpackbits(np.frombuffer(bits_raw, np.uint8))
    nbits = len(bits)
    padded = np.concatenate([bits, np.zeros(maxlen, np.uint8)]).astype(np.int64)
    out = bytearray(raw_bytes)
    p, i, chunk = 0, 0, 1 << 20
    while i < raw_bytes:
        # windows of maxlen bits for a chunk of start positions, then a plain walk
        hi = min(nbits, p + chunk)
        if p >= nbits:
            raise FormatError(f"{what}: bit stream ends after {i} of {raw_bytes} symbols")
        win = np.zeros(hi - p, np.int64)
        for j in range(maxlen):
            win = (win << 1) | padded[p + j:hi + j]
        lens = lut_len[win].tolist()
        syms = lut_sym[win].tolist()
        base = p
        while i < raw_bytes and p < hi:
            n = lens[p - base]
            if n == 0:
                raise FormatError(f"{what}: invalid code at bit {p}")
            if p + n > nbits:
                raise FormatError(f"{what}: bit stream ends inside a code after {i} of "
                                  f"{raw_bytes} symbols")
            out[i] = syms[p - base]
            i += 1
            p += n
    if (p + 7) // 8 != len(bits_raw) or bits[p:].any():
        raise FormatError(f"{what}: {len(bits_raw)} coded bytes, the {raw_bytes} symbols use "
                          f"{p} bits (unused bits must be 0 and no byte may be left over)")
    return bytes(out)


def decode(raw: bytes, what: str) -> tuple[int, bytes]:
    """WEIGHTS_HUFFMAN blob -> (inner kind, inner blob bytes). Heads and tables are all checked
    before anything is allocated for the decoded bytes."""
    t = Take(raw, what)
    inner_kind, inner_size, n_streams = HEAD.unpack(t.bytes(HEAD.size, "Huffman header"))
    if inner_kind not in (1, 2, 9, 10, 11, 12):
        raise FormatError(f"{what}: Huffman blob codes a blob of kind {inner_kind}; only weight "
                          "kinds 1, 2, 9-12 may be coded")
    if not 1 <= n_streams <= MAX_STREAMS:
        raise FormatError(f"{what}: {n_streams} Huffman streams, allowed 1..{MAX_STREAMS}")
    streams = []
    for s in range(n_streams):
        sw = f"{what}: Huffman stream {s}"
        raw_bytes, coded, n_sym = STREAM_HEAD.unpack(t.bytes(STREAM_HEAD.size, "stream head"))
        symbols = np.frombuffer(t.bytes(n_sym, "symbol table"), np.uint8)
        lengths = np.frombuffer(t.bytes(n_sym, "length table"), np.uint8).astype(np.int64)
        _table(symbols, lengths, sw)
        if raw_bytes > 8 * coded:
            raise FormatError(f"{sw}: {raw_bytes} symbols cannot fit in {coded} coded bytes")
        streams.append((raw_bytes, t.bytes(coded, "bit stream"), symbols, lengths, sw))
    if t.rest():
        raise FormatError(f"{what}: {t.rest()} unexpected bytes after the last Huffman stream")
    if sum(s[0] for s in streams) != inner_size:
        raise FormatError(f"{what}: the streams decode to {sum(s[0] for s in streams)} bytes, "
                          f"the header says {inner_size}")
    return inner_kind, b"".join(_decode_stream(b, n, sy, ln, w) for n, b, sy, ln, w in streams)
