"""Framing, payload layouts, range sets and the chunk sizer of the serial protocol (no I/O)."""
import zlib

import numpy as np
import pytest

from firmware_io import messages as M
from firmware_io.chunking import MIN_CHUNK, ChunkSizer
from firmware_io.cobs import CobsError, cobs_decode, cobs_encode, cobs_max_encoded
from firmware_io.frame import Deframer, FrameError, decode_body, encode_frame, wire_size
from firmware_io.ranges import RangeSet


@pytest.mark.parametrize("n", [0, 1, 2, 253, 254, 255, 508, 509, 1000, 4096])
def test_cobs_round_trip_has_no_zeros_and_bounded_overhead(n):
    rng = np.random.default_rng(n)
    for data in (bytes(n), b"\xff" * n, rng.integers(0, 256, n, dtype=np.uint8).tobytes(),
                 rng.choice([0, 1], n).astype(np.uint8).tobytes()):
        enc = cobs_encode(data)
        assert b"\x00" not in enc
        assert len(enc) <= cobs_max_encoded(n)
        assert cobs_decode(enc) == data


def test_cobs_rejects_inconsistent_blocks():
    with pytest.raises(CobsError, match="runs past"):
        cobs_decode(b"\x05ab")
    with pytest.raises(CobsError, match="zero byte"):
        cobs_decode(b"\x03a\x00")


def test_frame_layout_is_header_payload_crc():
    wire = encode_frame(0x03, 0x01020304, b"hello")
    assert wire[0] == 0 and wire[-1] == 0 and b"\x00" not in wire[1:-1]
    body = cobs_decode(wire[1:-1])
    assert body[:8] == bytes([1, 3, 5, 0, 4, 3, 2, 1])
    assert body[8:13] == b"hello"
    assert int.from_bytes(body[13:], "little") == zlib.crc32(body[:13])
    f = decode_body(wire[1:-1])
    assert (f.type, f.seq, f.payload, f.version) == (3, 0x01020304, b"hello", 1)
    assert len(wire) <= wire_size(5)


def test_decode_reports_crc_and_malformed_separately():
    body = cobs_decode(encode_frame(1, 7, b"abc")[1:-1])
    bad = bytearray(body)
    bad[9] ^= 0x10
    with pytest.raises(FrameError) as e:
        decode_body(cobs_encode(bytes(bad)))
    assert e.value.kind == "crc"
    with pytest.raises(FrameError) as e:
        decode_body(cobs_encode(b"short"))
    assert e.value.kind == "malformed"
    # a good CRC over a lying length field
    lie = bytearray(body[:-4])
    lie[2] = 9
    lie += zlib.crc32(lie).to_bytes(4, "little")
    with pytest.raises(FrameError, match="length field 9"):
        decode_body(cobs_encode(bytes(lie)))


def test_deframer_survives_garbage_split_feeds_and_counts_it():
    rng = np.random.default_rng(3)
    frames = [encode_frame(3, i, rng.integers(0, 256, int(rng.integers(0, 600)),
                                              dtype=np.uint8).tobytes()) for i in range(40)]
    garbage = rng.integers(1, 256, 300, dtype=np.uint8).tobytes()  # no delimiter inside
    stream = b"".join(f + (garbage if i % 10 == 0 else b"") for i, f in enumerate(frames))
    d = Deframer(max_payload=1024)
    got = []
    pos = 0
    while pos < len(stream):  # feed in odd-sized pieces, as a serial read would
        step = int(rng.integers(1, 97))
        got += d.feed(stream[pos:pos + step])
        pos += step
    assert [f.seq for f in got] == list(range(40))
    # the 4 garbage runs sit between a frame's closing and the next frame's opening delimiter
    assert d.counters.frames_ok == 40
    assert d.counters.crc_errors + d.counters.malformed == 4
    assert d.counters.garbage_bytes == 4 * 300


def test_deframer_bounds_memory_on_an_endless_run_without_delimiters():
    d = Deframer(max_payload=64)
    for _ in range(100):
        assert d.feed(b"\x55" * 1000) == []
    assert d.counters.overruns == 1
    assert len(d._buf) == 0  # nothing accumulates while skipping
    f = d.feed(encode_frame(2, 9, b"x"))
    assert [x.seq for x in f] == [9] and d.counters.garbage_bytes == 100_000


def test_single_bit_flips_never_yield_a_wrong_frame():
    """Every one-bit corruption of a frame is dropped (CRC-32 detects all of them)."""
    wire = encode_frame(3, 42, bytes(range(200)))
    bad = 0
    for i in range(1, len(wire) - 1):
        for bit in range(8):
            w = bytearray(wire)
            w[i] ^= 1 << bit
            d = Deframer(max_payload=1024)
            frames = d.feed(bytes(w))
            assert all(f.payload == bytes(range(200)) and f.seq == 42 for f in frames)
            bad += not frames
    assert bad == 8 * (len(wire) - 2)


