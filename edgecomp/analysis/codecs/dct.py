"""DCT frequency pruning of activation tiles (seed 002, section III-D): lossy, fixed size.

A feature map channel is cut into n x n tiles (n = 8, or 7 where 7 divides the map and 8 does
not; other maps are padded to a multiple of 8 by repeating their last row / column). Each tile
of centred values ``q - zero_point`` goes through the orthonormal 2-D DCT-II; only the first
``K_n`` coefficients in zig-zag order are kept (the mask), each quantized to a signed 8-bit
integer with a power-of-two step per mask position (the step is chosen per tensor so that the
largest kept coefficient at that position fits in -127..127). The first K of the zig-zag order
with K = d(d+1)/2 (1, 3, 6, 10, 15, 21, 28, 36) is the triangular mask "u + v < d".

``K`` is given for an 8x8 tile; a 7x7 tile keeps ``K_7 = max(1, floor(K * 49 / 64))`` so its rate
is no higher. Byte stream of a tensor:

    u8  n            tile edge (0: the tensor is stored raw, see below)
    u8  K_n          coefficients kept per tile
    i8  shift[K_n]   step of mask position j is 2^shift[j]
    i8  coef[C][ceil(H/n)][ceil(W/n)][K_n]   kept coefficients in zig-zag order

so its size depends only on the shape and K: the compression rate is guaranteed (``bound``).
A chunk (channel, band of n rows) is ``ceil(W/n) * K_n`` bytes. Tensors that are not feature
maps holding at least one 7x7 tile (FC vectors, 4x4 maps, 1x1 maps) are stored raw after the
2-byte header: the seed prunes convolutional feature maps only.

Decoding inverts the steps, fills pruned coefficients with zeros, applies the inverse DCT, crops
the padding, rounds to the nearest integer, adds the zero point and saturates to int8.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ...errors import EdgecompError, FormatError
from .base import Codec, Encoded, check_input, chunk_starts, spatial, tile_size

# Triangular masks: the first d(d+1)/2 zig-zag positions of an 8x8 tile are "u + v < d".
TRIANGULAR_K = (1, 3, 6, 10, 15, 21, 28, 36, 43, 49, 54, 58, 61, 63, 64)
SHIFT_MIN, SHIFT_MAX = -8, 15   # step range 2^-8 .. 2^15 (DC of an 8x8 tile is at most 2040)
COEF_MAX = 127


@lru_cache(maxsize=None)
def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix D: coefficients = D @ tile @ D.T, tile = D.T @ coef @ D."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


@lru_cache(maxsize=None)
def zigzag(n: int) -> np.ndarray:
    """[n*n, 2] (row, col) positions in JPEG zig-zag order."""
    pos = [(u, v) for u in range(n) for v in range(n)]
    pos.sort(key=lambda p: (p[0] + p[1], p[0] if (p[0] + p[1]) % 2 else -p[0]))
    return np.array(pos, dtype=np.int64)


def kept(k: int, n: int) -> int:
    """Coefficients kept in an n x n tile for a mask of K (out of 64) on 8x8 tiles."""
    return k if n == 8 else max(1, (k * n * n) // 64)


class DctCodec(Codec):
    lossless = False

    def __init__(self, keep: int) -> None:
        if not 1 <= int(keep) <= 64:
            raise EdgecompError(f"dct codec: K = {keep} kept coefficients, must be 1..64")
        self.keep = int(keep)
        self.name = f"dct:{self.keep}"

    def geometry(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(n, K_n, tiles down, tiles across) of a tensor, n = 0 when stored raw."""
        if not spatial(shape):
            return 0, 0, 0, 0
        _, _, h, w = shape
        n = tile_size(h, w)
        return n, kept(self.keep, n), -(-h // n), -(-w // n)

    def bound(self, shape: tuple[int, ...]) -> int:
        """Exact stream size in bytes: known before seeing any data (the guarantee)."""
        n, k, th, tw = self.geometry(shape)
        if n == 0:
            return 2 + math.prod(shape)
        return 2 + k + shape[1] * th * tw * k

    def layout(self, shape: tuple[int, ...]) -> tuple[int, np.ndarray]:
        """(header bytes, bytes of every chunk) of any tensor of this shape."""
        n, k, th, tw = self.geometry(shape)
        if n == 0:
            return 2, np.diff(chunk_starts(shape))
        return 2 + k, np.full(shape[1] * th, tw * k, dtype=np.int64)

    def encode(self, q: np.ndarray, zero_point: int) -> Encoded:
        q = check_input(q, zero_point, self.name)
        shape = tuple(q.shape)
        n, k, th, tw = self.geometry(shape)
        if n == 0:
            return Encoded(self.name, shape, int(zero_point), bytes([0, 0]) + q.tobytes(),
                           np.diff(chunk_starts(shape)), header_bytes=2,
                           info={"tile": 0, "kept": 0})
        coef = _forward(q[0].astype(np.float64) - zero_point, n, th, tw)   # [C,th,tw,n,n]
        zz = zigzag(n)[:k]
        sel = coef[..., zz[:, 0], zz[:, 1]]                                 # [C,th,tw,k]
        shifts = _shifts(np.abs(sel).reshape(-1, k).max(axis=0))
        qc = np.clip(np.round(sel / np.exp2(shifts)), -COEF_MAX, COEF_MAX).astype(np.int8)
        header = bytes([n, k]) + shifts.astype(np.int8).tobytes()
        chunk = np.full(shape[1] * th, tw * k, dtype=np.int64)
        return Encoded(self.name, shape, int(zero_point), header + qc.tobytes(), chunk,
                       header_bytes=len(header),
                       info={"tile": n, "kept": k, "shifts": shifts.tolist()})

    def decode(self, enc: Encoded) -> np.ndarray:
        return decode_dct(enc.data, enc.shape, enc.zero_point)


def decode_dct(data: bytes, shape: tuple[int, ...], zero_point: int) -> np.ndarray:
    buf = np.frombuffer(data, dtype=np.uint8)
    if len(buf) < 2:
        raise FormatError("dct stream: shorter than its 2-byte header")
    n, k = int(buf[0]), int(buf[1])
    if n == 0:
        if len(buf) != 2 + math.prod(shape):
            raise FormatError(f"dct stream: raw tensor of shape {tuple(shape)} needs "
                              f"{math.prod(shape)} bytes after the header, got {len(buf) - 2}")
        return buf[2:].view(np.int8).reshape(shape).copy()
    if not spatial(shape) or n != tile_size(shape[2], shape[3]) or not 1 <= k <= n * n:
        raise FormatError(f"dct stream: tile {n} with {k} coefficients does not fit shape "
                          f"{tuple(shape)}")
    _, c, h, w = shape
    th, tw = -(-h // n), -(-w // n)
    if len(buf) != 2 + k + c * th * tw * k:
        raise FormatError(f"dct stream: {len(buf)} bytes, {2 + k + c * th * tw * k} expected "
                          f"for shape {tuple(shape)}, tile {n}, {k} coefficients")
    shifts = buf[2:2 + k].view(np.int8).astype(np.float64)
    qc = buf[2 + k:].view(np.int8).reshape(c, th, tw, k).astype(np.float64)
    coef = np.zeros((c, th, tw, n, n))
    zz = zigzag(n)[:k]
    coef[..., zz[:, 0], zz[:, 1]] = qc * np.exp2(shifts)
    d = dct_matrix(n)
    tiles = np.einsum("ki,cabkl,lj->cabij", d, coef, d, optimize=True)
    x = tiles.transpose(0, 1, 3, 2, 4).reshape(c, th * n, tw * n)[:, :h, :w]
    y = np.clip(np.round(x) + zero_point, -128, 127).astype(np.int8)
    return y[None]


def _forward(x: np.ndarray, n: int, th: int, tw: int) -> np.ndarray:
    """[C, H, W] centred values -> [C, th, tw, n, n] DCT coefficients (edge-padded)."""
    c, h, w = x.shape
    if (h, w) != (th * n, tw * n):
        x = np.pad(x, ((0, 0), (0, th * n - h), (0, tw * n - w)), mode="edge")
    tiles = x.reshape(c, th, n, tw, n).transpose(0, 1, 3, 2, 4)
    d = dct_matrix(n)
    return np.einsum("ik,cabkl,jl->cabij", d, tiles, d, optimize=True)


def _shifts(max_abs: np.ndarray) -> np.ndarray:
    """Smallest power-of-two step per mask position that keeps round(c / step) <= 127."""
    with np.errstate(divide="ignore"):
        s = np.ceil(np.log2(np.maximum(max_abs, 1e-300) / (COEF_MAX + 0.5)))
    s = np.clip(s, SHIFT_MIN, SHIFT_MAX).astype(np.int64)
    while True:  # guard the boundary against log2 rounding
        over = np.round(max_abs / np.exp2(s)) > COEF_MAX
        if not over.any():
            return s
        s[over] += 1
