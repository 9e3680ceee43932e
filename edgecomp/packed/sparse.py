"""Seed 000's sparse weight encoding: int8 value + u8 relative step per stored weight.

Per output channel: ``pos = -1``, each pair advances ``pos += step + 1`` and stores ``value`` there.
A gap of more than 255 zeros is bridged by padding pairs (0, 255). See docs/format.md 3.2.
"""
from __future__ import annotations

import numpy as np

from ..errors import FormatError

PAD_STEP = 255


def encode_rel8(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[C_out, K] int8 -> (row_start u32[C_out+1], values i8[count], steps u8[count])."""
    w = np.asarray(weights, dtype=np.int8)
    rows_v: list[np.ndarray] = []
    rows_s: list[np.ndarray] = []
    row_start = np.zeros(w.shape[0] + 1, dtype=np.uint32)
    for c in range(w.shape[0]):
        nz = np.flatnonzero(w[c])
        gaps = np.diff(np.concatenate(([-1], nz))) - 1
        pads = gaps // 256  # padding pairs needed before each non-zero
        n = len(nz) + int(pads.sum())
        vals = np.zeros(n, dtype=np.int8)
        steps = np.full(n, PAD_STEP, dtype=np.uint8)
        # index of each real pair = its rank + all padding pairs up to and including its own
        where = np.arange(len(nz)) + np.cumsum(pads)
        vals[where] = w[c, nz]
        steps[where] = (gaps - 256 * pads).astype(np.uint8)
        rows_v.append(vals)
        rows_s.append(steps)
        row_start[c + 1] = row_start[c] + n
    values = np.concatenate(rows_v) if rows_v else np.zeros(0, np.int8)
    steps = np.concatenate(rows_s) if rows_s else np.zeros(0, np.uint8)
    return row_start, values, steps


def decode_rel8(row_start: np.ndarray, values: np.ndarray, steps: np.ndarray,
                k: int) -> np.ndarray:
    """Inverse of encode_rel8; raises FormatError for rows that run past K."""
    c_out = len(row_start) - 1
    if row_start[0] != 0 or np.any(np.diff(row_start.astype(np.int64)) < 0) \
            or row_start[-1] != len(values):
        raise FormatError("sparse weights: row_start is not a non-decreasing index from 0 "
                          f"to the pair count {len(values)}")
    # Vectorized over all rows (a Python loop per row made hostile files with 65535-row blobs
    # decode for seconds): positions are a global running sum minus each row's start.
    starts = row_start.astype(np.int64)
    counts = np.diff(starts)
    rows = np.repeat(np.arange(c_out), counts)
    run = np.cumsum(steps.astype(np.int64) + 1)
    before = np.concatenate(([0], run))[starts[:-1]]  # sum of all steps before each row
    pos = run - 1 - before[rows]
    last = np.flatnonzero(counts)  # rows with pairs: their last position is their largest
    if len(last):
        ends = pos[starts[last + 1] - 1]
        bad = np.flatnonzero(ends >= k)
        if len(bad):
            c = int(last[bad[0]])
            raise FormatError(f"sparse weights: row {c} decodes to position "
                              f"{int(ends[bad[0]])} >= K = {k}")
    w = np.zeros((c_out, k), dtype=np.int8)
    w[rows, pos] = values
    return w


def stored_pairs(weights: np.ndarray) -> int:
    """Pairs (padding included) the rel8 encoding stores: the count behind seed 000's %W_Z."""
    return int(encode_rel8(weights)[0][-1])
