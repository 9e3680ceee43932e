"""Frames on the wire: 0x00, COBS(header | payload | CRC-32), 0x00.

The leading delimiter isolates a frame from any garbage before it (a corrupted delimiter costs one
frame, not two). Byte 0 of every frame is the protocol version in every version, and the CRC is
always the last four bytes, so a receiver can recognise (and report) a peer of another version.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from .cobs import CobsError, cobs_decode, cobs_encode, cobs_max_encoded
from .messages import CRC, HEADER, PROTOCOL_MAJOR

DELIM = b"\x00"
FRAME_OVERHEAD = HEADER.size + CRC.size  # bytes around the payload before stuffing


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes = b""
    version: int = PROTOCOL_MAJOR


def encode_frame(ftype: int, seq: int, payload: bytes = b"",
                 version: int = PROTOCOL_MAJOR) -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a frame (max 65535)")
    body = HEADER.pack(version, ftype, len(payload), seq & 0xFFFFFFFF) + bytes(payload)
    body += CRC.pack(zlib.crc32(body))
    return DELIM + cobs_encode(body) + DELIM


def wire_size(payload_len: int) -> int:
    """Bytes on the wire of a frame with that payload (exact for payloads without zero runs)."""
    return cobs_max_encoded(FRAME_OVERHEAD + payload_len) + 2


class FrameError(ValueError):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "malformed" or "crc"


def decode_body(segment: bytes) -> Frame:
    """One delimited segment -> Frame, or FrameError naming what is wrong."""
    try:
        body = cobs_decode(segment)
    except CobsError as e:
        raise FrameError("malformed", f"bad stuffing: {e}") from None
    if len(body) < FRAME_OVERHEAD:
        raise FrameError("malformed", f"runt frame of {len(body)} bytes")
    (crc,) = CRC.unpack_from(body, len(body) - CRC.size)
    if zlib.crc32(body[:-CRC.size]) != crc:
        raise FrameError("crc", f"CRC mismatch on a {len(body)}-byte frame")
    version, ftype, length, seq = HEADER.unpack_from(body)
    payload = body[HEADER.size:-CRC.size]
    if version == PROTOCOL_MAJOR and length != len(payload):
        raise FrameError("malformed", f"length field {length} but {len(payload)} payload bytes")
    return Frame(ftype, seq, payload, version)


@dataclass
class DeframerCounters:
    frames_ok: int = 0
    crc_errors: int = 0
    malformed: int = 0
    overruns: int = 0      # runs of bytes longer than any legal frame, discarded
    garbage_bytes: int = 0  # bytes discarded in bad segments and overruns


@dataclass
class Deframer:
    """Splits a byte stream into frames; never raises on bad input, it counts it."""
    max_payload: int
    counters: DeframerCounters = field(default_factory=DeframerCounters)
    _buf: bytearray = field(default_factory=bytearray)
    _skipping: bool = False  # inside an overrun: drop bytes until the next delimiter

    def feed(self, data: bytes) -> list[Frame]:
        frames = []
        limit = cobs_max_encoded(FRAME_OVERHEAD + self.max_payload)
        c = self.counters
        start = 0
        data = bytes(data)
        while True:
            z = data.find(0, start)
            if z < 0:
                if not self._skipping:
                    self._buf += data[start:]
                    if len(self._buf) > limit:
                        c.overruns += 1
                        c.garbage_bytes += len(self._buf)
                        self._buf.clear()
                        self._skipping = True
                else:
                    c.garbage_bytes += len(data) - start
                return frames
            if self._skipping:
                c.garbage_bytes += z - start
                self._skipping = False
                start = z + 1
                continue
            self._buf += data[start:z]
            start = z + 1
            if not self._buf:
                continue  # back-to-back delimiters
            segment = bytes(self._buf)
            self._buf.clear()
            if len(segment) > limit:
                c.overruns += 1
                c.garbage_bytes += len(segment)
                continue
            try:
                frames.append(decode_body(segment))
                c.frames_ok += 1
            except FrameError as e:
                if e.kind == "crc":
                    c.crc_errors += 1
                else:
                    c.malformed += 1
                c.garbage_bytes += len(segment)
