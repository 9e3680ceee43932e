"""Where the stored weights of a layer sit: the position layouts of docs/format.md 3.2-3.6.

Every layout splits a dense ``[C_out, K]`` int8 matrix into an *index part* (the bytes that say
where the stored values go) and a *value array* (int8, one per stored position, padding
included). Kept apart so that weight sharing (3.7) can replace the value array by codes and
Huffman coding (3.8) can give each part its own code. ``read`` / ``expand`` are the decoding
side; they check every rule of the format and raise FormatError naming the broken one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import FormatError
from .bits import Take, min_index_bytes


@dataclass
class Split:
    count: int                          # the blob's count field
    index: list[tuple[str, bytes]]      # named index parts, in layout order
    values: np.ndarray                  # int8, the value array
    values_at: int                      # position of the value array among the parts

    def parts(self) -> list[tuple[str, bytes]]:
        """The raw layout (values as int8), in stored order."""
        p = list(self.index)
        p.insert(self.values_at, ("values", self.values.astype(np.int8).tobytes()))
        return p

    def index_bytes(self) -> int:
        return sum(len(b) for _, b in self.index)


def _row_starts(rs: np.ndarray, count: int, what: str) -> None:
    if rs[0] != 0 or np.any(np.diff(rs) < 0) or rs[-1] != count:
        raise FormatError(f"{what}: row_start is not a non-decreasing index from 0 to the count "
                          f"{count} (starts at {int(rs[0])}, ends at {int(rs[-1])})")


class Layout:
    kind: int
    name: str

    def split(self, w: np.ndarray) -> Split:
        raise NotImplementedError

    def read_index(self, t: Take, count: int, c_out: int, k: int) -> dict:
        """Consume the index part from t; return what expand needs (incl. 'n_values')."""
        raise NotImplementedError

    def read(self, t: Take, count: int, c_out: int, k: int) -> tuple[dict, np.ndarray]:
        """The raw layout: index part and int8 values."""
        idx = self.read_index(t, count, c_out, k)
        vals = np.frombuffer(t.bytes(idx["n_values"], "values"), dtype=np.int8)
        return idx, vals

    def expand(self, idx: dict, values: np.ndarray, count: int, c_out: int, k: int,
               what: str) -> np.ndarray:
        raise NotImplementedError


class Dense(Layout):
    kind, name = 1, "dense"

    def split(self, w):
        return Split(w.size, [], w.ravel(), 0)

    def read_index(self, t, count, c_out, k):
        if count != c_out * k:
            raise FormatError(f"{t.what}: dense weights count {count} != C_out*K = "
                              f"{c_out}*{k} = {c_out * k}")
        return {"n_values": count}

    def expand(self, idx, values, count, c_out, k, what):
        return values.astype(np.int8).reshape(c_out, k)


class Relative(Layout):
    """Seed 000's rel8 (3.2) and EIE's rel4 (3.4): (value, step) pairs, step = zeros skipped."""

    def __init__(self, kind: int, name: str, step_bits: int) -> None:
        self.kind, self.name, self.step_bits = kind, name, step_bits
        self.max_step = (1 << step_bits) - 1

    def encode(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> row_start u32[C_out+1], values i8[count], steps [count] (padding included)."""
        c_out, k = w.shape
        flat = np.flatnonzero(w)
        rows, cols = flat // k, flat % k
        prev = np.empty_like(cols)
        prev[1:] = cols[:-1]
        first = np.ones(len(cols), bool)
        first[1:] = rows[1:] != rows[:-1]
        prev[first] = -1
        gaps = cols - prev - 1
        span = self.max_step + 1
        pads = gaps // span
        where = np.arange(len(flat)) + np.cumsum(pads)  # own pair index after its padding
        n = len(flat) + int(pads.sum())
        values = np.zeros(n, np.int8)
        steps = np.full(n, self.max_step, np.int64)
        values[where] = w.ravel()[flat]
        steps[where] = gaps - span * pads
        per_row = np.bincount(rows, weights=pads + 1, minlength=c_out).astype(np.int64)
        row_start = np.concatenate(([0], np.cumsum(per_row))).astype(np.uint32)
        return row_start, values, steps

    def pack_steps(self, steps: np.ndarray) -> bytes:
        if self.step_bits == 8:
            return steps.astype(np.uint8).tobytes()
        s = steps.astype(np.uint8)
        if len(s) % 2:
            s = np.append(s, 0)
        return (s[0::2] | (s[1::2] << 4)).astype(np.uint8).tobytes()

    def step_bytes(self, count: int) -> int:
        return count if self.step_bits == 8 else (count + 1) // 2

    def split(self, w):
        rs, values, steps = self.encode(w)
        index = [("row_start", rs.astype("<u4").tobytes()), ("steps", self.pack_steps(steps))]
        return Split(len(values), index, values, 1 if self.step_bits == 8 else 2)

    def _steps(self, raw: bytes, count: int, what: str) -> np.ndarray:
        b = np.frombuffer(raw, dtype=np.uint8)
        if self.step_bits == 8:
            return b.astype(np.int64)
        if count % 2 and b[-1] >> 4:
            raise FormatError(f"{what}: the unused high nibble of the last step byte is not 0")
        s = np.empty(2 * len(b), np.int64)
        s[0::2], s[1::2] = b & 15, b >> 4
        return s[:count]

    def read_index(self, t, count, c_out, k):
        rs = t.u32s(c_out + 1, "row_start")
        return {"rs": rs, "steps": self._steps(t.bytes(self.step_bytes(count), "steps"), count,
                                               t.what), "n_values": count}

    def read(self, t, count, c_out, k):
        if self.step_bits != 8:
            return super().read(t, count, c_out, k)
        rs = t.u32s(c_out + 1, "row_start")  # rel8 keeps its values between row_start and steps
        vals = np.frombuffer(t.bytes(count, "values"), dtype=np.int8)
        steps = self._steps(t.bytes(count, "steps"), count, t.what)
        return {"rs": rs, "steps": steps, "n_values": count}, vals

    def expand(self, idx, values, count, c_out, k, what):
        rs, steps = idx["rs"], idx["steps"]
        _row_starts(rs, count, what)
        rows = np.repeat(np.arange(c_out), np.diff(rs))
        cs = np.cumsum(steps + 1)
        base = np.concatenate(([0], cs))[rs[:-1]]
        pos = cs - base[rows] - 1
        if len(pos) and pos.max() >= k:
            bad = int(rows[np.argmax(pos >= k)])
            last = int(pos[rs[bad + 1] - 1])
            raise FormatError(f"{what}: row {bad} decodes to position {last} >= K = {k}")
        w = np.zeros((c_out, k), np.int8)
        w[rows, pos] = values
        return w


