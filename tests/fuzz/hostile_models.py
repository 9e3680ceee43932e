"""Hostile .ecm files that are small but ask for unbounded memory or time, built field by field
(the writer cannot produce them: it would have to hold the weights they declare).

Each one is a regression input of tests/test_hardening.py, stored (gzip'ed when large) under
tests/fuzz_regressions/model/ by ``python tests/fuzz/hostile_models.py``; see
docs/hardening.md for what each one did before the limits of docs/format.md 6.1.
"""
from __future__ import annotations

import gzip
import hashlib
import sys
import zlib
from pathlib import Path

import numpy as np

from edgecomp.packed import layout as L

OUT = Path(__file__).resolve().parent.parent / "fuzz_regressions" / "model"


class Raw:
    """Sections from explicit records: tensors (name, dims, scale, zp), nodes with blob refs."""

    def __init__(self) -> None:
        self.tensors: list[bytes] = []
        self.nodes: list[bytes] = []
        self.data = bytearray()
        self.strings = bytearray()
        self.outputs: list[int] = []
        self.metadata: bytes | None = None

    def name(self, s: str) -> tuple[int, int]:
        off = len(self.strings)
        self.strings += s.encode()
        return off, len(s.encode())

    def tensor(self, name: str, dims, scale: float = 1.0, zp: int = 0) -> int:
        d = list(dims) + [1] * (4 - len(dims))
        self.tensors.append(L.TENSOR_RECORD.pack(*self.name(name), 1, len(dims), 0, *d,
                                                 scale, zp))
        return len(self.tensors) - 1

    def blob(self, kind: int, count: int, raw: bytes) -> tuple[int, int, int, int]:
        self.data += b"\0" * (L.align(len(self.data), L.BLOB_ALIGN) - len(self.data))
        off = len(self.data)
        self.data += raw
        return kind, count, off, len(raw)

    def node(self, op: int, name: str, ins, out: int, params=(), blobs=()) -> None:
        rec = L.NODE_HEAD.pack(op, 0, *self.name(name), len(ins), 1, len(params), len(blobs))
        rec += np.asarray(list(ins) + [out], "<u4").tobytes()
        rec += np.asarray(list(params), "<i4").tobytes()
        rec += b"".join(L.BLOB_REF.pack(*b) for b in blobs)
        self.nodes.append(rec)

    def weighted(self, op: int, name: str, x: int, y: int, params, c_out: int,
                 rows: list[tuple[bytes, bytes]]) -> None:
        """Sparse rel8 weights from per-row (values, steps), bias 0, requant 2^30 / 40."""
        starts = np.cumsum([0] + [len(v) for v, _ in rows]).astype("<u4")
        vals = b"".join(v for v, _ in rows)
        steps = b"".join(s for _, s in rows)
        w = self.blob(2, len(vals), starts.tobytes() + vals + steps)
        i32 = lambda v: np.full(c_out, v, "<i4").tobytes()  # noqa: E731
        self.node(op, name, [x], y, params, [w, self.blob(3, c_out, i32(0)),
                                             self.blob(4, c_out, i32(1 << 30)),
                                             self.blob(5, c_out, i32(40))])

    def finish(self) -> bytes:
        graph = L.GRAPH_HEAD.pack(len(self.tensors), len(self.nodes), 1, len(self.outputs))
        graph += np.asarray([0] + self.outputs, "<u4").tobytes()
        graph += b"".join(self.tensors) + b"".join(self.nodes)
        sections = [(1, graph), (2, bytes(self.data)), (3, bytes(self.strings))]
        if self.metadata is not None:
            sections.append((5, self.metadata))
        pos = L.align(L.HEADER_SIZE + 32 * len(sections), 64)
        entries, body = b"", b""
        for t, raw in sections:
            entries += L.SECTION_ENTRY.pack(t, 0, pos, len(raw), zlib.crc32(raw), 0)
            pad = L.align(len(raw), 64) - len(raw)
            body += raw + b"\0" * pad
            pos += len(raw) + pad
        head = L.HEADER.pack(L.MAGIC, 1, 0, 64, pos + 32, len(sections), 0, 64, b"\0" * 24)
        head += entries
        head += b"\0" * (L.align(len(head), 64) - len(head))
        content = head + body
        return content + hashlib.sha256(content).digest()


