"""Test material for the weight encodings of docs/format.md 3.3-3.8: weight matrices that break
naive encoders, every encoding name, models whose layers use them, and re-signing of mutated
files (so a corruption reaches the blob checks instead of the CRC)."""
from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np

from ..packed import layout as L
from ..packed.model import QModel
from .random_qmodels import random_qmodel

PREFIXES = ("", "shared+", "huffman+", "huffman+shared+")


def edge_matrices() -> dict[str, np.ndarray]:
    """[C_out, K] int8 weights at the edges of every layout."""
    rng = np.random.default_rng(5)
    out = {}
    out["all_zero"] = np.zeros((3, 17), np.int8)
    out["one_weight"] = np.array([[0, 0, 0, 9]], np.int8)
    out["k1"] = np.array([[3], [0], [-128]], np.int8)
    w = np.zeros((5, 600), np.int8)
    w[0, [0, 16, 33, 300, 599]] = [1, -1, 127, -128, 5]   # gaps 15, 16, 266 (>255), 298
    w[2, 599] = 7                                          # only the last position
    w[3, [15, 31, 287]] = [2, 3, 4]                        # gaps 15, 15, 255: no padding
    w[4, 256] = -9                                         # gap of exactly 256
    out["gaps"] = w                                        # row 1: empty
    d = rng.integers(-128, 128, (4, 36)).astype(np.int8)
    d[d == 0] = 1
    out["dense"] = d
    s = rng.integers(-127, 128, (16, 72)).astype(np.int8)
    s[rng.random(s.shape) < 0.8] = 0
    out["sparse80"] = s
    k = rng.integers(-5, 6, (8, 4, 9)).astype(np.int8)    # 3x3 kernels kept or dropped whole
    k[rng.random((8, 4)) < 0.7] = 0
    out["kernels"] = k.reshape(8, 36)
    return out


def block_lengths(k: int) -> list[int]:
    return sorted({b for b in (1, 3, 4, 9, k) if k % b == 0})


def encoding_names(k: int) -> list[str]:
    """Every encoding of a layer with row length k (block: each length dividing k)."""
    lays = ["dense", "sparse_rel8", "rel4", "bitmap"] + [f"block:{b}" for b in block_lengths(k)]
    return [p + lay for p in PREFIXES for lay in lays]


def snap(w: np.ndarray, levels: int) -> np.ndarray:
    """Non-zero weights moved to the nearest of ``levels`` values (what sharing leaves)."""
    grid = np.round(np.linspace(-120, 120, levels))
    snapped = grid[np.abs(w[..., None].astype(np.float64) - grid).argmin(axis=-1)]
    return np.where(w != 0, snapped, 0).astype(np.int8)


def encode_layers(model: QModel, encodings: list[str], levels: int = 0) -> QModel:
    """The weighted layers take the encodings in turn; a block length that does not divide a
    layer's K becomes K (a whole filter)."""
    weighted = [n for n in model.nodes if n.weights is not None]
    for i, node in enumerate(weighted):
        enc = encodings[i % len(encodings)]
        if levels:
            node.weights = snap(node.weights, levels)
        if ":" in enc:
            head, b = enc.rsplit(":", 1)
            if node.weights.shape[1] % int(b):
                enc = f"{head}:{node.weights.shape[1]}"
        node.weight_encoding = enc
    return model


def random_encoded_model(seed: int) -> QModel:
    """A random format-level model (edgecomp.testing.random_qmodels) whose layers use random
    encodings, half of them with weights snapped to few values."""
    rng = np.random.default_rng(seed + 100)
    model = random_qmodel(seed)
    lays = ["sparse_rel8", "rel4", "bitmap", "block:1", "block:3", "dense"]
    encs = [str(rng.choice(PREFIXES)) + str(rng.choice(lays)) for _ in range(8)]
    return encode_layers(model, encs, levels=int(rng.choice([0, 9, 16])))


def resign(buf: bytearray) -> bytes:
    """Recompute every section CRC (entries that lie inside the file) and the SHA-256."""
    nsec = struct.unpack_from("<I", buf, 24)[0]
    for i in range(min(nsec, 64)):
        if 64 + 32 * (i + 1) > len(buf) - 32:
            break
        t, e, off, size, _, r = L.SECTION_ENTRY.unpack_from(buf, 64 + 32 * i)
        if off <= len(buf) and size <= len(buf) - off:
            L.SECTION_ENTRY.pack_into(buf, 64 + 32 * i, t, e, off, size,
                                      zlib.crc32(bytes(buf[off:off + size])), r)
    buf[-32:] = hashlib.sha256(bytes(buf[:-32])).digest()
    return bytes(buf)


def section(data: bytes, stype: int) -> tuple[int, int]:
    for i in range(struct.unpack_from("<I", data, 24)[0]):
        t, _, off, size, _, _ = L.SECTION_ENTRY.unpack_from(data, 64 + 32 * i)
        if t == stype:
            return off, size
    raise KeyError(stype)


def weight_blob_refs(data: bytes, model: QModel) -> list[tuple[int, int, int, int, int]]:
    """(file offset of the blob_ref, kind, count, file offset of the blob, size) of each
    weighted node's weight blob (blob 0)."""
    g_off, _ = section(data, L.SEC_GRAPH)
    d_off, _ = section(data, L.SEC_DATA)
    pos = g_off + L.GRAPH_HEAD.size + 4 * (len(model.inputs) + len(model.outputs)) \
        + L.TENSOR_RECORD.size * len(model.tensors)
    out = []
    for node in model.nodes:
        _, _, _, _, nin, nout, npar, nblob = L.NODE_HEAD.unpack_from(data, pos)
        pos += L.NODE_HEAD.size + 4 * (nin + nout + npar)
        if node.weights is not None:
            kind, count, off, size = L.BLOB_REF.unpack_from(data, pos)
            out.append((pos, kind, count, d_off + off, size))
        pos += L.BLOB_REF.size * nblob
    return out
