"""Parse and validate .ecm bytes into a QModel (docs/format.md section 6).

Every count, offset and index is checked before use; any violation raises FormatError with a
sentence naming the section, node or tensor at fault.
"""
from __future__ import annotations

import hashlib
import json
import math
import zlib
from pathlib import Path

import numpy as np

from ..errors import FormatError
from . import layout as L
from .checks import check_model
from .limits import Budget
from .model import (BLOB_NAMES, DTYPE_INT8, OP_NAMES, OP_PARAMS, TABLE_BLOBS, QModel, QNode,
                    QTensor)
from .encodings import DECODED_KINDS, decode_blob
from .sparse import decode_rel8


class _Cursor:
    """Bounds-checked sequential reads over one section."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError(f"{self.what}: truncated (need {n} bytes at offset {self.pos}, "
                              f"section has {len(self.data)})")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, st):
        return st.unpack(self.take(st.size))

    def u32s(self, n: int) -> list[int]:
        return np.frombuffer(self.take(4 * n), dtype="<u4").astype(np.int64).tolist()

    def i32s(self, n: int) -> list[int]:
        return np.frombuffer(self.take(4 * n), dtype="<i4").astype(np.int64).tolist()


def _check_range(value: int, lo: int, hi: int, what: str) -> int:
    if not lo <= value <= hi:
        raise FormatError(f"{what} = {value} is out of range [{lo}, {hi}]")
    return value


def read_sections(data: bytes) -> tuple[int, dict[int, bytes]]:
    """Validate header, table, CRCs and SHA-256; return (flags, {type: bytes})."""
    if len(data) < L.MIN_FILE_SIZE:
        raise FormatError(f"file is {len(data)} bytes, shorter than the smallest valid .ecm "
                          f"({L.MIN_FILE_SIZE} bytes): truncated or not a model")
    (magic, vmaj, vmin, hsize, fsize, nsec, flags, table_off, _) = L.HEADER.unpack_from(data)
    if magic != L.MAGIC:
        raise FormatError(f"bad magic {magic!r}: not an edgecomp .ecm file")
    if vmaj != L.VERSION_MAJOR:
        raise FormatError(f"format version {vmaj}.{vmin} is not supported by this reader "
                          f"(it reads {L.VERSION_MAJOR}.x)")
    if hsize != L.HEADER_SIZE or table_off != L.HEADER_SIZE:
        raise FormatError(f"header size {hsize} / section table offset {table_off}: expected 64")
    if fsize != len(data):
        raise FormatError(f"header says the file is {fsize} bytes but it has {len(data)} "
                          "(truncated or padded)")
    _check_range(nsec, 1, L.MAX_SECTIONS, "section count")
    if flags & ~L.FLAG_DYNAMIC_FIXED_POINT:
        raise FormatError(f"unknown header flags 0x{flags:x}")
    body_end = len(data) - L.TRAILER_SIZE
    digest = hashlib.sha256(data[:body_end]).digest()
    if digest != data[body_end:]:
        raise FormatError("whole-file SHA-256 mismatch: the file is corrupt")
    table_end = L.HEADER_SIZE + nsec * L.SECTION_ENTRY_SIZE
    if table_end > body_end:
        raise FormatError(f"section table ({nsec} entries) runs past the end of the file")
    sections: dict[int, bytes] = {}
    spans = []
    for i in range(nsec):
        stype, enc, off, size, crc, _ = L.SECTION_ENTRY.unpack_from(
            data, L.HEADER_SIZE + i * L.SECTION_ENTRY_SIZE)
        name = f"section {i} ({L.SECTION_NAMES.get(stype, f'type {stype}')})"
        if stype not in L.SECTION_NAMES and stype < L.VENDOR_SECTION_MIN:
            raise FormatError(f"{name}: unknown section type {stype}")
        if enc != 0:
            raise FormatError(f"{name}: unknown encoding {enc}")
        if off % L.SECTION_ALIGN or off < table_end or off + size > body_end:
            raise FormatError(f"{name}: offset {off} size {size} is misaligned or outside "
                              f"the file body [{table_end}, {body_end})")
        blob = data[off:off + size]
        actual = zlib.crc32(blob) & 0xFFFFFFFF
        if actual != crc:
            raise FormatError(f"{name}: crc32 mismatch (stored 0x{crc:08x}, "
                              f"computed 0x{actual:08x})")
        if stype in sections:
            raise FormatError(f"{name}: duplicate section type")
        spans.append((off, off + size, name))
        if stype < L.VENDOR_SECTION_MIN:
            sections[stype] = blob
    spans.sort()
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            raise FormatError(f"{an} overlaps {bn}")
    for req in L.REQUIRED_SECTIONS:
        if req not in sections:
            raise FormatError(f"required section {L.SECTION_NAMES[req]} is missing")
    return flags, sections


def _name(strings: bytes, off: int, n: int, what: str) -> str:
    if off + n > len(strings):
        raise FormatError(f"{what}: name [{off}, {off + n}) lies outside STRINGS "
                          f"({len(strings)} bytes)")
    try:
        return strings[off:off + n].decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{what}: name is not UTF-8 ({e})") from None


def _read_tensor(cur: _Cursor, strings: bytes, i: int) -> QTensor:
    noff, nlen, dtype, rank, tflags, *rest = cur.unpack(L.TENSOR_RECORD)
    dims, scale, zp = rest[:4], rest[4], rest[5]
    what = f"tensor {i}"
    name = _name(strings, noff, nlen, what)
    what = f"tensor {i} {name!r}"
    if dtype != DTYPE_INT8:
        raise FormatError(f"{what}: dtype {dtype} is not int8 (1)")
    _check_range(rank, 1, 4, f"{what}: rank")
    if tflags:
        raise FormatError(f"{what}: unknown flags 0x{tflags:x}")
    for d in dims:
        _check_range(d, 1, L.MAX_DIM, f"{what}: dimension")
    if any(d != 1 for d in dims[rank:]):
        raise FormatError(f"{what}: dims past rank {rank} must be 1, got {dims}")
    shape = tuple(dims[:rank])
    if math.prod(shape) > L.MAX_ELEMENTS:
        raise FormatError(f"{what}: {math.prod(shape)} elements exceed the limit 2^28")
    if not (math.isfinite(scale) and scale > 0):
        raise FormatError(f"{what}: scale {scale} is not a positive finite number")
    _check_range(zp, -128, 127, f"{what}: zero_point")
    return QTensor(name, shape, float(scale), int(zp))


def _read_blob(ref, dat: bytes, what: str) -> tuple[str, int, bytes]:
    kind, count, off, size = ref
    if kind not in BLOB_NAMES:
        raise FormatError(f"{what}: unknown blob kind {kind}")
    if off % L.BLOB_ALIGN or off + size > len(dat):
        raise FormatError(f"{what}: blob at {off} size {size} is misaligned or outside DATA "
                          f"({len(dat)} bytes)")
    return BLOB_NAMES[kind], count, dat[off:off + size]


def _i32_blob(blob, kind: str, n: int, what: str) -> np.ndarray:
    bkind, count, raw = blob
    if bkind != kind or count != n or len(raw) != 4 * n:
        raise FormatError(f"{what}: expected {kind} blob of {n} i32, got {bkind} count {count} "
                          f"size {len(raw)}")
    return np.frombuffer(raw, dtype="<i4").astype(np.int32)


def _table_blob(blobs, kind: str, what: str) -> np.ndarray:
    """The single table blob of LUT (int8[256]) / LRN, RESIZE (i32[count], checked later)."""
    if len(blobs) != 1:
        raise FormatError(f"{what}: needs 1 blob ({kind}), has {len(blobs)}")
    bkind, count, raw = blobs[0]
    if kind == "LUT":
        if bkind != "LUT" or count != 256 or len(raw) != 256:
            raise FormatError(f"{what}: expected LUT blob of 256 int8, got {bkind} count "
                              f"{count} size {len(raw)}")
        return np.frombuffer(raw, dtype=np.int8).copy()
    return _i32_blob(blobs[0], kind, count, what)


def _weights(blob, c_out: int, k: int, what: str) -> tuple[np.ndarray, str]:
    bkind, count, raw = blob
    if bkind == "WEIGHTS_DENSE":
        if count != c_out * k or len(raw) != count:
            raise FormatError(f"{what}: dense weights blob has {len(raw)} bytes / count {count}, "
                              f"C_out*K = {c_out * k}")
        return np.frombuffer(raw, dtype=np.int8).reshape(c_out, k).copy(), "dense"
    if bkind == "WEIGHTS_SPARSE_REL8":
        need = 4 * (c_out + 1) + 2 * count
        if len(raw) != need:
            raise FormatError(f"{what}: sparse weights blob has {len(raw)} bytes, expected "
                              f"{need} for {c_out} rows and {count} pairs")
        rs = np.frombuffer(raw[:4 * (c_out + 1)], dtype="<u4")
        vals = np.frombuffer(raw[4 * (c_out + 1):4 * (c_out + 1) + count], dtype=np.int8)
        steps = np.frombuffer(raw[4 * (c_out + 1) + count:], dtype=np.uint8)
        try:
            return decode_rel8(rs, vals, steps, k), "sparse_rel8"
        except FormatError as e:
            raise FormatError(f"{what}: {e}") from None
    if bkind in DECODED_KINDS:  # docs/format.md 3.3-3.8, decoded here like the C loader does
        return decode_blob(bkind, count, raw, c_out, k, what)
    raise FormatError(f"{what}: blob kind {bkind} cannot hold weights")


def _read_node(cur: _Cursor, strings: bytes, dat: bytes, n_tensors: int, i: int,
               tensors: list[QTensor], budget: Budget | None = None) -> QNode:
    op, nflags, noff, nlen, nin, nout, npar, nblob = cur.unpack(L.NODE_HEAD)
    name = _name(strings, noff, nlen, f"node {i}")
    what = f"node {i} {name!r}"
    if op not in OP_NAMES:
        raise FormatError(f"{what}: unknown op code {op}")
    opname = OP_NAMES[op]
    what = f"node {i} {name!r} ({opname})"
    if nflags:
        raise FormatError(f"{what}: unknown flags 0x{nflags:x}")
    _check_range(nin, 1, L.MAX_NODE_INPUTS, f"{what}: input count")
    _check_range(nout, 1, 1, f"{what}: output count")
    _check_range(npar, 0, L.MAX_PARAMS, f"{what}: param count")
    _check_range(nblob, 0, L.MAX_BLOBS, f"{what}: blob count")
    ins, outs = cur.u32s(nin), cur.u32s(nout)
    for t in ins + outs:
        _check_range(t, 0, n_tensors - 1, f"{what}: tensor index")
    params = cur.i32s(npar)
    blobs = [_read_blob(cur.unpack(L.BLOB_REF), dat, f"{what} blob {j}") for j in range(nblob)]
    expected_params = len(OP_PARAMS[opname]) + (2 * nin if opname == "CONCAT" else 0)
    if npar != expected_params:
        raise FormatError(f"{what}: {npar} params, the op takes {expected_params}")
    node = QNode(opname, name, ins, outs, params)
    if opname in ("CONV", "FC"):
        if nblob != 4:
            raise FormatError(f"{what}: needs 4 blobs (weights, bias, multiplier, shift), "
                              f"has {nblob}")
        y_shape = tensors[outs[0]].shape
        if len(y_shape) < 2:
            raise FormatError(f"{what}: output shape {y_shape} has no channel dimension")
        c_out = y_shape[1]
        if opname == "CONV":
            x_shape = tensors[ins[0]].shape
            groups = params[OP_PARAMS["CONV"].index("groups")]
            if len(x_shape) != 4 or groups < 1 or x_shape[1] % groups:
                raise FormatError(f"{what}: input shape {x_shape} / groups {groups} invalid")
            kh, kw = params[0], params[1]
            if not (1 <= kh <= 64 and 1 <= kw <= 64):
                raise FormatError(f"{what}: kernel {kh}x{kw} out of range")
            k = x_shape[1] // groups * kh * kw
        else:
            k = math.prod(tensors[ins[0]].shape[1:])
        if budget is not None:  # before the rows are expanded (docs/format.md 6.1)
            budget.charge(what, c_out * k, math.prod(y_shape) * k)
        node.weights, node.weight_encoding = _weights(blobs[0], c_out, k, what)
        node.bias = _i32_blob(blobs[1], "BIAS", c_out, what)
        node.multiplier = _i32_blob(blobs[2], "MULTIPLIER", c_out, what)
        node.shift = _i32_blob(blobs[3], "SHIFT", c_out, what)
    elif opname == "SOFTMAX":
        if nblob != 1:
            raise FormatError(f"{what}: needs 1 blob (exp table), has {nblob}")
        node.exp_table = _i32_blob(blobs[0], "EXP_TABLE", 256, what)
    elif opname in TABLE_BLOBS:
        node.table = _table_blob(blobs, TABLE_BLOBS[opname], what)
    elif nblob:
        raise FormatError(f"{what}: op takes no blobs, has {nblob}")
    return node


def parse_ecm(data: bytes) -> QModel:
    """Validate ``data`` completely and return the QModel it holds."""
    data = bytes(data)
    flags, sec = read_sections(data)
    strings, dat = sec[L.SEC_STRINGS], sec[L.SEC_DATA]
    cur = _Cursor(sec[L.SEC_GRAPH], "GRAPH section")
    n_t, n_n, n_in, n_out = cur.unpack(L.GRAPH_HEAD)
    _check_range(n_t, 1, L.MAX_TENSORS, "tensor count")
    _check_range(n_n, 1, L.MAX_NODES, "node count")
    _check_range(n_in, 1, 1, "graph input count")
    _check_range(n_out, 1, L.MAX_OUTPUTS, "graph output count")
    inputs, outputs = cur.u32s(n_in), cur.u32s(n_out)
    for t in inputs + outputs:
        _check_range(t, 0, n_t - 1, "graph input/output tensor index")
    tensors = [_read_tensor(cur, strings, i) for i in range(n_t)]
    budget = Budget()
    nodes = [_read_node(cur, strings, dat, n_t, i, tensors, budget) for i in range(n_n)]
    if cur.pos != len(cur.data):
        raise FormatError(f"GRAPH section: {len(cur.data) - cur.pos} unexpected bytes after "
                          "the last node")
    labels = []
    if L.SEC_LABELS in sec:
        try:
            labels = sec[L.SEC_LABELS].decode("utf-8").split("\n")
        except UnicodeDecodeError as e:
            raise FormatError(f"LABELS section is not UTF-8 ({e})") from None
    metadata = {}
    if L.SEC_METADATA in sec:
        try:
            metadata = json.loads(sec[L.SEC_METADATA].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise FormatError(f"METADATA section is not valid UTF-8 JSON ({e})") from None
        if not isinstance(metadata, dict):
            raise FormatError("METADATA section is not a JSON object")
    model = QModel(tensors, nodes, inputs, outputs, labels, metadata,
                   dynamic_fixed_point=bool(flags & L.FLAG_DYNAMIC_FIXED_POINT))
    check_model(model)
    return model


def load_ecm(path: str | Path) -> QModel:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise FormatError(f"cannot read model {path}: {e.strerror}") from None
    try:
        return parse_ecm(data)
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None