def sparse_fc_bomb() -> bytes:
    """FC [1, 16384, 16384] -> [1, 65535] with empty sparse rows: 256 KB of file declaring
    C_out * K = 2^44 weights. The Python reader expanded them into a dense array (MemoryError);
    now refused by the weights limit (2^28) before anything is allocated."""
    r = Raw()
    x = r.tensor("x", (1, 16384, 16384))
    y = r.tensor("y", (1, 65535))
    r.outputs = [y]
    r.weighted(2, "fc", x, y, [-128, 127], 65535, [(b"", b"")] * 65535)
    return r.finish()


def conv_work_bomb() -> bytes:
    """CONV 64x64 over [1, 4, 8192, 8192] with every weight stored sparse (128 KB of weights):
    a valid model whose one run takes 2^42 MACs (hours). Now refused by the work limit (2^36)."""
    r = Raw()
    x = r.tensor("x", (1, 4, 8192, 8192))
    y = r.tensor("y", (1, 4, 8192, 8192))
    r.outputs = [y]
    k = 4 * 64 * 64
    row = (b"\x01" * k, b"\x00" * k)
    r.weighted(1, "conv", x, y, [64, 64, 1, 1, 32, 32, 31, 31, 1, 1, 1, -128, 127], 4,
               [row] * 4)
    return r.finish()


def arena_bomb() -> bytes:
    """Seven tensors of 2^28 elements, five alive at once: an 864-byte file whose sessions
    allocated 1.25 GiB of arena (1.75 GiB with keep_intermediates). Now refused by the limit on
    the elements of all tensors together (2^30)."""
    r = Raw()
    dims = (1, 16, 4096, 4096)
    x = r.tensor("x", dims)
    copies = []
    for i in range(4):
        copies.append(r.tensor(f"c{i}", dims))
        r.node(8, f"clamp{i}", [x], copies[-1], [-128, 127])
    s = r.tensor("s", dims)
    r.node(6, "add", [copies[0], copies[1]], s, [1 << 30, 1 << 30, 31, -128, 127])
    t = r.tensor("t", dims)
    r.node(6, "add2", [copies[2], copies[3]], t, [1 << 30, 1 << 30, 31, -128, 127])
    r.outputs = [s, t]
    return r.finish()


def planner_bomb(n: int = 16368) -> bytes:
    """n CLAMP copies of a [1, 1] input, all alive until CONCATs at the end read them: a valid
    1.7 MB model on which the greedy-by-size planner did n^2 log n work (4.5 s; 63457 tensors:
    84 s at load). The planner now falls back to one slot per tensor past a step budget."""
    r = Raw()
    x = r.tensor("x", (1, 1))
    group = 31  # CONCAT: 1 + 2 * inputs params, at most 64
    for i in range(n):
        r.node(8, f"c{i}", [x], r.tensor(f"t{i}", (1, 1)), [-128, 127])
    for j in range(n // group):
        y = r.tensor(f"cat{j}", (1, group))
        r.node(7, f"k{j}", range(1 + j * group, 1 + (j + 1) * group), y,
               [1] + [1 << 30, 30] * group)
        if len(r.outputs) < 16:
            r.outputs.append(y)
    return r.finish()


def deep_metadata() -> bytes:
    """METADATA nested 100000 arrays deep: json.loads raised RecursionError (not FormatError)
    out of parse_ecm and Runtime."""
    r = Raw()
    x = r.tensor("x", (1, 4))
    y = r.tensor("y", (1, 4))
    r.node(8, "relu", [x], y, [0, 127])
    r.outputs = [y]
    r.metadata = b"[" * 100000 + b"]" * 100000
    return r.finish()


HOSTILE = {"sparse_fc_bomb": sparse_fc_bomb, "conv_work_bomb": conv_work_bomb,
           "arena_bomb": arena_bomb, "planner_bomb": planner_bomb,
           "deep_metadata": deep_metadata}


def write_all(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, make in HOSTILE.items():
        data = make()
        if len(data) > 16384:
            (out / f"{name}.ecm.gz").write_bytes(gzip.compress(data, 9, mtime=0))
        else:
            (out / f"{name}.ecm").write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
