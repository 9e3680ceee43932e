"""Python fuzz targets: each is a function of one ``bytes`` that must never raise.

- ``reader``: the Python reader (edgecomp.packed.reader.parse_ecm) against the C reader behind
  edgecomp.runtime.Runtime. Both must accept exactly the same files; an accepted model must
  re-serialize to a file both accept, and (when small) run to the same bytes on the C runtime
  and the numpy integer executor. Like the C target, each input is also tried re-signed (file
  size, section CRCs and SHA-256 fixed up) so mutations get past the checksums.
- ``frames``: the serial frame decoder (firmware_io.frame). Feeding a stream whole or in
  arbitrary pieces gives the same frames and counters; every frame re-encodes to itself; COBS
  round-trips.
- ``device``: the device emulator's command handling (firmware_io.device.DeviceCore). The input
  drives a session of requests (valid, damaged and arbitrary frames, duplicates, gaps, a real
  model image flashed in pieces, runs); the core must answer every frame with well-formed
  replies and never raise.

A target signals a finding by raising (AssertionError for a broken invariant). run.py drives
them with atheris (coverage-guided) or, without atheris, with a plain mutation loop; the
regression tests replay tests/fuzz_regressions/<target>/ through the same functions.
"""
from __future__ import annotations

import hashlib
import math
import struct
import zlib
from functools import lru_cache

import numpy as np

from edgecomp.errors import FormatError
from edgecomp.exec_int import run_int
from edgecomp.packed import layout as L
from edgecomp.packed.limits import node_cost
from edgecomp.packed.reader import parse_ecm
from edgecomp.packed.writer import write_ecm
from edgecomp.runtime import Runtime
from firmware_io import messages as M
from firmware_io.cobs import CobsError, cobs_decode, cobs_encode
from firmware_io.device import DeviceConfig, DeviceCore
from firmware_io.frame import Deframer, FrameError, decode_body, encode_frame

# Models above these are checked for agreement but not run (running is slow, not wrong).
RUN_MAX_ELEMENTS = 200_000
RUN_MAX_WORK = 2_000_000


class Bytes:
    """Consumes a fuzz input as small integers and byte strings (zeros once it runs out)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = bytes(data), 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        b = self.data[self.pos:self.pos + n]
        self.pos += len(b)
        return b

    def int(self, nbytes: int) -> int:
        return int.from_bytes(self.take(nbytes).ljust(nbytes, b"\0"), "little")

    def rest(self) -> bytes:
        return self.take(self.left())


# ---- the reader -------------------------------------------------------------------------------

def resign(data: bytes) -> bytes:
    """File size, every in-file section's CRC and the SHA-256 trailer made consistent."""
    if len(data) < L.MIN_FILE_SIZE:
        return data
    buf = bytearray(data)
    struct.pack_into("<Q", buf, 16, len(buf))
    nsec = struct.unpack_from("<I", buf, 24)[0]
    for i in range(nsec):
        at = L.HEADER_SIZE + i * L.SECTION_ENTRY_SIZE
        if at + L.SECTION_ENTRY_SIZE > len(buf) - L.TRAILER_SIZE:
            break
        t, e, off, size, _, r = L.SECTION_ENTRY.unpack_from(buf, at)
        if off <= len(buf) and size <= len(buf) - off:
            L.SECTION_ENTRY.pack_into(buf, at, t, e, off, size,
                                      zlib.crc32(bytes(buf[off:off + size])), r)
    buf[-32:] = hashlib.sha256(bytes(buf[:-32])).digest()
    return bytes(buf)


def _load_both(data: bytes):
    """(QModel or None, Runtime or None, messages); raises if the readers disagree."""
    try:
        model, py_err = parse_ecm(data), None
    except FormatError as e:
        model, py_err = None, str(e)
    try:
        rt, c_err = Runtime(data), None
    except FormatError as e:
        rt, c_err = None, str(e)
    if (model is None) != (rt is None):
        raise AssertionError("the readers disagree: Python "
                             f"{'accepts' if model is not None else 'rejects: ' + py_err}, C "
                             f"{'accepts' if rt is not None else 'rejects: ' + c_err}")
    return model, rt


def _small(model) -> bool:
    elements = sum(math.prod(t.shape) for t in model.tensors)
    work = sum(node_cost(model, n)[1] + math.prod(model.tensors[n.outputs[0]].shape)
               for n in model.nodes)
    return elements <= RUN_MAX_ELEMENTS and work <= RUN_MAX_WORK


