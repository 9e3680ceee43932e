"""Eyeriss run-length coding of activations (seed 002, section III-B), exact bit stream.

Each chunk (``base.chunk_starts``) is a sequence of (run, level) pairs: ``run`` zeros (5 bits,
0..31) followed by one value ``level`` (16 bits). Three pairs fill a 64-bit word, the top bit
of the word is the last-word flag (1 in the last word of a chunk):

    bit  0.. 4  run 0     bit  5..20  level 0
    bit 21..25  run 1     bit 26..41  level 1
    bit 42..46  run 2     bit 47..62  level 2
    bit 63      last word of the chunk

Words are stored little-endian. Unused pair slots of a chunk's last word are all-zero bits; the
decoder stops when the chunk's element count (known from the shape) is reached.

8-bit activations in the 16-bit level: ``level = q - zero_point``, the integer the MAC unit
multiplies (``x - zx`` in docs/format.md section 5), in -255..255, as 16-bit two's complement.
A real zero is level 0. Runs longer than 31 zeros are split by pairs (31, level 0), each
standing for 32 zeros; trailing zeros of a chunk are covered the same way, the final pair
(r, 0) standing for r + 1 zeros.
"""
from __future__ import annotations

import numpy as np

from ...errors import FormatError
from .base import Codec, Encoded, check_input, chunk_starts

RUN_BITS, LEVEL_BITS, PAIRS_PER_WORD = 5, 16, 3
MAX_RUN = (1 << RUN_BITS) - 1                  # 31
PAIR_BITS = RUN_BITS + LEVEL_BITS              # 21
LAST_FLAG = np.uint64(1) << np.uint64(63)
PAIR_MASK = np.uint64((1 << PAIR_BITS) - 1)


class RleCodec(Codec):
    name = "rle"
    lossless = True

    def encode(self, q: np.ndarray, zero_point: int) -> Encoded:
        q = check_input(q, zero_point, self.name)
        starts = chunk_starts(q.shape)
        runs, levels, pair_chunk = _pairs(q.reshape(-1).astype(np.int32) - int(zero_point),
                                          starts)
        words, per_chunk = _pack(runs, levels, pair_chunk, len(starts) - 1)
        return Encoded(self.name, tuple(q.shape), int(zero_point),
                       words.astype("<u8").tobytes(), 8 * per_chunk)

    def decode(self, enc: Encoded) -> np.ndarray:
        return _unpack(enc.data, enc.shape, enc.zero_point)


