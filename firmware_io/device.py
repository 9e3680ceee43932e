"""The device side of the protocol: what the FPGA's controller does with each frame.

No I/O here: ``receive(bytes)`` returns the bytes to send back, so the same core runs behind a
pty, a socket or a direct call in tests. It never raises on anything the line delivers: bad
frames are counted, bad requests are answered with ERROR frames.
"""
from __future__ import annotations

import hashlib
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from . import messages as M
from .executor import ImageRejected, RuntimeExecutor
from .frame import Deframer, Frame, encode_frame
from .ranges import RangeSet
from .window import seq_before

REPLY_CACHE = 256   # replies kept for duplicate requests (well above any window)
MAX_GAP_NAKS = 64   # NAKs sent for one gap at most


@dataclass
class DeviceConfig:
    memory_size: int = 16 << 20   # image memory (bytes)
    io_size: int = 1 << 20        # input buffer, and output buffer
    max_payload: int = 4096
    window: int = 16
    version_major: int = M.PROTOCOL_MAJOR
    version_minor: int = M.PROTOCOL_MINOR
    encodings: tuple[str, ...] = tuple(M.ENCODINGS)  # what the C runtime's loader decodes
    ecm_major: int = 1
    device_id: str = "edgecomp FPGA emulator"


class DeviceFault(Exception):
    def __init__(self, name: str, message: str, detail: int = 0):
        super().__init__(message)
        self.code, self.message, self.detail = M.ERROR_CODES[name], message, detail