def _check_file(data: bytes) -> None:
    model, rt = _load_both(data)
    if model is None:
        return
    try:
        again, rt2 = _load_both(write_ecm(model))
        if again is None:
            raise AssertionError("an accepted model re-serializes to a file both readers reject")
        rt2.close()
        if _small(model):
            size = math.prod(model.input.shape)
            x = np.frombuffer((data * (1 + size // max(1, len(data))))[:size],
                              np.int8).reshape(model.input.shape)
            ref = run_int(model, x)
            for t, got in zip(model.outputs, rt.run_outputs(x)):
                if not np.array_equal(got, ref[t]):
                    raise AssertionError(f"C runtime and numpy executor differ on output "
                                         f"{model.tensors[t].name!r}")
    finally:
        rt.close()


def reader(data: bytes) -> None:
    _check_file(data)
    signed = resign(data)
    if signed != data:
        _check_file(signed)


# ---- the frame decoder ------------------------------------------------------------------------

def frames(data: bytes) -> None:
    d = Bytes(data)
    max_payload = 16 + 4 * d.int(1)
    cuts = d.take(8)
    stream = d.rest()
    whole = Deframer(max_payload)
    got = whole.feed(stream)
    # the same stream in pieces whose sizes come from the input: same frames, same counters
    pieces = Deframer(max_payload)
    got2, pos, k = [], 0, 0
    while pos < len(stream):
        step = 1 + (cuts[k % len(cuts)] if cuts else 7) % 97
        got2 += pieces.feed(stream[pos:pos + step])
        pos, k = pos + step, k + 1
    assert got2 == got, "frames depend on how the stream was split"
    assert pieces.counters == whole.counters, (pieces.counters, whole.counters)
    c = whole.counters
    assert c.frames_ok == len(got) and min(vars(c).values()) >= 0
    for f in got:
        assert len(f.payload) <= 0xFFFF
        wire = encode_frame(f.type, f.seq, f.payload, f.version)
        assert decode_body(wire[1:-1]) == f, "a decoded frame does not re-encode to itself"
    assert cobs_decode(cobs_encode(stream)) == stream, "COBS does not round-trip"
    for segment in stream.split(b"\0")[:8]:
        try:
            decode_body(segment)
        except FrameError as e:
            assert e.kind in ("malformed", "crc")
        try:
            cobs_decode(segment)
        except CobsError:
            pass


# ---- the device -------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def device_image() -> bytes:
    """A small real model (both weight encodings) the device target can flash and run."""
    from firmware_io.testing import sized_model
    return write_ecm(sized_model(0, weight_bytes=1500, hw=4, classes=4))


DEVICE_CONFIG = dict(memory_size=1 << 16, io_size=1 << 10, max_payload=256, window=8)


@lru_cache(maxsize=4)
def _executor(image: bytes):
    """The device's executor, shared by every input that commits the same image (loading it
    again each time would make the target ~20x slower without exercising anything new)."""
    from firmware_io.executor import RuntimeExecutor
    return RuntimeExecutor(image)
HOST_CODES = [m.code for m in M.HOST_MESSAGES]


def _check_replies(replies: list[bytes], max_payload: int) -> None:
    for wire in replies:
        assert wire[:1] == b"\0" and wire[-1:] == b"\0", "a reply is not delimited"
        f = decode_body(wire[1:-1])  # FrameError here is a finding: the device sent garbage
        msg = M.BY_CODE.get(f.type)
        assert msg is not None and msg in M.DEVICE_MESSAGES, f"reply type 0x{f.type:02x}"
        M.unpack(msg.name, f.payload)  # PayloadError is a finding too
        assert len(f.payload) <= max(max_payload, 64) + 64, f"{msg.name} reply too long"


def device(data: bytes) -> None:
    d = Bytes(data)
    image = device_image()
    sha = hashlib.sha256(image).digest()
    core = DeviceCore(DeviceConfig(**DEVICE_CONFIG), executor_factory=_executor)
    mp = core.config.max_payload
    session, seq = d.int(4), 0
    for _ in range(400):
        if not d.left():
            break
        op = d.int(1) % 16
        code, payload = None, b""
        if op == 0:                                   # raw line noise
            core_out = core.receive(d.take(d.int(1)))
            _check_replies(core_out, mp)
            continue
        if op == 1:
            code, payload = 0x01, M.pack("HELLO", session=session if d.int(1) % 4 else d.int(4),
                                         host_max_payload=d.int(2))
        elif op == 2:
            size = len(image) if d.int(1) % 4 else d.int(4)
            code, payload = 0x02, M.pack("BEGIN", size=size, flags=d.int(1) % 3,
                                         sha256=sha if d.int(1) % 4 else d.take(32))
        elif op in (3, 4):                            # a piece of the real image
            off = d.int(2) % len(image)
            n = d.int(1) + 1
            code, payload = 0x03, M.pack("WRITE", image[off:off + n], region=0, offset=off)
        elif op == 5:                                 # the whole image in order, then COMMIT
            for off in range(0, len(image), 200):
                seq = (seq + 1) & 0xFFFFFFFF
                wire = encode_frame(0x03, seq, M.pack("WRITE", image[off:off + 200], region=0,
                                                      offset=off))
                _check_replies(core.receive(wire), mp)
            code, payload = 0x06, M.pack("COMMIT", sha256=sha)
        elif op == 6:                                 # arbitrary WRITE
            code, payload = 0x03, M.pack("WRITE", d.take(d.int(1)), region=d.int(1) % 4,
                                         offset=d.int(4) if d.int(1) % 2 else d.int(1))
        elif op == 7:
            code, payload = 0x04, M.pack("QUERY", region=d.int(1) % 4, offset=d.int(2))
        elif op == 8:
            code = 0x05
        elif op == 9:
            code, payload = 0x06, M.pack("COMMIT", sha256=sha if d.int(1) % 4 else d.take(32))
        elif op == 10:                                # an input written, then RUN
            x = d.take(d.int(1)).ljust(16, b"\x07")[: 16 + d.int(1) % 4]
            seq = (seq + 1) & 0xFFFFFFFF
            _check_replies(core.receive(encode_frame(0x03, seq, M.pack(
                "WRITE", x, region=1, offset=0))), mp)
            code, payload = 0x07, M.pack("RUN", input_len=len(x),
                                         input_crc=zlib.crc32(x) if d.int(1) % 4 else d.int(4))
        elif op == 11:
            code, payload = 0x08, M.pack("READ", region=d.int(1) % 4, offset=d.int(2),
                                         length=d.int(2))
        elif op == 12:
            code, payload = 0x0B, M.pack("HASH", region=d.int(1) % 4, offset=d.int(2),
                                         length=d.int(2) if d.int(1) % 2 else d.int(4))
        elif op == 13:
            code, payload = (0x09, b"") if d.int(1) % 2 else (0x0A, M.pack(
                "RESET", mode=d.int(1) % 3))
        else:                                         # any type, any payload
            code = HOST_CODES[d.int(1) % len(HOST_CODES)] if op == 14 else d.int(1)
            payload = d.take(d.int(2) % 600)
        # sequence numbers: mostly the next one, sometimes a duplicate, a gap or a jump
        jump = d.int(1)
        seq = (seq + (1 if jump < 200 else jump - 201 if jump < 250 else d.int(4))) & 0xFFFFFFFF
        version = M.PROTOCOL_MAJOR if d.int(1) % 16 else d.int(1)
        wire = bytearray(encode_frame(code, seq, payload[:0xFFFF], version))
        if d.int(1) % 16 == 0 and len(wire) > 2:     # a damaged byte on the line
            wire[1 + d.int(2) % (len(wire) - 2)] ^= 1 + d.int(1) % 255
        split = 1 + d.int(1) % len(wire)
        out = core.receive(bytes(wire[:split])) + core.receive(bytes(wire[split:]))
        _check_replies(out, mp)
    assert all(v >= 0 for v in core.counters.values())


# ---- seeds ------------------------------------------------------------------------------------

def seeds(target: str) -> list[bytes]:
    """Starting inputs: real files and frames (the corpora grow from these)."""
    if target == "reader":
        from edgecomp.testing.random_qmodels import random_qmodel
        out = [write_ecm(random_qmodel(s)) for s in range(6)]
        return out + [device_image()]
    if target == "frames":
        talk = b"".join(encode_frame(m.code, i, b"\x00\x01" * (i % 5) + bytes(range(i % 40)))
                        for i, m in enumerate(M.HOST_MESSAGES + M.DEVICE_MESSAGES))
        return [b"\x10" + b"\x03\x05\x07\x0b\x0d\x11\x13\x17" + talk,
                b"\x01\x01\x01\x01\x01\x01\x01\x01\x01" + talk + b"\x00\xff" * 40 + talk]
    if target == "device":
        hello = b"\x01\x01\x00" + b"\x00\x01"
        flash = b"\x02\x01\x00\x01" + b"\x05"
        run = b"\x0a" + b"\x10" + bytes(range(16)) + b"\x00\x01"
        tail = b"\x00" * 4
        return [b"\x2a\x00\x00\x00" + hello + tail + flash + tail + run + tail,
                b"\x2a\x00\x00\x00" + bytes(range(256)) * 2]
    raise KeyError(target)


TARGETS = {"reader": reader, "frames": frames, "device": device}