class Bitmap(Layout):
    kind, name = 10, "bitmap"

    def split(self, w):
        mask = w.ravel() != 0
        return Split(int(mask.sum()), [("bitmap", np.packbits(mask, bitorder="little").tobytes())],
                     w.ravel()[mask], 1)

    def read_index(self, t, count, c_out, k):
        n = c_out * k
        bits = np.unpackbits(np.frombuffer(t.bytes((n + 7) // 8, "bitmap"), np.uint8),
                             bitorder="little")
        if bits[n:].any():
            raise FormatError(f"{t.what}: bitmap bits past C_out*K = {n} are not 0")
        set_bits = int(bits.sum())
        if set_bits != count:
            raise FormatError(f"{t.what}: bitmap has {set_bits} set bits, count is {count}")
        return {"mask": bits[:n].astype(bool), "n_values": count}

    def expand(self, idx, values, count, c_out, k, what):
        w = np.zeros(c_out * k, np.int8)
        w[idx["mask"]] = values
        return w.reshape(c_out, k)


class Block(Layout):
    kind, name = 11, "block"

    def __init__(self, block_len: int = 0) -> None:
        self.block_len = block_len

    def split(self, w):
        c_out, k = w.shape
        b = self.block_len
        if not 1 <= b <= k or k % b:
            raise ValueError(f"block length {b} does not divide K = {k}")
        nb = k // b
        kept = (w.reshape(c_out, nb, b) != 0).any(axis=2)
        rows, idx = np.nonzero(kept)
        ib = min_index_bytes(nb)
        rs = np.concatenate(([0], np.cumsum(kept.sum(axis=1)))).astype("<u4")
        head = np.array([b, ib], "<u4").tobytes()
        index = [("header", head), ("row_start", rs.tobytes()),
                 ("block_index", idx.astype(f"<u{ib}").tobytes())]
        return Split(len(idx), index, w.reshape(c_out, nb, b)[rows, idx].ravel(), 3)

    def read_index(self, t, count, c_out, k):
        b, ib = t.u32("block length"), t.u32("index width")
        if not 1 <= b <= k or k % b:
            raise FormatError(f"{t.what}: block length {b} must divide K = {k}")
        if ib not in (1, 2, 4):
            raise FormatError(f"{t.what}: block index width {ib} is not 1, 2 or 4 bytes")
        rs = t.u32s(c_out + 1, "row_start")
        idx = np.frombuffer(t.bytes(ib * count, "block indices"), f"<u{ib}").astype(np.int64)
        return {"b": b, "rs": rs, "idx": idx, "n_values": b * count}

    def expand(self, idx, values, count, c_out, k, what):
        b, rs, ix = idx["b"], idx["rs"], idx["idx"]
        _row_starts(rs, count, what)
        nb = k // b
        rows = np.repeat(np.arange(c_out), np.diff(rs))
        same_row = rows[1:] == rows[:-1]
        if np.any(ix >= nb) or np.any(same_row & (ix[1:] <= ix[:-1])):
            raise FormatError(f"{what}: block indices must be < K/B = {nb} and strictly "
                              "increasing within a row")
        w = np.zeros((c_out, nb, b), np.int8)
        w[rows, ix] = values.reshape(count, b)
        return w.reshape(c_out, k)


DENSE, REL8, REL4, BITMAP = Dense(), Relative(2, "sparse_rel8", 8), Relative(9, "rel4", 4), Bitmap()
BY_KIND = {1: DENSE, 2: REL8, 9: REL4, 10: BITMAP, 11: Block()}


def layout(name: str, block_len: int = 0) -> Layout:
    if name == "block":
        return Block(block_len)
    return {"dense": DENSE, "sparse_rel8": REL8, "rel4": REL4, "bitmap": BITMAP}[name]
