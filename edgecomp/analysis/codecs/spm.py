"""NullHop sparsity-map coding of activations (seed 002, section III-C), exact byte stream.

Each chunk (``base.chunk_starts``) is stored as its sparsity map, one bit per value (1 = the
value is non-zero, i.e. differs from the zero point), packed least significant bit first into
``ceil(n / 8)`` bytes with zero padding bits, followed by the non-zero values themselves, one
stored int8 byte each, in order. Chunk size: ``ceil(n / 8) + nnz`` bytes.
"""
from __future__ import annotations

import numpy as np

from ...errors import FormatError
from .base import Codec, Encoded, check_input, chunk_starts


class SpmCodec(Codec):
    name = "spm"
    lossless = True

    def encode(self, q: np.ndarray, zero_point: int) -> Encoded:
        q = check_input(q, zero_point, self.name)
        flat = q.reshape(-1)
        starts = chunk_starts(q.shape)
        n = np.diff(starts)
        m = len(n)
        mask = flat != np.int8(zero_point)
        map_bytes = -(-n // 8)
        chunk_of = np.repeat(np.arange(m), n)
        # Each chunk's map is padded to whole bytes: place every bit at its padded position.
        map_start = np.concatenate([[0], np.cumsum(8 * map_bytes)])
        padded = np.zeros(int(map_start[-1]), dtype=bool)
        padded[map_start[chunk_of] + np.arange(len(flat)) - starts[chunk_of]] = mask
        maps = np.packbits(padded, bitorder="little")
        nnz = np.bincount(chunk_of[mask], minlength=m)
        size = map_bytes + nnz
        out_start = np.concatenate([[0], np.cumsum(size)])
        out = np.zeros(int(out_start[-1]), dtype=np.uint8)
        map_chunk = np.repeat(np.arange(m), map_bytes)
        out[out_start[map_chunk] + np.arange(len(maps)) - np.repeat(map_start[:-1] // 8,
                                                                     map_bytes)] = maps
        nz = np.flatnonzero(mask)
        nz_chunk = chunk_of[nz]
        rank = np.arange(len(nz)) - np.repeat(np.cumsum(nnz) - nnz, nnz)
        out[out_start[nz_chunk] + map_bytes[nz_chunk] + rank] = flat[nz].view(np.uint8)
        return Encoded(self.name, tuple(q.shape), int(zero_point), out.tobytes(), size)

    def decode(self, enc: Encoded) -> np.ndarray:
        buf = np.frombuffer(enc.data, dtype=np.uint8)
        starts = chunk_starts(enc.shape)
        out = np.full(int(starts[-1]), np.int8(enc.zero_point), dtype=np.int8)
        pos = 0
        for c in range(len(starts) - 1):
            n = int(starts[c + 1] - starts[c])
            nb = -(-n // 8)
            if pos + nb > len(buf):
                raise FormatError(f"spm stream: chunk {c} map runs past the end of the stream")
            bits = np.unpackbits(buf[pos:pos + nb], bitorder="little")
            if bits[n:].any():
                raise FormatError(f"spm stream: chunk {c} has padding bits set in its map")
            where = np.flatnonzero(bits[:n])
            pos += nb
            if pos + len(where) > len(buf):
                raise FormatError(f"spm stream: chunk {c} values run past the end of the stream")
            values = buf[pos:pos + len(where)].view(np.int8)
            if np.any(values == np.int8(enc.zero_point)):
                raise FormatError(f"spm stream: chunk {c} stores a zero value as non-zero")
            out[starts[c] + where] = values
            pos += len(where)
        if pos != len(buf):
            raise FormatError(f"spm stream: {len(buf) - pos} bytes left after the last chunk")
        return out.reshape(enc.shape)
