"""Serialize a QModel into .ecm bytes (docs/format.md)."""
from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np

from . import layout as L
from .model import BLOB_KINDS, DTYPE_INT8, OP_CODES, TABLE_BLOBS, QModel, QNode
from .encodings import encode_blob
from .sparse import encode_rel8


class _Blobs:
    """Accumulates the DATA section, each blob 16-byte aligned."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def add(self, kind: str, count: int, data: bytes) -> tuple[int, int, int, int]:
        self.buf += b"\0" * (L.align(len(self.buf), L.BLOB_ALIGN) - len(self.buf))
        off = len(self.buf)
        self.buf += data
        return BLOB_KINDS[kind], count, off, len(data)


class _Strings:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.index: dict[str, tuple[int, int]] = {}

    def add(self, s: str) -> tuple[int, int]:
        if s not in self.index:
            raw = s.encode("utf-8")
            self.index[s] = (len(self.buf), len(raw))
            self.buf += raw
        return self.index[s]


def weight_blob(node: QNode, blobs: _Blobs) -> tuple[int, int, int, int]:
    w = np.ascontiguousarray(node.weights, dtype=np.int8)
    if node.weight_encoding == "dense":
        return blobs.add("WEIGHTS_DENSE", w.size, w.tobytes())
    if node.weight_encoding == "sparse_rel8":
        row_start, values, steps = encode_rel8(w)
        data = row_start.astype("<u4").tobytes() + values.tobytes() + steps.tobytes()
        return blobs.add("WEIGHTS_SPARSE_REL8", len(values), data)
    # rel4, bitmap, block, shared, huffman (docs/format.md 3.3-3.8)
    kind, count, data = encode_blob(w, node.weight_encoding)
    return blobs.add(kind, count, data)


def _node_blobs(node: QNode, blobs: _Blobs) -> list[tuple[int, int, int, int]]:
    refs = []
    if node.op in ("CONV", "FC"):
        refs.append(weight_blob(node, blobs))
        for kind, arr in (("BIAS", node.bias), ("MULTIPLIER", node.multiplier),
                          ("SHIFT", node.shift)):
            a = np.asarray(arr, dtype="<i4")
            refs.append(blobs.add(kind, a.size, a.tobytes()))
    elif node.op == "SOFTMAX":
        a = np.asarray(node.exp_table, dtype="<i4")
        refs.append(blobs.add("EXP_TABLE", a.size, a.tobytes()))
    elif node.op in TABLE_BLOBS:
        kind = TABLE_BLOBS[node.op]
        a = np.asarray(node.table, dtype=np.int8 if kind == "LUT" else "<i4")
        refs.append(blobs.add(kind, a.size, a.tobytes()))
    return refs


def _graph_section(model: QModel, strings: _Strings, blobs: _Blobs) -> bytes:
    out = bytearray(L.GRAPH_HEAD.pack(len(model.tensors), len(model.nodes), len(model.inputs),
                                      len(model.outputs)))
    out += np.asarray(model.inputs + model.outputs, dtype="<u4").tobytes()
    for t in model.tensors:
        off, n = strings.add(t.name)
        dims = list(t.shape) + [1] * (4 - len(t.shape))
        out += L.TENSOR_RECORD.pack(off, n, DTYPE_INT8, len(t.shape), 0, *dims,
                                    float(t.scale), int(t.zero_point))
    for node in model.nodes:
        off, n = strings.add(node.name)
        refs = _node_blobs(node, blobs)
        out += L.NODE_HEAD.pack(OP_CODES[node.op], 0, off, n, len(node.inputs),
                                len(node.outputs), len(node.params), len(refs))
        out += np.asarray(node.inputs + node.outputs, dtype="<u4").tobytes()
        out += np.asarray(node.params, dtype="<i4").tobytes()
        for ref in refs:
            out += L.BLOB_REF.pack(*ref)
    return bytes(out)


def write_ecm(model: QModel) -> bytes:
    """Return the .ecm file bytes for ``model``."""
    strings, blobs = _Strings(), _Blobs()
    graph = _graph_section(model, strings, blobs)
    sections = [(L.SEC_GRAPH, graph), (L.SEC_DATA, bytes(blobs.buf)),
                (L.SEC_STRINGS, bytes(strings.buf))]
    if model.labels:
        sections.append((L.SEC_LABELS, "\n".join(model.labels).encode("utf-8")))
    if model.metadata:
        sections.append((L.SEC_METADATA,
                         json.dumps(model.metadata, sort_keys=True, separators=(",", ":")).encode("utf-8")))

    table_end = L.HEADER_SIZE + L.SECTION_ENTRY_SIZE * len(sections)
    body = bytearray()
    entries = []
    pos = L.align(table_end, L.SECTION_ALIGN)
    for sec_type, data in sections:
        entries.append(L.SECTION_ENTRY.pack(sec_type, 0, pos, len(data),
                                            zlib.crc32(data) & 0xFFFFFFFF, 0))
        body += data
        pad = L.align(pos + len(data), L.SECTION_ALIGN) - (pos + len(data))
        body += b"\0" * pad
        pos += len(data) + pad
    file_size = pos + L.TRAILER_SIZE
    header = L.HEADER.pack(L.MAGIC, L.VERSION_MAJOR, L.VERSION_MINOR, L.HEADER_SIZE, file_size,
                           len(sections),
                           L.FLAG_DYNAMIC_FIXED_POINT if model.dynamic_fixed_point else 0,
                           L.HEADER_SIZE, b"\0" * 24)
    head = header + b"".join(entries)
    head += b"\0" * (L.align(table_end, L.SECTION_ALIGN) - table_end)
    content = head + bytes(body)
    return content + hashlib.sha256(content).digest()


def save_ecm(model: QModel, path: str | Path) -> int:
    """Write atomically (temp file + rename) so a failed write never clobbers an existing model."""
    data = write_ecm(model)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(data)
