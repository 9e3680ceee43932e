"""Weight encodings of docs/format.md 3.3-3.8 in Python: exact bytes against the spec, round
trips of every encoding on matrices that break naive encoders (gaps > 15 and > 255, empty rows,
all-zero layers, K = 1), Huffman coding (optimal length-limited codes, hostile tables), the
reader's rejections, and the writer's choice being the smallest."""
from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest

from edgecomp.errors import FormatError
from edgecomp.packed import parse_ecm, write_ecm
from edgecomp.packed.encodings import (LayerCodings, WeightCoding, blob_size, choose, decode_blob,
                                       encode_blob)
from edgecomp.packed.encodings import huffman as H
from edgecomp.packed.stats import choose_encoding, layer_stats
from edgecomp.testing.encoded_models import edge_matrices, encoding_names, random_encoded_model

MATRICES = edge_matrices()


# ---- exact bytes: the spec's layouts, hand-computed ----

W8 = np.array([[0, 0, 3, 0, 0, -2, 0, 1]], np.int8)  # one row, K = 8


def u32s(*v):
    return struct.pack(f"<{len(v)}I", *v)


@pytest.mark.parametrize("name,kind,count,data", [
    # pairs (3, step 2), (-2, 2), (1, 1); steps as nibbles, pair 0 low; values last
    ("rel4", "WEIGHTS_SPARSE_REL4", 3, u32s(0, 3) + bytes([0x22, 0x01]) + bytes([3, 0xFE, 1])),
    # positions 2, 5, 7 -> 0b10100100, least significant bit first
    ("bitmap", "WEIGHTS_BITMAP", 3, bytes([0xA4, 3, 0xFE, 1])),
    # blocks of 2: numbers 1, 2, 3 kept, u8 indices
    ("block:2", "WEIGHTS_BLOCK", 3, u32s(2, 1, 0, 3) + bytes([1, 2, 3, 3, 0, 0, 0xFE, 0, 1])),
    # codebook [-2, 1, 3] (3 codes: 2 bits), codes 2, 0, 1 LSB first -> 0b00010010
    ("shared+bitmap", "WEIGHTS_SHARED", 3, bytes([2, 10, 3, 0, 0xFE, 1, 3, 0xA4, 0x12])),
    # rel8 (kind 2) inside SHARED: row_start then steps, the values replaced by codes
    ("shared+sparse_rel8", "WEIGHTS_SHARED", 3,
     bytes([2, 2, 3, 0, 0xFE, 1, 3]) + u32s(0, 3) + bytes([2, 2, 1, 0x12])),
])
def test_layout_bytes_follow_the_spec(name, kind, count, data):
    assert encode_blob(W8, name) == (kind, count, data)
    w, back = decode_blob(kind, count, data, 1, 8)
    assert back == name and np.array_equal(w, W8)


def test_huffman_bytes_follow_the_spec():
    # one stream "aab": a and b get 1-bit codes 0 and 1 (canonical), bits 0 0 1 -> 0x20
    blob = H.encode(1, [b"aab"])
    assert blob == (u32s(1, 3, 1) + u32s(3, 1) + struct.pack("<H", 2) + b"ab" + bytes([1, 1])
                    + bytes([0x20]))
    assert H.decode(blob, "w") == (1, b"aab")
    # canonical codes: (length, symbol) order, code = (previous + 1) << length difference
    codes = H.canonical_codes(np.array([1, 2, 3, 4]), np.array([2, 1, 3, 3]))
    assert codes.tolist() == [0b10, 0b0, 0b110, 0b111]


# ---- round trips ----

CASES = [(m, enc) for m, w in MATRICES.items() for enc in encoding_names(w.shape[1])]


@pytest.mark.parametrize("matrix,encoding", CASES, ids=[f"{m}-{e}" for m, e in CASES])
def test_round_trip(matrix, encoding):
    w = MATRICES[matrix]
    kind, count, data = encode_blob(w, encoding)
    back, name = decode_blob(kind, count, data, *w.shape)
    assert np.array_equal(back, w) and back.dtype == np.int8
    assert name == encoding
    assert blob_size(w, encoding) == len(data)  # the size model is exact


