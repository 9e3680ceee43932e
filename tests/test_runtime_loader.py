"""The C runtime through edgecomp.runtime.Runtime: loading (path and bytes), outputs equal to
the numpy integer reference, model description, and rejection of corrupt, truncated and
hostile files with FormatError naming the problem. Needs the compiled extension
(`pip install .` or `python edgecomp/_build_runtime.py`); nothing is skipped.
"""
from __future__ import annotations

import hashlib
import re
import struct

import numpy as np
import pytest

from edgecomp.errors import FormatError, RuntimeFailure, ShapeError
from edgecomp.exec_int import dequantize, quantize_input, run_int
from edgecomp.packed import QModel, QNode, QTensor, parse_ecm, write_ecm
from edgecomp.packed import layout as L
from edgecomp.runtime import Runtime
from edgecomp.testing.encoded_models import resign, section
from edgecomp.testing.random_qmodels import random_qmodel


def small_model(encoding: str = "dense", seed: int = 0) -> QModel:
    """in -> CONV (groups, pads) -> MAXPOOL -> RESHAPE -> FC -> SOFTMAX, ~70% zero weights.
    Small weights and requantization by 1/8 and 1/4 keep outputs inside int8 and make exact
    halves (the rounding rule's hard case) common."""
    rng = np.random.default_rng(seed)
    t = [QTensor("in", (1, 4, 7, 7), 0.05, -3), QTensor("conv", (1, 6, 4, 4), 0.1, -128),
         QTensor("pool", (1, 6, 2, 2), 0.1, -128), QTensor("flat", (1, 24), 0.1, -128),
         QTensor("fc", (1, 5), 0.2, 10), QTensor("prob", (1, 5), 1 / 256, -128)]
    w = rng.integers(-4, 5, (6, 2 * 9)).astype(np.int8)
    w[rng.random(w.shape) < 0.7] = 0
    w[0, 0] = 127
    conv = QNode("CONV", "conv1", [0], [1], [3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, -128, 127],
                 weights=w, weight_encoding=encoding,
                 bias=rng.integers(-500, 500, 6).astype(np.int32),
                 multiplier=np.full(6, 1 << 30, np.int32), shift=np.full(6, 33, np.int32))
    pool = QNode("MAXPOOL", "pool", [1], [2], [2, 2, 2, 2, 0, 0, 0, 0])
    flat = QNode("RESHAPE", "flatten", [2], [3], [])
    fw = rng.integers(-3, 4, (5, 24)).astype(np.int8)
    fw[rng.random(fw.shape) < 0.5] = 0
    fc = QNode("FC", "fc", [3], [4], [-128, 127], weights=fw, weight_encoding=encoding,
               bias=rng.integers(-900, 900, 5).astype(np.int32),
               multiplier=np.full(5, 1 << 30, np.int32), shift=np.full(5, 32, np.int32))
    sm = QNode("SOFTMAX", "softmax", [4], [5], [],
               exp_table=np.round(2 ** 20 * np.exp(-np.arange(256) * 0.2)).astype(np.int32))
    return QModel(t, [conv, pool, flat, fc, sm], [0], [5, 4], labels=list("abcde"),
                  metadata={"producer": "test", "input": {"layout": "NCHW"}})


def inputs(model: QModel, n: int = 4, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, model.input.shape).astype(np.int8) for _ in range(n)]
    return xs + [np.full(model.input.shape, -128, np.int8), np.full(model.input.shape, 127,
                                                                    np.int8)]


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x80]) + data[offset + 1:]


def sha_only(data: bytes) -> bytes:
    """A valid trailer but stale section CRCs."""
    return data[:-32] + hashlib.sha256(data[:-32]).digest()


def patched(data: bytes, offset: int, fmt: str, value, sign: bool = True) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return resign(buf) if sign else bytes(buf)


# ---- valid models ----

@pytest.mark.parametrize("encoding", ["dense", "sparse_rel8"])
def test_outputs_equal_reference_from_bytes_and_path(encoding, tmp_path):
    model = small_model(encoding)
    data = write_ecm(model)
    path = tmp_path / "m.ecm"
    path.write_bytes(data)
    for rt in (Runtime(data), Runtime(path, num_threads=3), Runtime(str(path))):
        for x in inputs(model):
            ref = run_int(model, x, keep_all=True)
            outs = rt.run_outputs(x)
            assert [o.shape for o in outs] == [(1, 5), (1, 5)]
            for got, t in zip(outs, model.outputs):
                np.testing.assert_array_equal(got, ref[t])
            np.testing.assert_array_equal(rt.run(x), ref[5])
            every = rt.run_all(x)
            assert sorted(every) == list(range(len(model.tensors)))
            for i, v in every.items():
                np.testing.assert_array_equal(v, ref[i], err_msg=model.tensors[i].name)
        rt.close()


