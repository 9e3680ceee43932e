"""Frame types, their payload layouts, error codes and counter lists of the serial protocol.

docs/protocol.md documents every table here; tests/test_firmware_spec.py checks that the
document and these constants agree, so change both together (and bump the version, section 9).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 0

# Header: version u8, type u8, payload length u16, sequence u32; then payload; then CRC-32.
HEADER = struct.Struct("<BBHI")
CRC = struct.Struct("<I")

# Memory regions a WRITE / READ / QUERY / HASH addresses.
REGIONS = {"IMAGE": 0, "INPUT": 1, "OUTPUT": 2}
REGION_NAMES = {v: k for k, v in REGIONS.items()}

# Weight encodings a device may decode: CAPS ``encodings`` bit = 1 << the blob kind of
# docs/format.md 3.1. A model needs its layers' layouts, plus "shared" / "huffman" if used.
ENCODINGS = {"dense": 1, "sparse_rel8": 2, "rel4": 9, "bitmap": 10, "block": 11, "shared": 12,
             "huffman": 13}

BEGIN_FLAG_RESTART = 1  # forget held data even if size and hash match

BEGUN_STATUS = {"NEW": 0, "RESUME": 1, "ACTIVE": 2}
VERIFY_STATUS = {"OK": 0, "INCOMPLETE": 1, "MISMATCH": 2}
RESET_MODES = {"SOFT": 0, "ERASE": 1}


@dataclass(frozen=True)
class Message:
    name: str
    code: int
    fields: tuple[tuple[str, str], ...]  # (field name, struct code), little-endian, packed
    tail: str | None = None              # name of the variable-length bytes after the fields

    @property
    def struct(self) -> struct.Struct:
        return struct.Struct("<" + "".join(code for _, code in self.fields))


def _m(name, code, fields=(), tail=None):
    return Message(name, code, tuple(fields), tail)


HOST_MESSAGES = [
    _m("HELLO", 0x01, [("session", "I"), ("host_max_payload", "H"), ("reserved", "H")]),
    _m("BEGIN", 0x02, [("size", "I"), ("flags", "I"), ("sha256", "32s")]),
    _m("WRITE", 0x03, [("region", "B"), ("reserved", "3s"), ("offset", "I")], tail="data"),
    _m("QUERY", 0x04, [("region", "B"), ("reserved", "3s"), ("offset", "I")]),
    _m("VERIFY", 0x05),
    _m("COMMIT", 0x06, [("sha256", "32s")]),
    _m("RUN", 0x07, [("input_len", "I"), ("input_crc", "I")]),
    _m("READ", 0x08, [("region", "B"), ("reserved", "3s"), ("offset", "I"), ("length", "I")]),
    _m("STATS", 0x09),
    _m("RESET", 0x0A, [("mode", "B"), ("reserved", "3s")]),
    _m("HASH", 0x0B, [("region", "B"), ("reserved", "3s"), ("offset", "I"), ("length", "I")]),
]

DEVICE_MESSAGES = [
    _m("CAPS", 0x81, [("version_major", "B"), ("version_minor", "B"), ("max_payload", "H"),
                      ("window", "H"), ("ecm_major", "H"), ("memory_size", "I"),
                      ("io_size", "I"), ("encodings", "I"), ("boot_count", "I"),
                      ("active_size", "I"), ("active_sha256", "32s")], tail="device_id"),
    _m("BEGUN", 0x82, [("status", "B"), ("reserved", "3s"), ("held", "I")]),
    _m("ACK", 0x83, [("next_expected", "I")]),
    _m("NAK", 0x84, [("next_expected", "I")]),
    _m("RANGES", 0x85, [("region", "B"), ("more", "B"), ("count", "H"), ("next_offset", "I")],
       tail="ranges"),
    _m("VERIFIED", 0x86, [("status", "B"), ("reserved", "3s"), ("held", "I"), ("sha256", "32s")]),
    _m("COMMITTED", 0x87, [("size", "I"), ("sha256", "32s")]),
    _m("RESULT", 0x88, [("output_len", "I"), ("output_crc", "I"), ("run_ns", "Q"),
                        ("dense_macs", "Q"), ("executed_macs", "Q"), ("weight_bytes", "Q"),
                        ("activation_bytes", "Q")], tail="output"),
    _m("DATA", 0x89, [("region", "B"), ("reserved", "3s"), ("offset", "I")], tail="data"),
    _m("STATS_REPLY", 0x8A, [("count", "H"), ("reserved", "H")], tail="counters"),
    _m("RESET_DONE", 0x8B, [("boot_count", "I")]),
    _m("HASHED", 0x8C, [("sha256", "32s")]),
    _m("BOOT", 0x8E, [("boot_count", "I")]),
    _m("ERROR", 0xFF, [("code", "H"), ("reserved", "H"), ("detail", "I")], tail="message"),
]

MESSAGES = {m.name: m for m in HOST_MESSAGES + DEVICE_MESSAGES}
BY_CODE = {m.code: m for m in HOST_MESSAGES + DEVICE_MESSAGES}

# What each request is answered with (besides ERROR).
REPLIES = {"HELLO": "CAPS", "BEGIN": "BEGUN", "WRITE": "ACK", "QUERY": "RANGES",
           "VERIFY": "VERIFIED", "COMMIT": "COMMITTED", "RUN": "RESULT", "READ": "DATA",
           "STATS": "STATS_REPLY", "RESET": "RESET_DONE", "HASH": "HASHED"}

ERROR_CODES = {
    "BAD_VERSION": 1,     # detail = the device's protocol major
    "UNKNOWN_TYPE": 2,    # detail = the frame type
    "BAD_PAYLOAD": 3,     # payload too short/long or a field out of its range
    "NO_SESSION": 4,      # no HELLO since boot/reset: greet again
    "NO_MEMORY": 5,       # detail = bytes of memory the region has
    "OUT_OF_RANGE": 6,    # offset + length past the region or the image
    "NO_IMAGE": 7,        # WRITE/VERIFY/COMMIT/HASH on the image before BEGIN
    "INCOMPLETE": 8,      # COMMIT before every byte is held; detail = bytes held
    "HASH_MISMATCH": 9,   # COMMIT: the held bytes do not hash to the BEGIN SHA-256
    "IMAGE_REJECTED": 10,  # the runtime's loader refused the image (message says why)
    "NO_MODEL": 11,       # RUN before a COMMIT
    "BAD_INPUT": 12,      # RUN: wrong input length, or the input buffer fails its CRC
    "RUN_FAILED": 13,     # the runtime failed while running
    "TOO_LARGE": 14,      # payload longer than max_payload; detail = max_payload
}
ERROR_NAMES = {v: k for k, v in ERROR_CODES.items()}

# STATS_REPLY counters, u64 each, in this order (a newer minor version may append more).
DEVICE_COUNTERS = (
    "uptime_ms", "rx_bytes", "tx_bytes", "frames_ok", "crc_errors", "malformed",
    "overruns", "duplicates", "naks_sent", "errors_sent", "writes", "write_bytes",
    "verifies", "verify_mismatches", "commits", "commit_rejects", "runs", "resets",
    "sessions",
)

RANGE = struct.Struct("<II")  # RANGES tail entries: start, end (exclusive)


class PayloadError(ValueError):
    """A payload does not match its message layout."""


def pack(name: str, tail: bytes = b"", **values) -> bytes:
    msg = MESSAGES[name]
    args = []
    for field, code in msg.fields:
        v = values.pop(field, b"" if code.endswith("s") else 0)
        args.append(v)
    if values:
        raise TypeError(f"{name}: unknown fields {sorted(values)}")
    if tail and msg.tail is None:
        raise TypeError(f"{name} has no variable-length part")
    return msg.struct.pack(*args) + bytes(tail)


def unpack(name: str, payload: bytes) -> dict:
    """Fields of ``payload`` as a dict (the tail under its name); PayloadError if malformed."""
    msg = MESSAGES[name]
    st = msg.struct
    if len(payload) < st.size or (msg.tail is None and len(payload) != st.size):
        raise PayloadError(f"{name} payload is {len(payload)} bytes, expected "
                           f"{st.size}{' or more' if msg.tail else ''}")
    out = dict(zip((f for f, _ in msg.fields), st.unpack_from(payload)))
    if msg.tail is not None:
        out[msg.tail] = bytes(payload[st.size:])
    out.pop("reserved", None)
    return out


def type_name(code: int) -> str:
    m = BY_CODE.get(code)
    return m.name if m else f"0x{code:02x}"