class DeviceCore:
    def __init__(self, config: DeviceConfig | None = None,
                 executor_factory: Callable[[bytes], object] = RuntimeExecutor,
                 memory_fault: Callable[[bytearray, int, int], None] | None = None,
                 frame_filter: Callable[[Frame], bool] | None = None):
        self.config = cfg = config or DeviceConfig()
        self.executor_factory = executor_factory
        self.memory_fault = memory_fault    # fault injection: corrupt memory after a WRITE
        self.frame_filter = frame_filter    # fault injection: False drops a received frame
        # accept somewhat oversized frames so a misconfigured host hears TOO_LARGE, not silence
        self.deframer = Deframer(2 * cfg.max_payload + 1024)
        self.memory = bytearray(cfg.memory_size)
        self.input = bytearray(cfg.io_size)
        self.output = b""
        self.counters = dict.fromkeys(M.DEVICE_COUNTERS, 0)
        self.started = time.monotonic()
        self.boot_count = 1
        self.image_size: int | None = None   # from BEGIN
        self.image_sha = b""
        self.held = RangeSet()
        self.input_held = RangeSet()
        self.active: bytes | None = None     # the committed image
        self.active_sha = b""
        self.executor = None
        self._new_link_state(None, 0)
        self._reply_limit = cfg.max_payload

    def _new_link_state(self, session: int | None, next_expected: int) -> None:
        self.session = session
        self.next_expected = next_expected
        self.seen: set[int] = set()
        self.naked: set[int] = set()
        self.cache: OrderedDict[int, bytes] = OrderedDict()

    # -- line side --------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[bytes]:
        self.counters["rx_bytes"] += len(data)
        out = []
        for f in self.deframer.feed(data):
            if self.frame_filter is not None and not self.frame_filter(f):
                continue
            out.extend(self.handle(f))
            erase = self.take_pending_reset()
            if erase is not None:
                self.reset(erase)  # after RESET_DONE is queued; the host expects no BOOT
        d = self.deframer.counters
        c = self.counters
        c["frames_ok"], c["crc_errors"] = d.frames_ok, d.crc_errors
        c["malformed"], c["overruns"] = d.malformed, d.overruns
        return out

    def count_tx(self, n: int) -> None:
        self.counters["tx_bytes"] += n

    def reset(self, erase: bool = False) -> bytes:
        """Controller reset: the session goes; memory keeps its contents unless erased."""
        self.boot_count += 1
        self.counters["resets"] += 1
        self._new_link_state(None, 0)
        self.input_held.clear()
        if erase:
            self.image_size, self.image_sha = None, b""
            self.held.clear()
            self.active, self.active_sha, self.executor = None, b"", None
        return self._frame("BOOT", 0, M.pack("BOOT", boot_count=self.boot_count))

    # -- frames -----------------------------------------------------------------------------

    def _frame(self, name: str, seq: int, payload: bytes) -> bytes:
        return encode_frame(M.MESSAGES[name].code, seq, payload, self.config.version_major)

    def _error(self, seq: int, code: int, message: str, detail: int = 0) -> bytes:
        self.counters["errors_sent"] += 1
        return self._frame("ERROR", seq, M.pack("ERROR", message.encode()[:200], code=code,
                                                detail=detail))

    def handle(self, f: Frame) -> list[bytes]:
        cfg = self.config
        if f.version != cfg.version_major:
            return [self._error(f.seq, M.ERROR_CODES["BAD_VERSION"],
                                f"this device speaks protocol v{cfg.version_major}, "
                                f"got v{f.version}", cfg.version_major)]
        msg = M.BY_CODE.get(f.type)
        if msg is not None and msg.name == "HELLO" and len(f.payload) <= cfg.max_payload:
            return [self._reply(f, msg.name)]
        if self.session is None:
            return [self._error(f.seq, M.ERROR_CODES["NO_SESSION"],
                                "no session: send HELLO first")]
        out = []
        if seq_before(f.seq, self.next_expected) or f.seq in self.seen:
            self.counters["duplicates"] += 1
            cached = self.cache.get(f.seq)
            if cached is not None:
                return [cached]
            if msg is not None and msg.name == "WRITE":  # written already: ACK, do not rewrite
                return [self._frame("ACK", f.seq, M.pack("ACK", next_expected=self.next_expected))]
            # not cached: an old request, idempotent, so executing it again is safe
        else:
            out.extend(self._track(f.seq))
        if msg is None or msg not in M.HOST_MESSAGES:
            wire = self._error(f.seq, M.ERROR_CODES["UNKNOWN_TYPE"],
                               f"unknown request type 0x{f.type:02x}", f.type)
        elif len(f.payload) > cfg.max_payload:
            wire = self._error(f.seq, M.ERROR_CODES["TOO_LARGE"],
                               f"{msg.name} payload of {len(f.payload)} bytes exceeds "
                               f"{cfg.max_payload}", cfg.max_payload)
        else:
            return out + [self._reply(f, msg.name)]
        self._cache(f.seq, wire)
        return out + [wire]

    def _track(self, seq: int) -> list[bytes]:
        """Record a new sequence number; NAK (once) each one skipped before it."""
        naks = []
        gap = (seq - self.next_expected) & 0xFFFFFFFF
        if gap > 1 << 16:  # the host jumped far ahead: resynchronise instead of NAKing
            self.seen.clear()
            self.naked.clear()
            self.next_expected = seq
            gap = 0
        for m in range(min(gap, MAX_GAP_NAKS)):
            s = (self.next_expected + m) & 0xFFFFFFFF
            if s not in self.seen and s not in self.naked:
                self.naked.add(s)
                self.counters["naks_sent"] += 1
                naks.append(self._frame("NAK", s, M.pack("NAK", next_expected=self.next_expected)))
        self.seen.add(seq)
        while self.next_expected in self.seen:
            self.seen.discard(self.next_expected)
            self.naked.discard(self.next_expected)
            self.next_expected = (self.next_expected + 1) & 0xFFFFFFFF
        return naks

    def _reply(self, f: Frame, name: str) -> bytes:
        try:
            fields = M.unpack(name, f.payload)
            reply_name, payload = getattr(self, "_on_" + name.lower())(f, fields)
            wire = self._frame(reply_name, f.seq, payload)
        except M.PayloadError as e:
            wire = self._error(f.seq, M.ERROR_CODES["BAD_PAYLOAD"], str(e))
        except DeviceFault as e:
            wire = self._error(f.seq, e.code, e.message, e.detail)
        if name != "WRITE":
            self._cache(f.seq, wire)
        return wire

    def _cache(self, seq: int, wire: bytes) -> None:
        self.cache[seq] = wire
        while len(self.cache) > REPLY_CACHE:
            self.cache.popitem(last=False)

    # -- requests ---------------------------------------------------------------------------

    def _on_hello(self, f, a):
        cfg = self.config
        if a["session"] != self.session:
            self._new_link_state(a["session"], (f.seq + 1) & 0xFFFFFFFF)
            self.counters["sessions"] += 1
        self._reply_limit = max(64, min(cfg.max_payload, a["host_max_payload"] or 0xFFFF))
        enc = 0
        for e in cfg.encodings:
            enc |= 1 << M.ENCODINGS[e]
        return "CAPS", M.pack(
            "CAPS", cfg.device_id.encode(), version_major=cfg.version_major,
            version_minor=cfg.version_minor, max_payload=cfg.max_payload, window=cfg.window,
            ecm_major=cfg.ecm_major, memory_size=cfg.memory_size, io_size=cfg.io_size,
            encodings=enc, boot_count=self.boot_count,
            active_size=len(self.active) if self.active else 0,
            active_sha256=self.active_sha or bytes(32))

    def _on_begin(self, f, a):
        size, sha = a["size"], a["sha256"]
        if size == 0:
            raise DeviceFault("BAD_PAYLOAD", "BEGIN with an empty image")
        if size > self.config.memory_size:
            raise DeviceFault("NO_MEMORY", f"image of {size} bytes does not fit in "
                              f"{self.config.memory_size} bytes of memory",
                              self.config.memory_size)
        restart = bool(a["flags"] & M.BEGIN_FLAG_RESTART)
        if not restart and self.active_sha == sha and len(self.active or b"") == size:
            status = "ACTIVE"
        elif not restart and self.image_size == size and self.image_sha == sha:
            status = "RESUME"
        else:
            status = "NEW"
            self.image_size, self.image_sha = size, sha
            self.held.clear()
        return "BEGUN", M.pack("BEGUN", status=M.BEGUN_STATUS[status], held=self.held.total)

    def _region(self, region: int, writing: bool):
        if region == M.REGIONS["IMAGE"]:
            if self.image_size is None:
                raise DeviceFault("NO_IMAGE", "no image: send BEGIN first")
            return self.memory, self.image_size, self.held
        if region == M.REGIONS["INPUT"]:
            return self.input, self.config.io_size, self.input_held
        if region == M.REGIONS["OUTPUT"] and not writing:
            return self.output, len(self.output), None
        raise DeviceFault("BAD_PAYLOAD", f"region {region} cannot be "
                          f"{'written' if writing else 'read'}")

    @staticmethod
    def _check_span(offset: int, length: int, limit: int, what: str) -> None:
        if offset + length > limit:
            raise DeviceFault("OUT_OF_RANGE", f"{what} [{offset}, {offset + length}) is past "
                              f"the end ({limit} bytes)", limit)

    def _on_write(self, f, a):
        buf, limit, held = self._region(a["region"], writing=True)
        data = a["data"]
        off = a["offset"]
        self._check_span(off, len(data), limit, f"WRITE {M.REGION_NAMES[a['region']]}")
        buf[off:off + len(data)] = data
        held.add(off, off + len(data))
        self.counters["writes"] += 1
        self.counters["write_bytes"] += len(data)
        if self.memory_fault is not None and a["region"] == M.REGIONS["IMAGE"] and data:
            self.memory_fault(buf, off, len(data))
        return "ACK", M.pack("ACK", next_expected=self.next_expected)

    def _on_query(self, f, a):
        _, _, held = self._region(a["region"], writing=True)
        room = (self._reply_limit - M.MESSAGES["RANGES"].struct.size) // M.RANGE.size
        ranges = held.from_offset(a["offset"])
        more = len(ranges) > room
        ranges = ranges[:room]
        nxt = ranges[-1][1] if ranges else a["offset"]
        tail = b"".join(M.RANGE.pack(s, e) for s, e in ranges)
        return "RANGES", M.pack("RANGES", tail, region=a["region"], more=int(more),
                                count=len(ranges), next_offset=nxt)

    def _image_status(self) -> tuple[str, bytes]:
        size = self.image_size
        if not self.held.covers(0, size):
            return "INCOMPLETE", bytes(32)
        digest = hashlib.sha256(memoryview(self.memory)[:size]).digest()
        return ("OK" if digest == self.image_sha else "MISMATCH"), digest

    def _on_verify(self, f, a):
        if self.image_size is None:
            raise DeviceFault("NO_IMAGE", "no image: send BEGIN first")
        self.counters["verifies"] += 1
        status, digest = self._image_status()
        if status == "MISMATCH":
            self.counters["verify_mismatches"] += 1
        return "VERIFIED", M.pack("VERIFIED", status=M.VERIFY_STATUS[status],
                                  held=self.held.total, sha256=digest)

    def _on_commit(self, f, a):
        if self.image_size is None:
            raise DeviceFault("NO_IMAGE", "no image: send BEGIN first")
        if a["sha256"] != self.image_sha:
            raise DeviceFault("BAD_PAYLOAD", "COMMIT names another SHA-256 than BEGIN")
        status, digest = self._image_status()  # re-hash: never trust the per-frame CRCs alone
        if status == "INCOMPLETE":
            raise DeviceFault("INCOMPLETE", f"holds {self.held.total} of {self.image_size} "
                              "bytes", self.held.total)
        if status == "MISMATCH":
            self.counters["commit_rejects"] += 1
            raise DeviceFault("HASH_MISMATCH", f"held bytes hash to {digest.hex()[:16]}..., "
                              f"BEGIN said {self.image_sha.hex()[:16]}...")
        image = bytes(self.memory[:self.image_size])
        if self.active_sha != digest:
            try:
                executor = self.executor_factory(image)
            except ImageRejected as e:
                self.counters["commit_rejects"] += 1
                raise DeviceFault("IMAGE_REJECTED", str(e)) from None
            self.active, self.active_sha, self.executor = image, digest, executor
            self.counters["commits"] += 1
        return "COMMITTED", M.pack("COMMITTED", size=len(image), sha256=digest)

    def _on_run(self, f, a):
        ex = self.executor
        if ex is None:
            raise DeviceFault("NO_MODEL", "no committed model: flash one first")
        n = a["input_len"]
        if n != ex.input_size:
            raise DeviceFault("BAD_INPUT", f"input of {n} bytes, the model takes "
                              f"{ex.input_size} {ex.input_shape}", ex.input_size)
        if not self.input_held.covers(0, n):
            raise DeviceFault("BAD_INPUT", f"input buffer holds {self.input_held.total} of "
                              f"{n} bytes")
        x = bytes(self.input[:n])
        if zlib.crc32(x) != a["input_crc"]:
            raise DeviceFault("BAD_INPUT", "input buffer fails its CRC-32")
        try:
            out, c = ex.run(x)
        except Exception as e:  # the runtime's failure is the device's answer, not a crash
            raise DeviceFault("RUN_FAILED", f"{type(e).__name__}: {e}") from None
        self.output = out
        self.input_held.clear()  # an input is used once: a stale one can never run again
        self.counters["runs"] += 1
        room = self._reply_limit - M.MESSAGES["RESULT"].struct.size
        return "RESULT", M.pack("RESULT", out[:room], output_len=len(out),
                                output_crc=zlib.crc32(out), run_ns=c.run_ns,
                                dense_macs=c.dense_macs, executed_macs=c.executed_macs,
                                weight_bytes=c.weight_bytes, activation_bytes=c.activation_bytes)

    def _on_read(self, f, a):
        buf, limit, _ = self._region(a["region"], writing=False)
        room = self._reply_limit - M.MESSAGES["DATA"].struct.size
        if a["length"] > room:
            raise DeviceFault("TOO_LARGE", f"READ of {a['length']} bytes, at most {room}", room)
        self._check_span(a["offset"], a["length"], limit, "READ")
        data = bytes(buf[a["offset"]:a["offset"] + a["length"]])
        return "DATA", M.pack("DATA", data, region=a["region"], offset=a["offset"])

    def _on_hash(self, f, a):
        buf, limit, _ = self._region(a["region"], writing=False)
        self._check_span(a["offset"], a["length"], limit, "HASH")
        view = memoryview(buf)[a["offset"]:a["offset"] + a["length"]]
        return "HASHED", M.pack("HASHED", sha256=hashlib.sha256(view).digest())

    def _on_stats(self, f, a):
        self.counters["uptime_ms"] = int((time.monotonic() - self.started) * 1000)
        values = [self.counters[k] for k in M.DEVICE_COUNTERS]
        tail = b"".join(v.to_bytes(8, "little") for v in values)
        return "STATS_REPLY", M.pack("STATS_REPLY", tail, count=len(values))

    def _on_reset(self, f, a):
        if a["mode"] not in M.RESET_MODES.values():
            raise DeviceFault("BAD_PAYLOAD", f"unknown reset mode {a['mode']}")
        self.pending_reset = a["mode"] == M.RESET_MODES["ERASE"]
        return "RESET_DONE", M.pack("RESET_DONE", boot_count=self.boot_count + 1)

    pending_reset: bool | None = None

    def take_pending_reset(self) -> bool | None:
        """A RESET asked for (erase flag), to perform after its reply is on the line."""
        r, self.pending_reset = self.pending_reset, None
        return r