def test_relative_padding_counts():
    """rel8 pads a gap of 256+ zeros, rel4 one of 16+: the pair counts seed 000's %W_Z and
    EIE's padding zeros are about."""
    w = MATRICES["gaps"]
    rel8 = encode_blob(w, "sparse_rel8")[1]
    rel4 = encode_blob(w, "rel4")[1]
    nnz = int(np.count_nonzero(w))
    # rel8: gap 266 and gap 298 need one pad each, gap 256 one, 598 (row 2) two
    assert rel8 == nnz + 1 + 1 + 1 + 2
    # rel4: per gap g, g // 16 pads
    gaps = [15, 16, 266, 298, 598, 15, 15, 255, 256]
    assert rel4 == nnz + sum(g // 16 for g in gaps)


def test_reencoding_a_read_model_gives_the_same_bytes():
    for seed in range(6):
        data = write_ecm(random_encoded_model(seed))
        model = parse_ecm(data)
        assert write_ecm(model) == data


# ---- Huffman ----

def _kraft(lengths):
    used = lengths[lengths > 0]
    return float((2.0 ** -used).sum())


@pytest.mark.parametrize("hist", [
    {0: 5}, {7: 1, 9: 1}, dict(enumerate([1] * 256)),
    dict(enumerate([1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597,
                    2584, 4181, 6765, 10946, 17711])),  # Fibonacci: plain Huffman needs 21 bits
])
def test_code_lengths_are_complete_and_limited(hist):
    h = np.zeros(256, np.int64)
    for s, c in hist.items():
        h[s] = c
    lengths = H.code_lengths(h)
    assert lengths.max() <= 15 and np.all((lengths > 0) == (h > 0))
    assert _kraft(lengths) == (0.5 if len(hist) == 1 else 1.0)


def test_package_merge_is_optimal_under_the_limit():
    """Against brute force: every length assignment with lengths <= L and Kraft sum 1."""
    rng = np.random.default_rng(3)
    for trial in range(30):
        n, limit = int(rng.integers(2, 7)), int(rng.integers(3, 5))
        w = rng.integers(1, 60, n) ** int(rng.integers(1, 4))
        got = H._package_merge(w.astype(np.int64), limit)
        best = min(sum(int(a) * b for a, b in zip(w, ls))
                   for ls in itertools.product(range(1, limit + 1), repeat=n)
                   if sum(2.0 ** -l for l in ls) == 1.0)
        assert got.max() <= limit and sum(2.0 ** -got) == 1.0
        assert int((w * got).sum()) == best


@pytest.mark.parametrize("data", [
    b"", b"\x00" * 1000, bytes(range(256)) * 3,
    np.random.default_rng(1).integers(-4, 5, 5000).astype(np.int8).tobytes(),
    bytes(np.random.default_rng(2).zipf(1.5, 20000).clip(0, 255).astype(np.uint8)),
])
def test_huffman_round_trip(data):
    parts = [data[:len(data) // 3], data[len(data) // 3:]]
    blob = H.encode(9, parts)
    assert H.decode(blob, "w") == (9, data)
    assert H.coded_size(parts) == len(blob)


def _stream(raw: bytes, coded: bytes, symbols, lengths) -> bytes:
    return (u32s(len(raw), len(coded)) + struct.pack("<H", len(symbols)) + bytes(symbols)
            + bytes(lengths) + coded)


def _blob(*streams: bytes, inner_kind=1, inner_size=None, n=None) -> bytes:
    size = inner_size if inner_size is not None else sum(
        struct.unpack_from("<I", s)[0] for s in streams)
    return u32s(inner_kind, size, len(streams) if n is None else n) + b"".join(streams)


AB = ([0x61, 0x62], [1, 1])  # 'a' = 0, 'b' = 1


@pytest.mark.parametrize("blob,message", [
    (_blob(_stream(b"aab", b"\x20", *AB), inner_kind=13), "only weight kinds 1, 2, 9-12"),
    (_blob(_stream(b"aab", b"\x20", *AB), n=0), "0 Huffman streams"),
    (_blob(*[_stream(b"a", b"\x00", *AB)] * 9), "9 Huffman streams"),
    (_blob(_stream(b"aab", b"\x20", [0x61, 0x62], [1, 2])), "not make a complete prefix code"),
    (_blob(_stream(b"aab", b"\x20", [0x61, 0x62, 0x63], [1, 1, 1])), "complete prefix code"),
    (_blob(_stream(b"aab", b"\x20", [0x61], [2])), "complete prefix code"),
    (_blob(_stream(b"aab", b"\x20", [0x61, 0x62], [1, 16])), r"lengths must be in \[1, 15\]"),
    (_blob(_stream(b"aab", b"\x20", [0x62, 0x61], [1, 1])), "not strictly increasing"),
    (_blob(_stream(b"aab", b"\x20", [], [])), "0 symbols"),
    (_blob(_stream(b"aab", b"\x21", *AB)), "unused bits must be 0"),
    (_blob(_stream(b"aab", b"\x20\x00", *AB)), "no byte may be left over"),
    # 2-bit codes: 5 symbols need 10 bits, the stream has 8
    (_blob(_stream(b"abcda", b"\x1b", [0x61, 0x62, 0x63, 0x64], [2, 2, 2, 2])),
     "ends inside a code|ends after 4 of 5"),
    (_blob(_stream(b"a" * 17, b"\x00\x00", *AB)), "17 symbols cannot fit in 2 coded bytes"),
    (_blob(_stream(b"aab", b"\x20", *AB), inner_size=4), "the header says 4"),
    (_blob(_stream(b"aab", b"\x20", *AB)) + b"\x00", "unexpected bytes after the last"),
    (_blob(_stream(b"aab", b"\x20", *AB))[:-1], "ends inside its bit stream"),
    (_blob(_stream(b"a", b"\x80\x00", [0x61], [1])), "invalid code"),  # 1 is not a code
])
def test_hostile_huffman_blobs(blob, message):
    with pytest.raises(FormatError, match=message):
        H.decode(blob, "w")


def test_huffman_inner_blob_is_checked_as_its_kind():
    blob = H.encode(1, [b"\x01\x02\x03"])
    with pytest.raises(FormatError, match="dense weights count 3 != C_out"):
        decode_blob("WEIGHTS_HUFFMAN", 3, blob, 2, 2)
    assert np.array_equal(decode_blob("WEIGHTS_HUFFMAN", 3, blob, 1, 3)[0], [[1, 2, 3]])


# ---- layouts: the reader's rejections ----

def _enc(name, w=W8):
    kind, count, data = encode_blob(w, name)
    return kind, count, bytearray(data)


def _patch(data, off, fmt, value):
    struct.pack_into(fmt, data, off, value)
    return data


def test_hostile_layout_blobs():
    gaps, k1 = MATRICES["gaps"], MATRICES["k1"]
    cases = []  # (weights the blob was made from, kind, count, bytes, message)
    kind, count, d = _enc("rel4", gaps)
    cases.append((gaps, kind, count + 1, d, "ends inside its values"))
    cases.append((gaps, kind, count, _patch(bytearray(d), 4, "<I", 10 ** 6), "row_start is not"))
    steps = bytearray(d)  # every step 15: row 0 runs past K
    n_step = (count + 1) // 2
    steps[24:24 + n_step] = b"\xff" * n_step
    steps[24 + n_step - 1] &= 0x0F if count % 2 else 0xFF
    cases.append((gaps, kind, count, steps, "row 0 decodes to position"))
    kind, count, d = _enc("rel4")  # 3 pairs: an unused high nibble
    cases.append((W8, kind, count, _patch(d, 9, "<B", 0x11), "unused high nibble"))
    kind, count, d = _enc("bitmap")
    cases.append((W8, kind, count, _patch(bytearray(d), 0, "<B", 0xA5), "4 set bits, count is 3"))
    kind, count, d = _enc("bitmap", k1)  # 3 positions: bits 3..7 must be 0
    cases.append((k1, kind, count, _patch(bytearray(d), 0, "<B", d[0] | 0x10), "bits past C_out"))
    kind, count, d = _enc("block:2")
    cases.append((W8, kind, count, _patch(bytearray(d), 0, "<I", 3), "block length 3 must divide"))
    cases.append((W8, kind, count, _patch(bytearray(d), 4, "<I", 3), "index width 3"))
    cases.append((W8, kind, count, _patch(bytearray(d), 16, "<B", 4), "must be < K/B = 4"))
    cases.append((W8, kind, count, _patch(bytearray(d), 17, "<B", 1), "strictly increasing"))
    kind, count, d = _enc("shared+bitmap")
    for off, fmt, value, message in [(0, "<B", 9, "code width 9 is not in"),
                                      (1, "<B", 13, "over layout kind 13"),
                                      (2, "<H", 5, "5 codebook entries, 2-bit"),
                                      (8, "<B", 0x13, "code 3 at value 0 is past"),
                                      (8, "<B", 0x52, "unused bits after the last")]:
        cases.append((W8, kind, count, _patch(bytearray(d), off, fmt, value), message))
    cases.append((W8, kind, count, d + b"\0", "1 unexpected bytes"))
    for w, kind, count, data, message in cases:
        with pytest.raises(FormatError, match=message):
            decode_blob(kind, count, bytes(data), *w.shape)


def test_decoded_layer_size_is_bounded():
    with pytest.raises(FormatError, match=r"C_out\*K = 65535\*8192 exceed 2\^28"):
        decode_blob("WEIGHTS_SPARSE_REL4", 0, u32s(*[0] * 65536), 65535, 8192)


# ---- the writer's choice ----

@pytest.mark.parametrize("matrix", sorted(MATRICES))
@pytest.mark.parametrize("huffman", [False, True])
def test_auto_choice_is_the_smallest(matrix, huffman):
    w = MATRICES[matrix]
    blocks = LayerCodings(w, (3, 3)).block_lengths()  # vector, kernel, filter, short runs
    assert {1, w.shape[1]} <= set(blocks) and (w.shape[1] % 9 or 9 in blocks)
    names = [n for n in encoding_names(w.shape[1]) if huffman or "huffman" not in n]
    names += [p + f"block:{b}" for b in blocks for p in ("", "shared+", "huffman+",
                                                         "huffman+shared+")
              if (huffman or "huffman" not in p) and p + f"block:{b}" not in names]
    sizes = {n: len(encode_blob(w, n)[2]) for n in names}
    chosen = choose(w, "auto", huffman, kernel=(3, 3))
    assert len(encode_blob(w, chosen)[2]) == min(sizes.values())
    for policy, allowed in (("rel4", "rel4"), ("bitmap", "bitmap"), ("block", "block:")):
        c = str(choose(w, policy, huffman, kernel=(3, 3)))
        assert allowed in c and "shared" not in c
        assert len(encode_blob(w, c)[2]) == min(v for n, v in sizes.items()
                                                if allowed in n and "shared" not in n)
    c = choose(w, "shared", huffman, kernel=(3, 3))
    assert c.shared
    assert len(encode_blob(w, c)[2]) == min(v for n, v in sizes.items() if "shared" in n)


def test_inspect_alternatives_are_real_sizes():
    model = random_encoded_model(2)
    rows = layer_stats(model, alternatives=True)
    for node, r in zip(model.nodes, rows):
        if node.weights is None:
            continue
        assert r.weight_bytes == len(encode_blob(node.weights, node.weight_encoding)[2])
        for fam, (enc, size) in r.alternatives.items():
            assert size == len(encode_blob(node.weights, enc)[2])
            assert (fam == "rel8" and enc == "sparse_rel8") or fam in enc
        assert r.alternatives["dense"][1] == node.weights.size


def test_choose_encoding_policies():
    node = random_encoded_model(1).nodes[0]
    assert choose_encoding(node, "dense") == "dense"
    assert choose_encoding(node, "sparse_rel8") == "sparse_rel8"
    assert choose_encoding(node, "rel8", huffman=True).endswith("sparse_rel8")
    assert WeightCoding.parse(choose_encoding(node, "auto", True)).kind in (1, 2, 9, 10, 11, 12, 13)
    with pytest.raises(Exception, match="unknown weight encoding policy 'zip'"):
        LayerCodings(node.weights).candidates("zip")
    with pytest.raises(Exception, match="unknown weight encoding 'huffman\\+bogus'"):
        WeightCoding.parse("huffman+bogus")