def test_pack_unpack_round_trip_and_validation():
    p = M.pack("WRITE", b"data", region=1, offset=77)
    assert M.unpack("WRITE", p) == {"region": 1, "offset": 77, "data": b"data"}
    c = M.pack("BEGIN", size=10, flags=1, sha256=b"\x01" * 32)
    assert len(c) == 40 and M.unpack("BEGIN", c)["sha256"] == b"\x01" * 32
    with pytest.raises(M.PayloadError, match="BEGIN payload is 39 bytes, expected 40"):
        M.unpack("BEGIN", c[:-1])
    with pytest.raises(M.PayloadError, match="expected 0"):
        M.unpack("VERIFY", b"x")
    with pytest.raises(TypeError, match="unknown fields"):
        M.pack("ACK", next_expected=1, bogus=2)
    assert set(M.REPLIES) == {m.name for m in M.HOST_MESSAGES}
    assert len({m.code for m in M.HOST_MESSAGES + M.DEVICE_MESSAGES}) == len(M.MESSAGES)


def test_range_set_merges_and_lists_what_is_missing():
    r = RangeSet()
    for s, e in [(100, 200), (300, 400), (200, 300), (0, 10), (5, 20), (1000, 1001)]:
        r.add(s, e)
    assert list(r) == [(0, 20), (100, 400), (1000, 1001)]
    assert r.total == 20 + 300 + 1
    assert r.missing(1200) == [(20, 100), (400, 1000), (1001, 1200)]
    assert r.missing(50) == [(20, 50)]
    assert r.covers(120, 400) and not r.covers(19, 21)
    assert r.from_offset(150) == [(150, 400), (1000, 1001)]
    # random adds agree with a plain bitmap
    rng = np.random.default_rng(0)
    bits = np.zeros(5000, bool)
    r = RangeSet()
    for _ in range(300):
        s = int(rng.integers(0, 5000))
        e = min(5000, s + int(rng.integers(0, 60)))
        r.add(s, e)
        bits[s:e] = True
    assert r.total == int(bits.sum())
    for s, e in r.missing(5000):
        assert not bits[s:e].any()
    for s, e in r:
        assert bits[s:e].all() and (s == 0 or not bits[s - 1]) and (e == 5000 or not bits[e])


def test_chunk_sizer_tracks_the_error_rate():
    rng = np.random.default_rng(1)
    # the optimum sqrt(23 / p): 480 bytes at 1e-4, 152 at 1e-3
    for p, lo, hi in [(0.0, 1024, 1024), (1e-4, 380, 620), (1e-3, 125, 185), (2e-2, 64, 64)]:
        s = ChunkSizer(1024, 8)
        chunks = []
        for _ in range(1500):
            w = wire_size(s.chunk + 8)
            lost = rng.random() > (1 - p) ** w
            s.record(1, int(lost), w)
            chunks.append(s.chunk)
        assert lo <= np.median(chunks[300:]) <= hi, (p, np.median(chunks[300:]))
    assert ChunkSizer(10, 8).chunk == MIN_CHUNK


class FakeLink:
    """Feeds the host's receive path scripted bytes; records what it sends."""

    def __init__(self, chunks):
        from firmware_io.counters import LinkCounters
        self.url, self.chunks, self.sent = "fake://", list(chunks), []
        self.counters = LinkCounters()
        self.deframer = Deframer(8192)

    def send(self, wire):
        self.sent.append(wire)

    def poll(self):
        if not self.chunks:
            return []
        frames = self.deframer.feed(self.chunks.pop(0))
        d = self.deframer.counters
        self.counters.crc_errors, self.counters.malformed = d.crc_errors, d.malformed
        return frames


def test_host_shrugs_off_garbage_and_stray_frames():
    from firmware_io.window import Requester

    rng = np.random.default_rng(12)
    device_codes = [m.code for m in M.DEVICE_MESSAGES if m.name != "BOOT"]
    chunks = []
    for i in range(2000):
        if rng.random() < 0.3:
            chunks.append(rng.integers(0, 256, int(rng.integers(1, 300)),
                                       dtype=np.uint8).tobytes())
        else:  # a valid frame answering nothing we asked (stale seq), random payload
            payload = rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
            chunks.append(encode_frame(int(rng.choice(device_codes)),
                                       int(rng.integers(0, 1 << 20)), payload))
    link = FakeLink(chunks)
    req = Requester(link, link.counters, baud=3_000_000)
    req._seq = 1 << 30  # far from the stray numbers
    p = req.submit("STATS")
    for _ in range(2000):
        req.pump()
    assert p.reply is None and not link.chunks
    c = link.counters
    assert c.duplicates >= 1000 and c.crc_errors + c.malformed >= 300
    # the real answer still gets through
    reply = M.pack("STATS_REPLY", (7).to_bytes(8, "little"), count=1)
    link.chunks.append(b"\x00garbage" + encode_frame(0x8A, p.seq, reply))
    req.pump()
    assert req.unpack_reply("STATS", req.wait(p))["count"] == 1
