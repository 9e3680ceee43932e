"""The .ecm writer/reader against docs/format.md: layouts, sparse encoding, validation."""
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from edgecomp.errors import FormatError
from edgecomp.exec_int import run_int
from edgecomp.packed import QModel, QNode, QTensor, parse_ecm, write_ecm
from edgecomp.packed import layout as L
from edgecomp.packed.model import BLOB_KINDS, OP_CODES
from edgecomp.packed.sparse import decode_rel8, encode_rel8, stored_pairs

SPEC = (Path(__file__).parent.parent / "docs" / "format.md").read_text()


def small_model(encoding="dense", seed=0) -> QModel:
    rng = np.random.default_rng(seed)
    t = [QTensor("in", (1, 3, 6, 6), 0.05, -3), QTensor("conv", (1, 4, 3, 3), 0.1, -128),
         QTensor("flat", (1, 36), 0.1, -128), QTensor("fc", (1, 5), 0.2, 10),
         QTensor("prob", (1, 5), 1 / 256, -128)]
    w = rng.integers(-127, 128, (4, 27)).astype(np.int8)
    w[rng.random(w.shape) < 0.7] = 0
    conv = QNode("CONV", "conv1", [0], [1], [3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1, -128, 127],
                 weights=w, weight_encoding=encoding,
                 bias=rng.integers(-500, 500, 4).astype(np.int32),
                 multiplier=np.full(4, 1 << 30, np.int32), shift=np.full(4, 8, np.int32))
    flat = QNode("RESHAPE", "flatten", [1], [2], [])
    fw = rng.integers(-127, 128, (5, 36)).astype(np.int8)
    fc = QNode("FC", "fc", [2], [3], [-128, 127], weights=fw, weight_encoding=encoding,
               bias=np.zeros(5, np.int32), multiplier=np.full(5, 1 << 30, np.int32),
               shift=np.full(5, 12, np.int32))
    sm = QNode("SOFTMAX", "softmax", [3], [4], [],
               exp_table=np.round(2 ** 20 * np.exp(-np.arange(256) * 0.2)).astype(np.int32))
    return QModel(t, [conv, flat, fc, sm], [0], [4], labels=list("abcde"),
                  metadata={"producer": "test"})


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99, 0.999, 1.0])
def test_rel8_round_trip_with_padding(sparsity):
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, (6, 1500)).astype(np.int8)
    w[rng.random(w.shape) < sparsity] = 0
    w[0, :] = 0
    w[1, 700] = 5  # a gap of 700 zeros: two padding pairs
    rs, vals, steps = encode_rel8(w)
    np.testing.assert_array_equal(decode_rel8(rs, vals, steps, 1500), w)
    # padding pairs are exactly the zero values, each bridging 256 positions
    pads = int((vals == 0).sum())
    expected_pads = 0
    for row in w:
        nz = np.flatnonzero(row)
        gaps = np.diff(np.concatenate(([-1], nz))) - 1
        expected_pads += int((gaps // 256).sum())
    assert pads == expected_pads
    assert np.all(steps[vals == 0] == 255)
    assert stored_pairs(w) == len(vals)


def test_rel8_gap_exactly_255_and_256():
    w = np.zeros((2, 600), np.int8)
    w[0, 255] = 1  # gap 255: one pair, step 255
    w[1, 256] = 1  # gap 256: padding (0,255) then (1, 0)
    rs, vals, steps = encode_rel8(w)
    assert list(rs) == [0, 1, 3]
    assert list(vals) == [1, 0, 1] and list(steps) == [255, 255, 0]


def test_rel8_rejects_row_past_k():
    with pytest.raises(FormatError, match="decodes to position"):
        decode_rel8(np.array([0, 2], np.uint32), np.array([1, 1], np.int8),
                    np.array([3, 0], np.uint8), 4)


@pytest.mark.parametrize("encoding", ["dense", "sparse_rel8"])
def test_round_trip_and_same_outputs(encoding):
    m = small_model(encoding)
    data = write_ecm(m)
    back = parse_ecm(data)
    assert [t.name for t in back.tensors] == [t.name for t in m.tensors]
    assert back.labels == m.labels and back.metadata == m.metadata
    for a, b in zip(m.nodes, back.nodes):
        assert (a.op, a.params, a.weight_encoding) == (b.op, b.params, b.weight_encoding)
        if a.weights is not None:
            np.testing.assert_array_equal(a.weights, b.weights)
    x = np.random.default_rng(2).integers(-128, 128, (1, 3, 6, 6)).astype(np.int8)
    np.testing.assert_array_equal(run_int(m, x)[4], run_int(back, x)[4])
    assert write_ecm(back) == data  # canonical: re-writing gives the same bytes


def test_layout_matches_spec():
    assert L.HEADER.size == 64 and L.SECTION_ENTRY.size == 32
    assert L.TENSOR_RECORD.size == 36 and L.BLOB_REF.size == 24 and L.NODE_HEAD.size == 28
    assert 'EDGECMP\\0' in SPEC or "EDGECMP\\0" in SPEC
    # op codes and blob kinds tables in the spec are the code's tables
    for name, code in OP_CODES.items():
        assert re.search(rf"\| {code} \| {name} \|", SPEC), name
    for name, code in BLOB_KINDS.items():
        assert re.search(rf"\| {code} \| {name} \|", SPEC), name


def test_header_fields_at_spec_offsets():
    data = write_ecm(small_model())
    assert data[:8] == b"EDGECMP\0"
    major, minor, hsize = struct.unpack_from("<HHI", data, 8)
    assert (major, minor, hsize) == (1, 1, 64)
    assert struct.unpack_from("<Q", data, 16)[0] == len(data)
    nsec = struct.unpack_from("<I", data, 24)[0]
    for i in range(nsec):
        _, _, off, _, _, _ = L.SECTION_ENTRY.unpack_from(data, 64 + 32 * i)
        assert off % 64 == 0


def _resign(buf: bytearray) -> bytes:
    """Recompute CRCs and SHA so that a semantic corruption reaches the deeper checks."""
    import hashlib
    import zlib
    nsec = struct.unpack_from("<I", buf, 24)[0]
    for i in range(nsec):
        t, e, off, size, _, r = L.SECTION_ENTRY.unpack_from(buf, 64 + 32 * i)
        L.SECTION_ENTRY.pack_into(buf, 64 + 32 * i, t, e, off, size,
                                  zlib.crc32(bytes(buf[off:off + size])), r)
    buf[-32:] = hashlib.sha256(bytes(buf[:-32])).digest()
    return bytes(buf)


def _graph_offset(data: bytes) -> int:
    return L.SECTION_ENTRY.unpack_from(data, 64)[2]


@pytest.mark.parametrize("mutate,message", [
    (lambda b: b[:50], "shorter than"),
    (lambda b: b[:-1], "SHA-256|file is"),
    (lambda b: b"XDGECMP\0" + b[8:], "bad magic"),
    (lambda b: b[:8] + struct.pack("<H", 2) + b[10:], "version 2"),
    (lambda b: b[:-40] + bytes([b[-40] ^ 1]) + b[-39:], "SHA-256"),
])
def test_corrupt_files_rejected(mutate, message):
    with pytest.raises(FormatError, match=message):
        parse_ecm(mutate(write_ecm(small_model())))


def test_crc_checked_per_section():
    import hashlib
    buf = bytearray(write_ecm(small_model()))
    g = _graph_offset(buf)
    buf[g + 3] ^= 0x40
    buf[-32:] = hashlib.sha256(bytes(buf[:-32])).digest()
    with pytest.raises(FormatError, match="crc32 mismatch"):
        parse_ecm(bytes(buf))


@pytest.mark.parametrize("field_offset,value,message", [
    (0, 70000, "tensor count"),          # tensor_count
    (16, 99, "tensor index"),            # graph input index
    (4, 0, "node count"),
])
def test_hostile_graph_counts(field_offset, value, message):
    buf = bytearray(write_ecm(small_model()))
    struct.pack_into("<I", buf, _graph_offset(buf) + field_offset, value)
    with pytest.raises(FormatError, match=message):
        parse_ecm(_resign(buf))


def test_every_truncation_is_rejected_cleanly():
    data = write_ecm(small_model("sparse_rel8"))
    for n in range(0, len(data), 7):
        with pytest.raises(FormatError):
            parse_ecm(data[:n])


def test_random_bit_flips_never_escape_as_other_errors():
    data = write_ecm(small_model("sparse_rel8"))
    rng = np.random.default_rng(3)
    for _ in range(300):
        buf = bytearray(data)
        pos = int(rng.integers(0, len(buf) - 32))
        buf[pos] ^= 1 << int(rng.integers(0, 8))
        try:
            parse_ecm(_resign(buf))
        except FormatError:
            pass
