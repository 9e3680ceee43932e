"""The C runtime on weight blobs of docs/format.md 3.3-3.8: bit for bit equal to the numpy integer
reference on models using every encoding (decoded at load into dense rows or rel8 pairs), and
accepting exactly the files the Python reader accepts when those blobs are corrupted."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from edgecomp.errors import FormatError
from edgecomp.exec_int import run_int
from edgecomp.packed import QModel, QNode, QTensor, parse_ecm, write_ecm
from edgecomp.runtime import Runtime
from edgecomp.testing.encoded_models import (edge_matrices, encode_layers, random_encoded_model,
                                             resign, weight_blob_refs)

LAYOUTS = ["dense", "sparse_rel8", "rel4", "bitmap", "block:3", "block:1"]
ENCODINGS = [p + lay for p in ("", "shared+", "huffman+", "huffman+shared+") for lay in LAYOUTS]


def model_with(encoding: str, seed: int = 0) -> QModel:
    """in [1,4,7,7] -> CONV 3x3 (groups 2, pads) -> RESHAPE -> FC over 600 features whose rows
    have gaps > 255, an empty row and only-the-last weights -> FC -> SOFTMAX."""
    rng = np.random.default_rng(seed)
    t = [QTensor("in", (1, 4, 7, 7), 0.05, -3), QTensor("conv", (1, 6, 10, 10), 0.1, -128),
         QTensor("flat", (1, 600), 0.1, -128), QTensor("fc1", (1, 5), 0.2, 10),
         QTensor("fc2", (1, 3), 0.25, 0), QTensor("prob", (1, 3), 1 / 256, -128)]
    w = rng.integers(-4, 5, (6, 18)).astype(np.int8)
    w[rng.random(w.shape) < 0.6] = 0
    conv = QNode("CONV", "conv1", [0], [1], [3, 3, 1, 1, 3, 3, 2, 2, 1, 1, 2, -128, 127],
                 weights=w, bias=rng.integers(-500, 500, 6).astype(np.int32),
                 multiplier=np.full(6, 1 << 30, np.int32), shift=np.full(6, 33, np.int32))
    flat = QNode("RESHAPE", "flatten", [1], [2], [])
    fc1 = QNode("FC", "fc1", [2], [3], [-128, 127], weights=edge_matrices()["gaps"],
                bias=rng.integers(-900, 900, 5).astype(np.int32),
                multiplier=np.full(5, 1 << 30, np.int32), shift=np.full(5, 38, np.int32))
    w2 = rng.integers(-100, 100, (3, 5)).astype(np.int8)
    fc2 = QNode("FC", "fc2", [3], [4], [0, 127], weights=w2, bias=np.zeros(3, np.int32),
                multiplier=np.full(3, 1 << 30, np.int32), shift=np.full(3, 36, np.int32))
    sm = QNode("SOFTMAX", "softmax", [4], [5], [],
               exp_table=np.round(2 ** 20 * np.exp(-np.arange(256) * 0.25)).astype(np.int32))
    model = QModel(t, [conv, flat, fc1, fc2, sm], [0], [5, 3])
    return encode_layers(model, [encoding])


def inputs(model: QModel, n: int = 3, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = model.input.shape
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(n)] + [
        np.full(shape, 127, np.int8), np.full(shape, -128, np.int8)]


def assert_bit_exact(model: QModel, data: bytes, threads: int = 1) -> Runtime:
    rt = Runtime(data, num_threads=threads)
    for x in inputs(model):
        ref = run_int(model, x, keep_all=True)
        for i, v in rt.run_all(x).items():
            np.testing.assert_array_equal(v, ref[i], err_msg=model.tensors[i].name)
    return rt


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_encoding_runs_bit_exact(encoding):
    model = model_with(encoding)
    data = write_ecm(model)
    back = parse_ecm(data)
    assert [n.weight_encoding for n in back.nodes if n.weights is not None] == \
        [n.weight_encoding for n in model.nodes if n.weights is not None]
    rt = assert_bit_exact(back, data, threads=2)
    # kinds 9-13 are decoded at load into what the kernels run: rel8 pairs for the sparse FC,
    # dense rows for fc2, which has no zeros (kinds 1 and 2 are used in place as stored)
    fc1, fc2 = rt.nodes[2], rt.nodes[3]
    assert fc1.weights == ("dense" if encoding == "dense" else "sparse_rel8")
    assert fc2.weights == ("sparse_rel8" if encoding == "sparse_rel8" else "dense")
    assert fc1.weight_count == 5 * 600
    rt.run(inputs(model)[0])
    if fc1.weights == "sparse_rel8":
        nnz = int(np.count_nonzero(model.nodes[2].weights))
        assert rt.layer_stats()[2]["executed_macs"] == nnz


@pytest.mark.parametrize("seed", range(10))
def test_random_models_with_random_encodings(seed):
    model = random_encoded_model(seed)
    assert_bit_exact(model, write_ecm(model), threads=1 + seed % 3)


MUTATION_WORDS = [0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 255, 256, 65535, 2 ** 31, 2 ** 32 - 1]


def mutate(rng, data: bytes, refs) -> bytes:
    """One random corruption of a weight blob or its reference, re-signed."""
    buf = bytearray(data)
    ref_pos, kind, count, off, size = refs[int(rng.integers(len(refs)))]
    r = rng.random()
    if r < 0.45:
        buf[off + int(rng.integers(size))] ^= 1 << int(rng.integers(8))
    elif r < 0.6:
        buf[off + int(rng.integers(size))] = int(rng.integers(256))
    elif r < 0.8 and size >= 4:
        struct.pack_into("<I", buf, off + int(rng.integers(size - 3)),
                         int(rng.choice(MUTATION_WORDS)))
    elif r < 0.9:
        struct.pack_into("<I", buf, ref_pos + 4,
                         int(rng.choice(MUTATION_WORDS + [count + 1, max(0, count - 1)])))
    else:
        struct.pack_into("<I", buf, ref_pos, int(rng.choice([1, 2, 9, 10, 11, 12, 13])))
    return resign(buf)


@pytest.mark.parametrize("encoding", [e for e in ENCODINGS if e not in ("dense", "sparse_rel8")])
def test_c_and_python_readers_agree_on_corrupted_blobs(encoding):
    """Flips, random bytes and hostile words inside the blobs, changed counts and kinds: the C
    reader accepts exactly what the Python reader accepts, and what both accept runs right."""
    rng = np.random.default_rng(abs(hash(encoding)) % 2 ** 32)
    model = model_with(encoding, seed=3)
    data = write_ecm(model)
    refs = weight_blob_refs(data, model)
    accepted = rejected = 0
    for i in range(40):
        bad = mutate(rng, data, refs)
        try:
            ref_model = parse_ecm(bad)
        except FormatError:
            ref_model = None
        try:
            rt = Runtime(bad)
        except FormatError as e:
            assert ref_model is None, f"C rejects a file Python accepts: {e}"
            rejected += 1
            continue
        assert ref_model is not None, "C accepts a file the Python reader rejects"
        accepted += 1
        x = np.random.default_rng(i).integers(-128, 128, ref_model.input.shape).astype(np.int8)
        np.testing.assert_array_equal(rt.run(x), run_int(ref_model, x)[ref_model.outputs[0]])
    assert rejected > 5


@pytest.mark.parametrize("encoding,offset,fmt,value,message", [
    ("huffman+shared+bitmap", 0, "<I", 13, "only weight kinds 1, 2, 9-12 may be coded"),
    ("huffman+rel4", 8, "<I", 9, "9 Huffman streams, allowed 1..8"),
    ("rel4", 4, "<I", 7000, "row_start is not a non-decreasing index"),
    ("block:3", 0, "<I", 7, "block length 7 must divide K = 600"),
    ("shared+bitmap", 1, "<B", 3, "shared weights over layout kind 3"),
])
def test_both_readers_name_the_broken_rule(encoding, offset, fmt, value, message):
    model = model_with(encoding)
    data = write_ecm(model)
    _, _, _, off, _ = weight_blob_refs(data, model)[1]  # fc1's weights
    buf = bytearray(data)
    struct.pack_into(fmt, buf, off + offset, value)
    bad = resign(buf)
    for reader in (Runtime, parse_ecm):
        with pytest.raises(FormatError, match=r"node 2 'fc1'.*: .*" + message):
            reader(bad)