def _pairs(v: np.ndarray, starts: np.ndarray):
    """(run, level, chunk) of every pair in stream order (chunks in order, pairs within)."""
    m = len(starts) - 1
    nz = np.flatnonzero(v)
    nz_chunk = np.searchsorted(starts, nz, side="right") - 1
    prev = np.empty_like(nz)
    prev[1:] = nz[:-1]
    first = np.ones(len(nz), dtype=bool)
    first[1:] = nz_chunk[1:] != nz_chunk[:-1]
    prev[first] = starts[nz_chunk[first]] - 1
    gap = nz - prev - 1
    # Zeros after the last non-zero of each chunk (the whole chunk if it has none).
    last = starts[:-1] - 1
    if len(nz):
        last_of = np.ones(len(nz), dtype=bool)
        last_of[:-1] = nz_chunk[:-1] != nz_chunk[1:]
        last[nz_chunk[last_of]] = nz[last_of]
    tail = starts[1:] - 1 - last
    tail_rem = tail % (MAX_RUN + 1)
    # Events: one per non-zero (gap fillers then the value pair) and one per chunk (its tail).
    ev_key = np.concatenate([nz.astype(np.float64), starts[1:] - 0.5])
    ev_fill = np.concatenate([gap // (MAX_RUN + 1), tail // (MAX_RUN + 1)])
    ev_run = np.concatenate([gap % (MAX_RUN + 1), np.maximum(tail_rem - 1, 0)])
    ev_level = np.concatenate([v[nz], np.zeros(m, dtype=v.dtype)])
    ev_count = ev_fill + np.concatenate([np.ones(len(nz), np.int64), (tail_rem > 0)])
    ev_chunk = np.concatenate([nz_chunk, np.arange(m)])
    order = np.argsort(ev_key, kind="stable")
    ev_fill, ev_run, ev_level, ev_count, ev_chunk = (
        a[order] for a in (ev_fill, ev_run, ev_level, ev_count, ev_chunk))
    ev_of = np.repeat(np.arange(len(order)), ev_count)
    idx = np.arange(len(ev_of)) - np.repeat(np.cumsum(ev_count) - ev_count, ev_count)
    filler = idx < ev_fill[ev_of]
    runs = np.where(filler, MAX_RUN, ev_run[ev_of])
    levels = np.where(filler, 0, ev_level[ev_of])
    return runs, levels, ev_chunk[ev_of]


def _pack(runs, levels, pair_chunk, m: int):
    per_chunk_pairs = np.bincount(pair_chunk, minlength=m)
    per_chunk_words = -(-per_chunk_pairs // PAIRS_PER_WORD)
    word_start = np.concatenate([[0], np.cumsum(per_chunk_words)])
    pair_in_chunk = np.arange(len(runs)) - np.repeat(
        np.cumsum(per_chunk_pairs) - per_chunk_pairs, per_chunk_pairs)
    slots = np.zeros((int(word_start[-1]), PAIRS_PER_WORD), dtype=np.uint64)
    fields = (runs.astype(np.uint64)
              | ((levels.astype(np.int64) & 0xFFFF).astype(np.uint64) << np.uint64(RUN_BITS)))
    slots[word_start[pair_chunk] + pair_in_chunk // PAIRS_PER_WORD,
          pair_in_chunk % PAIRS_PER_WORD] = fields
    words = (slots[:, 0] | (slots[:, 1] << np.uint64(PAIR_BITS))
             | (slots[:, 2] << np.uint64(2 * PAIR_BITS)))
    words[word_start[1:] - 1] |= LAST_FLAG
    return words, per_chunk_words


def _unpack(data: bytes, shape: tuple[int, ...], zero_point: int) -> np.ndarray:
    if len(data) % 8:
        raise FormatError(f"rle stream: {len(data)} bytes is not a whole number of 64-bit words")
    words = np.frombuffer(data, dtype="<u8").astype(np.uint64)
    starts = chunk_starts(shape)
    m = len(starts) - 1
    ends = np.flatnonzero(words & LAST_FLAG)
    if len(ends) != m or (m and ends[-1] != len(words) - 1):
        raise FormatError(f"rle stream: {len(ends)} chunks end in {len(words)} words, the shape "
                          f"{tuple(shape)} has {m} chunks")
    word_chunk = np.repeat(np.arange(m), np.diff(np.concatenate([[-1], ends])))
    fields = np.stack([(words >> np.uint64(PAIR_BITS * s)) & PAIR_MASK
                       for s in range(PAIRS_PER_WORD)], axis=1).reshape(-1)
    pair_chunk = np.repeat(word_chunk, PAIRS_PER_WORD)
    runs = (fields & np.uint64(MAX_RUN)).astype(np.int64)
    levels = ((fields >> np.uint64(RUN_BITS)).astype(np.int64) ^ 0x8000) - 0x8000
    used = runs + 1
    chunk_first = np.searchsorted(pair_chunk, np.arange(m))
    cum = np.cumsum(used)
    before = cum - used - (cum - used)[chunk_first][pair_chunk]
    n = np.diff(starts)
    valid = before < n[pair_chunk]
    covered = np.bincount(pair_chunk, weights=np.where(valid, used, 0), minlength=m)
    bad = np.flatnonzero(covered != n)
    if len(bad):
        c = int(bad[0])
        raise FormatError(f"rle stream: chunk {c} decodes to {int(covered[c])} values, "
                          f"{int(n[c])} expected")
    pad = ~valid
    need_words = -(-np.bincount(pair_chunk[valid], minlength=m) // PAIRS_PER_WORD)
    if np.any(fields[pad] != 0) or np.any(need_words != np.bincount(word_chunk, minlength=m)):
        raise FormatError("rle stream: unused pair slots must be zero and only in a chunk's "
                          "last word")
    out = np.zeros(int(starts[-1]), dtype=np.int64)
    pos = starts[pair_chunk[valid]] + before[valid] + runs[valid]
    out[pos] = levels[valid]
    q = out + int(zero_point)
    if len(q) and (q.min() < -128 or q.max() > 127):
        raise FormatError(f"rle stream: a level plus the zero point {zero_point} falls outside "
                          "the int8 range")
    return q.astype(np.int8).reshape(shape)