@pytest.mark.parametrize("seed", range(8))
def test_random_format_level_models(seed):
    model = random_qmodel(seed)
    rt = Runtime(write_ecm(model), num_threads=1 + seed % 3)
    for x in inputs(model, 2, seed):
        for i, v in rt.run_all(x).items():
            np.testing.assert_array_equal(v, run_int(model, x, keep_all=True)[i])


def test_model_description():
    model = small_model("sparse_rel8")
    rt = Runtime(write_ecm(model))
    assert rt.input_shape == (1, 4, 7, 7)
    assert rt.input_scale == pytest.approx(0.05) and rt.input_zero_point == -3
    assert [o.name for o in rt.outputs] == ["prob", "fc"]
    assert rt.output_shape == (1, 5) and rt.output_zero_point == -128
    assert rt.output_scale == 1 / 256
    assert [t.name for t in rt.tensors] == [t.name for t in model.tensors]
    assert rt.labels == list("abcde")
    assert rt.metadata == model.metadata
    assert not rt.dynamic_fixed_point
    assert [(n.name, n.op) for n in rt.nodes] == [(n.name, n.op) for n in model.nodes]
    conv = rt.nodes[0]
    assert conv.weights == "sparse_rel8" and conv.weight_count == 6 * 18
    assert conv.stored_weights == int((model.nodes[0].weights != 0).sum())
    assert conv.dense_macs == 6 * 16 * 18 and conv.inputs == (0,) and conv.output == 1
    assert rt.nodes[1].weights is None and rt.nodes[1].dense_macs == 0
    # the liveness plan reuses memory: less than every tensor side by side
    total = sum(-(-t.size // 64) * 64 for t in rt.tensors)
    assert 0 < rt.arena_bytes == rt.planned_arena_bytes < total
    assert "Runtime('<bytes>'" in repr(rt)


def test_layer_stats_count_skipped_weights():
    model = small_model("sparse_rel8")
    dense = Runtime(write_ecm(small_model("dense")))
    sparse = Runtime(write_ecm(model))
    x = inputs(model)[0]
    dense.run(x)
    sparse.run(x)
    d, s = dense.layer_stats(), sparse.layer_stats()
    assert [r["name"] for r in s] == [n.name for n in model.nodes]
    for a, b in zip(d, s):
        assert a["dense_macs"] == b["dense_macs"]
        assert b["executed_macs"] <= a["executed_macs"] <= a["dense_macs"]
        assert a["ns"] >= 0 and set(a) >= {"op", "weights", "stored_weights"}
    # the FC has no padding: dense executes every MAC, sparse only the non-zero weights
    assert d[3]["executed_macs"] == d[3]["dense_macs"] == 5 * 24
    assert s[3]["executed_macs"] == int((model.nodes[3].weights != 0).sum())
    assert sparse.last_run_ns > 0


def test_float_input_is_quantized_half_to_even():
    model = small_model()
    rt = Runtime(write_ecm(model))
    t = model.input
    rng = np.random.default_rng(3)
    k = rng.integers(-140, 140, t.shape)
    # exact halves: round half to even, then saturate at the int8 range
    x = ((k + 0.5) * np.float32(t.scale)).astype(np.float32)
    q = rt.quantize(x)
    np.testing.assert_array_equal(q, quantize_input(model, x))
    np.testing.assert_array_equal(q, np.clip(np.round(x / np.float32(t.scale)) + t.zero_point,
                                             -128, 127).astype(np.int8))
    assert q.min() == -128 and q.max() == 127
    np.testing.assert_array_equal(rt.run(x), rt.run(q))
    np.testing.assert_array_equal(rt.run(x.astype(np.float64)), rt.run(q))
    y = rt.run(q)
    np.testing.assert_array_equal(rt.dequantize(y), dequantize(model.output, y))
    np.testing.assert_array_equal(rt.dequantize(rt.run_outputs(q)[1], output=1),
                                  dequantize(model.tensors[4], rt.run_outputs(q)[1]))


@pytest.mark.parametrize("bad,message", [
    (np.zeros((1, 4, 7, 6), np.int8), r"input 'in': shape \(1, 4, 7, 6\) given, \(1, 4, 7, 7\)"),
    (np.zeros((4, 7, 7), np.int8), r"shape \(4, 7, 7\) given"),
    (np.zeros((1, 4, 7, 7), np.int32), r"dtype int32 given, int8"),
    (np.zeros((1, 4, 7, 7), np.uint8), r"dtype uint8 given"),
    (np.zeros((1, 4, 7, 7), np.float32)[..., :6], r"shape \(1, 4, 7, 6\)"),
])
def test_wrong_input_raises_shape_error(bad, message):
    rt = Runtime(write_ecm(small_model()))
    with pytest.raises(ShapeError, match=message):
        rt.run(bad)
    with pytest.raises(ShapeError, match=message):
        rt.run_all(bad)


def test_non_contiguous_input_and_closed_runtime():
    model = small_model()
    rt = Runtime(write_ecm(model))
    x = inputs(model)[0]
    wide = np.zeros((1, 4, 7, 14), np.int8)
    wide[..., ::2] = x
    np.testing.assert_array_equal(rt.run(wide[..., ::2]), rt.run(x))
    with Runtime(write_ecm(model)) as other:
        other.run(x)
    with pytest.raises(RuntimeFailure, match="closed"):
        other.run(x)
    rt.close()
    rt.close()  # idempotent
    with pytest.raises(RuntimeFailure, match="closed"):
        rt.layer_stats()


def test_bad_arguments():
    data = write_ecm(small_model())
    with pytest.raises(TypeError, match="path or bytes"):
        Runtime(12)
    with pytest.raises(RuntimeFailure, match="num_threads = 65 is out of range"):
        Runtime(data, num_threads=65)
    # bytes at an odd address are copied to an aligned buffer, never rejected
    odd = memoryview(bytearray(b"x" + data))[1:]
    np.testing.assert_array_equal(Runtime(odd).run(inputs(small_model())[0]),
                                  Runtime(data).run(inputs(small_model())[0]))


# ---- corrupt, truncated, hostile ----

DATA = write_ecm(small_model("sparse_rel8"))
G_OFF, G_LEN = section(DATA, 1)
D_OFF, D_LEN = section(DATA, 2)
T0 = G_OFF + 16 + 4 * 3            # tensor records: header, 1 input, 2 outputs
N0 = T0 + 6 * L.TENSOR_RECORD.size  # node 0 (CONV): head, 1 input, 1 output, 13 params, blobs
N0_PARAMS = N0 + L.NODE_HEAD.size + 8
N0_BLOBS = N0_PARAMS + 13 * 4

HOSTILE = [
    # header fields
    ("magic", lambda d: b"XDGECMP\0" + d[8:], "bad magic 58 44 47 45"),
    ("version_major", lambda d: patched(d, 8, "<H", 2), r"format version 2\.1 is not supported"),
    ("header_size", lambda d: patched(d, 12, "<I", 96), "header size 96"),
    ("file_size", lambda d: patched(d, 16, "<Q", len(d) + 64),
     rf"header says the file is {len(DATA) + 64} bytes but it has {len(DATA)}"),
    ("section_count_0", lambda d: patched(d, 24, "<I", 0),
     r"section count = 0 is out of range \[1, 64\]"),
    ("section_count_65", lambda d: patched(d, 24, "<I", 65), "section count = 65"),
    ("flags", lambda d: patched(d, 28, "<I", 6), "unknown header flags 0x6"),
    ("table_offset", lambda d: patched(d, 32, "<Q", 0), "section table offset 0"),
    # integrity
    ("sha_flip", lambda d: d[:-1] + bytes([d[-1] ^ 1]), "whole-file SHA-256 mismatch"),
    ("body_flip", lambda d: flip(d, 200), "SHA-256 mismatch"),
    ("crc_flip", lambda d: sha_only(flip(d, D_OFF + 5)),
     r"section 1 \(DATA\): crc32 mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)"),
    # section table
    ("section_type", lambda d: patched(d, 96, "<I", 9), r"section 1 \(type 9\): unknown section "
                                                        "type 9"),
    ("vendor_section_hides_data", lambda d: patched(d, 96, "<I", 1234),
     "required section DATA is missing"),
    ("section_encoding", lambda d: patched(d, 100, "<I", 1), "unknown encoding 1"),
    ("section_misaligned", lambda d: patched(d, 104, "<Q", D_OFF + 8), "misaligned or outside"),
    ("section_past_end", lambda d: patched(d, 112, "<Q", len(d)), "misaligned or outside"),
    ("section_overlap", lambda d: patched(d, 104, "<Q", G_OFF), "overlaps"),
    ("section_duplicate", lambda d: patched(d, 128, "<I", 2), "duplicate section type"),
    # graph counts and indices
    ("tensor_count", lambda d: patched(d, G_OFF, "<I", 65536),
     r"tensor count = 65536 is out of range \[1, 65535\]"),
    ("node_count", lambda d: patched(d, G_OFF + 4, "<I", 0), "node count = 0"),
    ("input_count", lambda d: patched(d, G_OFF + 8, "<I", 2), "graph input count = 2"),
    ("output_count", lambda d: patched(d, G_OFF + 12, "<I", 17), "graph output count = 17"),
    ("graph_input_index", lambda d: patched(d, G_OFF + 16, "<I", 6),
     r"graph input/output tensor index = 6 is out of range \[0, 5\]"),
    ("graph_output_index", lambda d: patched(d, G_OFF + 24, "<I", 0xFFFFFFFF),
     "tensor index = 4294967295"),
    ("tensor_dtype", lambda d: patched(d, T0 + 36 + 8, "<B", 3),
     "tensor 1 'conv': dtype 3 is not int8"),
    ("tensor_rank", lambda d: patched(d, T0 + 36 + 9, "<B", 5), "rank = 5 is out of range"),
    ("tensor_dim", lambda d: patched(d, T0 + 36 + 12 + 4, "<i", -6),
     "dimension 1 = -6 is out of range"),
    ("tensor_scale", lambda d: patched(d, T0 + 36 + 28, "<f", float("nan")),
     "scale nan is not a positive finite number"),
    ("tensor_zero_point", lambda d: patched(d, T0 + 36 + 32, "<i", 300),
     r"zero_point = 300 is out of range \[-128, 127\]"),
    ("tensor_name", lambda d: patched(d, T0 + 36, "<I", 10 ** 6), "name .* lies outside STRINGS"),
    ("op_code", lambda d: patched(d, N0, "<H", 42), "node 0 'conv1': unknown op code 42"),
    ("node_input_index", lambda d: patched(d, N0 + L.NODE_HEAD.size, "<I", 6),
     r"node 0 'conv1' \(CONV\): tensor index = 6 is out of range \[0, 5\]"),
    ("node_reads_later_tensor", lambda d: patched(d, N0 + L.NODE_HEAD.size, "<I", 3),
     "reads tensor 3 .* before it is produced"),
    ("node_param_count", lambda d: patched(d, N0 + 20, "<I", 99), "param count = 99"),
    ("conv_kernel", lambda d: patched(d, N0_PARAMS, "<i", 0), r"kernel 0x3.*out of \[1, 64\]"),
    ("conv_groups", lambda d: patched(d, N0_PARAMS + 40, "<i", 3),
     "groups 3 must divide input channels and output channels"),
    ("conv_stride_shape", lambda d: patched(d, N0_PARAMS + 8, "<i", 1),
     r"output shape \[1, 6, 4, 4\] does not follow from input \[1, 4, 7, 7\]"),
    ("blob_kind", lambda d: patched(d, N0_BLOBS, "<I", 99), "blob 0: unknown blob kind 99"),
    ("blob_misaligned", lambda d: patched(d, N0_BLOBS + 8, "<Q", 4),
     "blob at 4 size .* is misaligned or outside DATA"),
    ("blob_outside_data", lambda d: patched(d, N0_BLOBS + 8, "<Q", 1 << 40),
     "is misaligned or outside DATA"),
    ("blob_pair_count", lambda d: patched(d, N0_BLOBS + 4, "<I", 1),
     "sparse weights blob has .* bytes, expected"),
    ("bias_blob_kind", lambda d: patched(d, N0_BLOBS + 24, "<I", 5),
     "expected BIAS blob of 6 i32, got SHIFT"),
]


@pytest.mark.parametrize("name,mutate,message", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_file_raises_format_error(name, mutate, message, tmp_path):
    bad = mutate(DATA)
    with pytest.raises(FormatError, match=message):
        Runtime(bad)
    path = tmp_path / "bad.ecm"
    path.write_bytes(bad)
    with pytest.raises(FormatError, match=re.escape(str(path)) + ": "):
        Runtime(path)
    # the Python reader rejects the same file
    with pytest.raises(FormatError):
        parse_ecm(bad)


def test_blob_contents_checked():
    conv = small_model("sparse_rel8").nodes[0]
    blob_offsets = [struct.unpack_from("<Q", DATA, N0_BLOBS + 24 * j + 8)[0] for j in range(4)]
    w_off, bias_off, mult_off, shift_off = (D_OFF + o for o in blob_offsets)
    pairs = struct.unpack_from("<I", DATA, N0_BLOBS + 4)[0]
    steps = w_off + 4 * 7 + pairs
    cases = [
        (patched(DATA, shift_off + 4, "<i", 63), r"channel 1: multiplier \d+, shift 63"),
        (patched(DATA, mult_off, "<i", -5), "multiplier must be >= 0"),
        (patched(DATA, w_off + 4, "<I", pairs + 1), "row_start is not a non-decreasing index"),
        (patched(DATA, steps + 1, "<B", 250), "sparse weights: row 0 decodes to position"),
        (patched(DATA, bias_off, "<i", 2 ** 31 - 1),
         "channel 0: .* could overflow the int32 accumulator"),
    ]
    assert conv.weights[0].any()
    for bad, message in cases:
        with pytest.raises(FormatError, match=message):
            Runtime(bad)


def test_every_truncation_is_rejected():
    for n in list(range(0, 200, 3)) + list(range(200, len(DATA), 37)) + [len(DATA) - 1]:
        with pytest.raises(FormatError, match="shorter than|header says the file is"):
            Runtime(DATA[:n])
        if n >= 128:  # a consistent header and trailer: the sections now stick out
            buf = bytearray(DATA[:n])
            struct.pack_into("<Q", buf, 16, n)
            last_end = max(section(DATA, t)[0] + section(DATA, t)[1] for t in (1, 2, 3, 4, 5))
            if n - 32 < last_end:
                with pytest.raises(FormatError, match="outside the file body|runs past|"
                                                      "shorter than"):
                    Runtime(resign(buf))


def test_metadata_must_be_json_object():
    m = small_model()
    m.metadata = {"x": 1}
    data = bytearray(write_ecm(m))
    off, size = section(bytes(data), 5)
    data[off:off + size] = b"[" + b" " * (size - 2) + b"]"
    with pytest.raises(FormatError, match="not a JSON object"):
        Runtime(resign(data))
    data[off] = ord("{")
    with pytest.raises(FormatError, match="not valid UTF-8 JSON"):
        Runtime(resign(data))


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match=r"missing\.ecm: cannot open: No such file"):
        Runtime(tmp_path / "missing.ecm")
    with pytest.raises(FormatError, match="not a regular file"):
        Runtime(tmp_path)


def test_c_and_python_readers_agree_on_random_corruption():
    """Random bit flips and hostile GRAPH words, re-signed: the C reader accepts exactly the
    files the Python reader accepts (both refuse weights whose int32 accumulator could
    overflow)."""
    rng = np.random.default_rng(7)
    words = [0, 1, 2, 3, 5, 8, 63, 64, 65, 127, 128, 255, 256, 65535, 2 ** 31 - 1, 2 ** 32 - 1]
    accepted = 0
    for seed, data in enumerate([DATA, write_ecm(random_qmodel(3)), write_ecm(random_qmodel(4))]):
        g_off, g_len = section(data, 1)
        for i in range(250):
            buf = bytearray(data)
            if i % 2:
                pos = int(rng.integers(0, len(buf) - 32))
                buf[pos] ^= 1 << int(rng.integers(0, 8))
            else:
                struct.pack_into("<I", buf, g_off + 4 * int(rng.integers(0, g_len // 4)),
                                 int(rng.choice(words)))
            bad = resign(buf)
            try:
                model = parse_ecm(bad)
            except FormatError:
                model = None
            try:
                rt = Runtime(bad)
            except FormatError as e:
                assert model is None, f"the C reader rejects a file Python accepts: {e}"
                continue
            assert model is not None, "the C reader accepted a file the Python reader rejects"
            accepted += 1
            x = np.random.default_rng(i).integers(-128, 128, model.input.shape).astype(np.int8)
            np.testing.assert_array_equal(rt.run(x), run_int(model, x)[model.outputs[0]])
    assert accepted > 10  # some corruptions keep the file valid; those must still run right
