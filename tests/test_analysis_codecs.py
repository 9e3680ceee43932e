"""Activation codecs (seed 002): exact bit streams, sizes by hand, round trips, DCT bound."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecomp.analysis.codecs import (DctCodec, RawCodec, RleCodec, SpmCodec, chunk_starts,
                                      parse_codec, tile_size)
from edgecomp.analysis.codecs.dct import TRIANGULAR_K, dct_matrix, kept, zigzag
from edgecomp.errors import EdgecompError, FormatError


def words(enc):
    return [int.from_bytes(enc.data[i:i + 8], "little") for i in range(0, len(enc.data), 8)]


def pair(run, level):
    return run | ((level & 0xFFFF) << 5)


def word(*pairs, last=True):
    w = sum(pair(r, l) << (21 * i) for i, (r, l) in enumerate(pairs))
    return w | (1 << 63 if last else 0)


# ---- RLE: hand-computed streams ------------------------------------------------------------

def test_rle_three_pairs_fill_one_word():
    enc = RleCodec().encode(np.array([[0, 0, 5, 0, 0, 0, 7, 3]], np.int8), 0)
    assert enc.nbytes == 8
    assert words(enc) == [word((2, 5), (3, 7), (0, 3))] == [0x800180001C6000A2]


def test_rle_runs_longer_than_31_and_trailing_zeros():
    x = np.zeros((1, 45), np.int8)
    x[0, 40] = 1
    # 40 zeros: (31, 0) stands for 32 values, then (8, 1); 4 trailing zeros: (3, 0)
    assert words(RleCodec().encode(x, 0)) == [word((31, 0), (8, 1), (3, 0))]
    # 100 zeros: three (31, 0) pairs (96) and (3, 0): four pairs, two words
    enc = RleCodec().encode(np.zeros((1, 100), np.int8), 0)
    assert words(enc) == [word((31, 0), (31, 0), (31, 0), last=False), word((3, 0))]
    assert enc.nbytes == 16


def test_rle_level_is_value_minus_zero_point_in_16_bits():
    # zero point -128: -128 is a zero; 127 -> level 255; zero point 10: -5 -> level -15
    enc = RleCodec().encode(np.array([[-128, 127, -128]], np.int8), -128)
    assert words(enc) == [word((1, 255), (0, 0))]
    enc = RleCodec().encode(np.array([[-5, 10, 10]], np.int8), 10)
    w = words(enc)[0]
    assert (w >> 5) & 0xFFFF == 0xFFF1  # -15 as 16-bit two's complement
    assert RleCodec().decode(enc).tolist() == [[-5, 10, 10]]


def test_rle_last_flag_only_on_each_chunks_last_word():
    # two channels of 8x8: two chunks, each coded on its own
    x = np.zeros((1, 2, 8, 8), np.int8)
    x[0, 0].flat[:7] = 1
    enc = RleCodec().encode(x, 0)
    # channel 0: 7 pairs (0, 1), then 57 zeros = (31, 0) + (24, 0): 9 pairs, 3 words;
    # channel 1: 64 zeros = (31, 0) (31, 0): 1 word
    assert enc.chunk_bytes.tolist() == [24, 8]
    w = words(enc)
    assert [bool(v >> 63) for v in w] == [False, False, True, True]
    assert w[2] == word((0, 1), (31, 0), (24, 0)) and w[3] == word((31, 0), (31, 0))


def test_rle_decoder_rejects_corrupt_streams():
    x = np.array([[0, 0, 5, 0, 0, 0, 7, 3]], np.int8)
    enc = RleCodec().encode(x, 0)
    bad = [enc.data[:-1],                                               # not whole words
           (int.from_bytes(enc.data, "little") & ~(1 << 63)).to_bytes(8, "little"),  # no flag
           word((9, 5)).to_bytes(8, "little"),                         # run past the chunk
           word((2, 5), (3, 7), (0, 3)).to_bytes(8, "little") * 2]     # extra word
    for data in bad:
        enc.data = data
        with pytest.raises(FormatError):
            RleCodec().decode(enc)


# ---- SPM: hand-computed streams ------------------------------------------------------------

def test_spm_map_then_values():
    enc = SpmCodec().encode(np.array([[0, 0, 5, 0, 0, 0, 7, 3]], np.int8), 0)
    assert enc.data == bytes([0b11000100, 5, 7, 3])
    # 10 values: two map bytes (6 padding bits zero), zero point -128
    x = np.array([[-128] * 9 + [-1]], np.int8)
    enc = SpmCodec().encode(x, -128)
    assert enc.data == bytes([0, 0b10, 0xFF]) and enc.nbytes == 3


def test_spm_decoder_rejects_corrupt_streams():
    enc = SpmCodec().encode(np.array([[0, 0, 5, 0, 0, 0, 7, 3]], np.int8), 0)
    for data in (enc.data[:-1], enc.data + b"\0", bytes([0b11000100, 5, 0, 3])):
        enc.data = data
        with pytest.raises(FormatError):
            SpmCodec().decode(enc)


# ---- an independent, slow reference of both formats for the property tests ---------------

def rle_reference(values, zp):
    """Straightforward loop over one chunk: the stream as a list of 64-bit words."""
    pairs, run = [], 0
    for v in values:
        if v == zp and run < 31:
            run += 1
            continue
        pairs.append((run, int(v) - zp))
        run = 0
    if run:
        pairs.append((run - 1, 0))
    out = []
    for i in range(0, len(pairs), 3):
        out.append(word(*pairs[i:i + 3], last=i + 3 >= len(pairs)))
    return out


def spm_reference(values, zp):
    bits = [int(v != zp) for v in values] + [0] * (-len(values) % 8)
    maps = bytes(sum(b << j for j, b in enumerate(bits[i:i + 8])) for i in range(0, len(bits), 8))
    return maps + bytes(int(v) & 0xFF for v in values if v != zp)


shapes = st.one_of(
    st.tuples(st.just(1), st.integers(1, 300)),
    st.tuples(st.just(1), st.integers(1, 4), st.integers(1, 20), st.integers(1, 20)))


@st.composite
def tensors(draw):
    shape = draw(shapes)
    zp = draw(st.integers(-128, 127))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    density = draw(st.sampled_from([0.0, 0.02, 0.3, 0.9, 1.0]))
    rng = np.random.default_rng(seed)
    q = rng.integers(-128, 128, shape).astype(np.int8)
    q[rng.random(shape) >= density] = zp
    return q, zp


@settings(max_examples=150, deadline=None)
@given(tensors())
def test_rle_and_spm_round_trip_and_match_the_reference(t):
    q, zp = t
    starts = chunk_starts(q.shape)
    flat = q.reshape(-1)
    chunks = [flat[a:b] for a, b in zip(starts[:-1], starts[1:])]
    rle = RleCodec().encode(q, zp)
    assert np.array_equal(RleCodec().decode(rle), q)
    ref_words = [w for c in chunks for w in rle_reference(c, zp)]
    assert words(rle) == ref_words
    assert rle.chunk_bytes.tolist() == [8 * len(rle_reference(c, zp)) for c in chunks]
    spm = SpmCodec().encode(q, zp)
    assert np.array_equal(SpmCodec().decode(spm), q)
    assert spm.data == b"".join(spm_reference(c, zp) for c in chunks)
    assert spm.nbytes == sum(-(-len(c) // 8) + int((c != zp).sum()) for c in chunks)
    raw = RawCodec().encode(q, zp)
    assert raw.nbytes == q.size and np.array_equal(RawCodec().decode(raw), q)


# ---- DCT -----------------------------------------------------------------------------------

def test_dct_basics():
    for n in (7, 8):
        d = dct_matrix(n)
        assert np.allclose(d @ d.T, np.eye(n))
    zz = [tuple(p) for p in zigzag(8)[:10]]
    assert zz == [(0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0)]
    for d in range(1, 9):  # the first d(d+1)/2 zig-zag positions are the triangle u+v < d
        k = d * (d + 1) // 2
        assert k in TRIANGULAR_K
        assert all(u + v < d for u, v in zigzag(8)[:k])
    assert [tile_size(h, h) for h in (224, 112, 56, 28, 14, 7, 9)] == [8, 8, 8, 7, 7, 7, 8]
    assert kept(15, 8) == 15 and kept(15, 7) == 11 and kept(1, 7) == 1


def test_dct_sizes_by_hand():
    # 224x224 map, 64 channels, K = 10: 28*28 tiles of 10 bytes per channel + 2 + 10 header
    assert DctCodec(10).bound((1, 64, 224, 224)) == 2 + 10 + 64 * 28 * 28 * 10
    # 14x14 map: 7x7 tiles keep floor(10 * 49 / 64) = 7 coefficients
    assert DctCodec(10).bound((1, 512, 14, 14)) == 2 + 7 + 512 * 4 * 7
    # 9x9 map: padded to 16x16, four 8x8 tiles
    assert DctCodec(3).bound((1, 1, 9, 9)) == 2 + 3 + 4 * 3
    # FC vectors and maps smaller than a 7x7 tile are stored raw after the 2-byte header
    assert DctCodec(3).bound((1, 100)) == 102 and DctCodec(3).bound((1, 8, 4, 4)) == 130


@settings(max_examples=80, deadline=None)
@given(tensors(), st.integers(1, 64))
def test_dct_size_never_exceeds_its_guaranteed_bound(t, k):
    q, zp = t
    codec = DctCodec(k)
    enc = codec.encode(q, zp)
    assert enc.nbytes <= codec.bound(q.shape)
    assert enc.nbytes == enc.header_bytes + enc.chunk_bytes.sum()
    header, chunks = codec.layout(q.shape)
    assert header == enc.header_bytes and chunks.tolist() == enc.chunk_bytes.tolist()
    n, kn, th, tw = codec.geometry(q.shape)
    if n:  # the guaranteed rate: K/64 of the (padded) values, at least one coefficient per
        # tile (a 7x7 tile at K = 1 keeps its DC: 1 of 49 values), plus the header
        assert kn == max(1, k * n * n // 64)
        assert enc.nbytes - enc.header_bytes <= kn * q.shape[1] * th * tw
    out = codec.decode(enc)
    assert out.shape == q.shape and out.dtype == np.int8
    if not n:
        assert np.array_equal(out, q)


def test_dct_quality_grows_with_k_and_all_64_is_near_lossless():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:56, 0:56]
    smooth = 60 + 50 * np.sin(yy / 9.0)[None] * np.cos(xx / 7.0)[None] + rng.normal(0, 3, (8, 56,
                                                                                          56))
    q = np.clip(np.round(smooth) - 128, -128, 127).astype(np.int8)[None]
    errors = []
    for k in (1, 6, 15, 36, 64):
        out = DctCodec(k).decode(DctCodec(k).encode(q, -128))
        errors.append(np.abs(out.astype(int) - q).mean())
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 0.5 and errors[2] < 4


def test_parse_codec():
    assert parse_codec("RLE").name == "rle" and parse_codec("spm").name == "spm"
    assert parse_codec("dct:21").keep == 21
    for bad in ("dct", "dct:0", "dct:65", "dct:x", "huffman"):
        with pytest.raises(EdgecompError):
            parse_codec(bad)
