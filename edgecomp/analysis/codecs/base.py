"""What every activation codec shares: the chunk layout of a tensor and the encoded form.

A tensor is coded in *chunks* so that an accelerator can fetch the part of a feature map a tile
needs without decoding the whole map. All codecs use the same chunks, so their per-chunk sizes
can be compared and fed to the accelerator model (``accel_model``):

- rank-4 ``[1, C, H, W]``: one chunk per channel and band of ``R`` rows, where ``R`` is the DCT
  tile size of the map (8, or 7 where 8 does not divide the map but 7 does; see ``tile_size``)
  and the last band may be shorter; maps smaller than one 7x7 tile are one chunk per channel.
  In NCHW order a chunk is a contiguous run of the flattened tensor.
- any other rank: the whole tensor is one chunk.

"Zero" always means the real value 0, i.e. the stored byte equals the tensor's zero point.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ShapeError

MIN_TILE = 7  # the smallest DCT tile (seed 002: 8x8, or 7x7 where the map size needs it)


def tile_size(h: int, w: int) -> int:
    """DCT tile edge for an ``h x w`` map: 8 when 8 divides both, else 7 when 7 divides both,
    else 8 (the map is then padded to a multiple of 8 by edge replication)."""
    if h % 8 == 0 and w % 8 == 0:
        return 8
    if h % 7 == 0 and w % 7 == 0:
        return 7
    return 8


def spatial(shape: tuple[int, ...]) -> bool:
    """True when a tensor is a feature map large enough to hold one 7x7 tile."""
    return len(shape) == 4 and shape[2] >= MIN_TILE and shape[3] >= MIN_TILE


def chunk_rows(shape: tuple[int, ...]) -> int:
    """Rows per chunk of a rank-4 tensor (see the module docstring)."""
    _, _, h, w = shape
    return tile_size(h, w) if spatial(shape) else h


def chunk_starts(shape: tuple[int, ...]) -> np.ndarray:
    """Flat start offsets of every chunk plus the end (int64, length chunks + 1)."""
    shape = tuple(int(s) for s in shape)
    total = int(np.prod(shape))
    if len(shape) != 4:
        return np.array([0, total], dtype=np.int64)
    _, c, h, w = shape
    r = chunk_rows(shape)
    bands = np.arange(0, h, r, dtype=np.int64)
    starts = (np.arange(c, dtype=np.int64)[:, None] * h * w + bands[None, :] * w).reshape(-1)
    return np.append(starts, total)


def chunk_row_ranges(shape: tuple[int, ...]) -> np.ndarray:
    """For rank-4 tensors: [bands, 2] first and end row of each band (same for every channel)."""
    _, _, h, _ = shape
    r = chunk_rows(shape)
    first = np.arange(0, h, r)
    return np.stack([first, np.minimum(first + r, h)], axis=1)


@dataclass
class Encoded:
    """A tensor as a codec stores it: ``data`` is the exact byte stream (chunk streams one after
    the other, after a tensor header if the codec has one); ``chunk_bytes[i]`` is the size of
    chunk i's stream. ``len(data) == header_bytes + chunk_bytes.sum()``."""
    codec: str
    shape: tuple[int, ...]
    zero_point: int
    data: bytes
    chunk_bytes: np.ndarray
    header_bytes: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return len(self.data)

    @property
    def raw_bytes(self) -> int:
        return int(np.prod(self.shape))


class Codec:
    """An activation codec: ``encode`` an int8 tensor with its zero point, ``decode`` it back."""
    name = "codec"
    lossless = True

    def encode(self, q: np.ndarray, zero_point: int) -> Encoded:
        raise NotImplementedError

    def decode(self, enc: Encoded) -> np.ndarray:
        raise NotImplementedError

    def roundtrip(self, q: np.ndarray, zero_point: int) -> tuple[np.ndarray, Encoded]:
        enc = self.encode(q, zero_point)
        return (q if self.lossless else self.decode(enc)), enc

    def __repr__(self) -> str:
        return self.name


def check_input(q: np.ndarray, zero_point: int, codec: str) -> np.ndarray:
    q = np.asarray(q)
    if q.dtype != np.int8:
        raise ShapeError(f"{codec} codec: int8 tensor expected, got {q.dtype}")
    if not -128 <= int(zero_point) <= 127:
        raise ShapeError(f"{codec} codec: zero point {zero_point} outside -128..127")
    return q


class RawCodec(Codec):
    """No compression: the stored bytes themselves (the reference every codec is measured by)."""
    name = "raw"

    def encode(self, q: np.ndarray, zero_point: int) -> Encoded:
        q = check_input(q, zero_point, self.name)
        return Encoded(self.name, tuple(q.shape), int(zero_point), q.tobytes(),
                       np.diff(chunk_starts(q.shape)))

    def decode(self, enc: Encoded) -> np.ndarray:
        return np.frombuffer(enc.data, dtype=np.int8).reshape(enc.shape).copy()
