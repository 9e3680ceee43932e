"""Property tests (hypothesis) over the fuzz targets of tests/fuzz/targets.py: a few hundred
generated inputs per run, so every pytest run fuzzes a little. The long coverage-guided runs
are `make -C runtime fuzz` (docs/hardening.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_io.cobs import cobs_decode, cobs_encode
from firmware_io.frame import Deframer, encode_frame

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
import targets  # noqa: E402

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FAST
@given(st.binary(max_size=2000))
def test_cobs_round_trips_and_has_no_zeros(data):
    enc = cobs_encode(data)
    assert b"\0" not in enc and cobs_decode(enc) == data
    assert len(enc) <= len(data) + len(data) // 254 + 1


@FAST
@given(st.binary(max_size=3000))
def test_frame_decoder_on_arbitrary_streams(data):
    targets.frames(data)


@FAST
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 2 ** 32 - 1),
                          st.binary(max_size=300)), max_size=8),
       st.binary(max_size=200), st.integers(1, 50))
def test_frames_survive_noise_between_them(frames, noise, step):
    """Valid frames with line noise before each, fed in pieces: each frame's own leading
    delimiter isolates it, so the noise costs nothing but itself."""
    stream = b"".join(noise + encode_frame(t, s, p) for t, s, p in frames)
    d = Deframer(max_payload=300)
    got = []
    for i in range(0, len(stream), step):
        got += d.feed(stream[i:i + step])
    assert [(f.type, f.seq, f.payload) for f in got] == frames
    assert d.counters.frames_ok == len(frames)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(min_size=4, max_size=1500))
def test_device_answers_everything(data):
    targets.device(data)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 6), st.lists(st.tuples(st.integers(0, 2 ** 20), st.integers(0, 255)),
                                   min_size=1, max_size=6))
def test_readers_agree_on_mutated_real_files(which, edits):
    """Bytes of real files overwritten (then re-signed inside the target): the Python and C
    readers accept exactly the same files, and accepted ones run alike."""
    seeds = targets.seeds("reader")
    buf = bytearray(seeds[which % len(seeds)])
    for pos, value in edits:
        buf[pos % len(buf)] = value
    targets.reader(bytes(buf))
