"""Byte-level helpers shared by the weight encodings (docs/format.md 3.3): little-endian words
at any offset, and LSB-first packing of fixed-width codes."""
from __future__ import annotations

import numpy as np

from ...errors import FormatError


class Take:
    """Sequential, bounds-checked reads from one blob (a hostile blob must never index past its
    end: every take names what was missing)."""

    def __init__(self, raw: bytes, what: str) -> None:
        self.raw, self.pos, self.what = raw, 0, what

    def bytes(self, n: int, part: str) -> bytes:
        if n < 0 or self.pos + n > len(self.raw):
            raise FormatError(f"{self.what}: blob of {len(self.raw)} bytes ends inside its {part} "
                              f"({n} bytes at offset {self.pos})")
        out = self.raw[self.pos:self.pos + n]
        self.pos += n
        return out

    def u32(self, part: str) -> int:
        return int.from_bytes(self.bytes(4, part), "little")

    def u32s(self, n: int, part: str) -> np.ndarray:
        return np.frombuffer(self.bytes(4 * n, part), dtype="<u4").astype(np.int64)

    def rest(self) -> int:
        return len(self.raw) - self.pos


def pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """codes (each < 2^bits) -> ceil(n * bits / 8) bytes, item i at bits [i*bits, (i+1)*bits),
    least significant bit first."""
    c = np.asarray(codes, dtype=np.uint16)
    planes = (c[:, None] >> np.arange(bits, dtype=np.uint16)) & 1
    return np.packbits(planes.astype(np.uint8).ravel(), bitorder="little").tobytes()


def unpack_codes(data: bytes, n: int, bits: int, what: str) -> np.ndarray:
    """Inverse of pack_codes; the bits after the n codes must be 0."""
    flat = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    if flat[n * bits:].any():
        raise FormatError(f"{what}: the unused bits after the last code are not 0")
    planes = flat[:n * bits].reshape(n, bits).astype(np.int64)
    return (planes << np.arange(bits)).sum(axis=1)


def min_index_bytes(n_blocks: int) -> int:
    """Smallest of 1, 2, 4 bytes that holds block numbers 0 .. n_blocks - 1."""
    return 1 if n_blocks <= 1 << 8 else 2 if n_blocks <= 1 << 16 else 4
