"""The host side: talk to the FPGA board (or its emulator) over a serial port.

``FpgaClient.flash`` streams an image with a window of WRITEs, asks the device what it already
holds so an interrupted transfer resumes instead of starting over, lets the device re-hash the
image (re-sending only the 4 KiB blocks whose hash differs), and commits it only when the SHA-256
matches. Link losses, device resets and silence are recovered by reconnecting and resuming.
"""
from __future__ import annotations

import hashlib
import random
import time
import zlib

from edgecomp.packed.encodings import WeightCoding
from edgecomp.packed.reader import parse_ecm

from . import messages as M
from .chunking import ChunkSizer
from .counters import LinkCounters
from .errors import (DeviceCapabilityError, DeviceError, DeviceMemoryError, LinkLostError,
                     NoAnswerError, PortBusyError, PortNotFoundError, SessionLostError,
                     TransferError, VersionMismatchError)
from .frame import wire_size
from .link import Link
from .progress import TransferProgress
from .ranges import RangeSet
from .reports import DeviceInfo, FlashReport, RunResult
from .transport import open_port
from .window import Requester

HOST_MAX_PAYLOAD = 8192  # largest reply payload the host accepts (announced in HELLO)
REPAIR_BLOCK = 64 << 10  # hash comparison after a failed VERIFY: coarse blocks,
REPAIR_SUBBLOCK = 4 << 10  # then these inside the coarse blocks that differ
WRITE_HEAD = M.MESSAGES["WRITE"].struct.size
RECOVERABLE = (LinkLostError, SessionLostError, NoAnswerError)


def model_encodings(model) -> list[str]:
    """The weight encodings (names of messages.ENCODINGS) a device must decode to load
    ``model``: each layer's layout, plus "shared" and "huffman" where used."""
    need = set()
    for node in model.nodes:
        if node.weights is None:
            continue
        coding = WeightCoding.parse(node.weight_encoding)
        need.add(coding.layout)
        need.update(name for name, used in (("shared", coding.shared),
                                             ("huffman", coding.huffman)) if used)
    return sorted(need, key=M.ENCODINGS.get)


class FpgaClient:
    def __init__(self, port: str, baud: int = 921600, *, window: int = 8, chunk: int = 1024,
                 hello_timeout: float = 0.3, hello_tries: int = 4, max_retries: int = 8,
                 reconnect_timeout: float = 10.0, max_reconnects: int = 20,
                 progress: bool = False):
        self.url, self.baud = port, baud
        self.window, self.chunk = window, chunk
        self.hello_timeout, self.hello_tries = hello_timeout, hello_tries
        self.max_retries = max_retries
        self.reconnect_timeout, self.max_reconnects = reconnect_timeout, max_reconnects
        self.progress = progress
        self.counters = LinkCounters()
        self.link: Link | None = None
        self.req: Requester | None = None
        self.info: DeviceInfo | None = None
        self._greeted = False
        self.sizer: ChunkSizer | None = None

    # -- connection -------------------------------------------------------------------------

    def __enter__(self) -> "FpgaClient":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
        self.link, self._greeted = None, False

    def connect(self) -> DeviceInfo:
        if self.link is None:
            self._open()
        if not self._greeted:
            self._hello()
        return self.info

    def _open(self) -> None:
        port = open_port(self.url, self.baud)
        self.link = Link(port, self.url, HOST_MAX_PAYLOAD, self.counters)
        if self.req is None:
            self.req = Requester(self.link, self.counters, baud=self.baud, window=self.window,
                                 max_payload=self.chunk + WRITE_HEAD,
                                 max_retries=self.max_retries)
        self.req.link = self.link

    def _hello(self) -> None:
        req = self.req
        req.reset_session()
        req.rto = self.hello_timeout  # nothing else is queued: no window floor applies
        payload = M.pack("HELLO", session=random.getrandbits(32),
                         host_max_payload=HOST_MAX_PAYLOAD)
        t0 = time.monotonic()
        try:
            caps = req.call("HELLO", payload, retries=self.hello_tries - 1)
        except NoAnswerError:
            raise NoAnswerError(
                f"no answer from the device on {self.url} at {self.baud} baud "
                f"({self.hello_tries} HELLOs over {time.monotonic() - t0:.1f} s): check that "
                "the board is powered and programmed, the cable, and the baud rate") from None
        info = DeviceInfo.from_caps(caps)
        if info.version[0] != M.PROTOCOL_MAJOR:
            raise VersionMismatchError(
                f"the device on {self.url} speaks serial protocol v{info.version[0]}."
                f"{info.version[1]}, this host speaks v{M.PROTOCOL_MAJOR}.{M.PROTOCOL_MINOR}: "
                "update edgecomp or the device firmware")
        self.info = info
        req.window = max(1, min(self.window, info.window))
        self.chunk_size = max(1, min(self.chunk, info.max_payload - WRITE_HEAD))
        if self.sizer is None or self.sizer.max_chunk != self.chunk_size:
            self.sizer = ChunkSizer(self.chunk_size, WRITE_HEAD)
        req.sizer = self.sizer
        req.set_line(self.baud, self.chunk_size + WRITE_HEAD)
        self.counters.sessions += 1
        self._greeted = True

    def _recover(self, err: Exception) -> None:
        """Get the device back after a lost link, a reset or silence; raise if it stays away."""
        self.counters.reconnects += 1
        reopen = isinstance(err, LinkLostError)
        deadline = time.monotonic() + self.reconnect_timeout
        last: Exception = err
        self._greeted = False
        while time.monotonic() < deadline:
            try:
                if reopen or self.link is None:
                    self.close()
                    self._open()
                self._hello()
                return
            except (PortNotFoundError, PortBusyError, LinkLostError) as e:
                last, reopen = e, True
            except (NoAnswerError, SessionLostError) as e:
                last = e
            time.sleep(0.05)
        raise LinkLostError(f"lost the device on {self.url} and could not get it back within "
                            f"{self.reconnect_timeout:.0f} s ({last})")

    def _with_recovery(self, op):
        for attempt in range(self.max_reconnects + 1):
            try:
                self.connect()
                return op()
            except RECOVERABLE as e:
                if attempt == self.max_reconnects:
                    raise
                self._recover(e)

    # -- building blocks --------------------------------------------------------------------

    def query(self, region: str = "IMAGE") -> RangeSet:
        held, offset = RangeSet(), 0
        while True:
            r = self.req.call("QUERY", M.pack("QUERY", region=M.REGIONS[region], offset=offset))
            for i in range(r["count"]):
                held.add(*M.RANGE.unpack_from(r["ranges"], i * M.RANGE.size))
            if not r["more"]:
                return held
            offset = r["next_offset"]

    def _send(self, region: str, data: bytes, ranges, bar: TransferProgress | None = None) -> int:
        """WRITE ``data[s:e]`` for each range through the window; returns bytes sent."""
        sent, rcode, req, sizer = 0, M.REGIONS[region], self.req, self.sizer
        for s, e in ranges:
            off = s
            while off < e:
                # the window holds a fixed number of bytes: smaller frames, more of them in
                # flight (up to what the device accepts), so the pipe stays full on a noisy line
                req.window = max(1, min(self.info.window,
                                        self.window * sizer.max_chunk // sizer.chunk))
                piece = data[off:min(off + sizer.chunk, e)]
                head = M.pack("WRITE", region=rcode, offset=off)
                req.submit("WRITE", head + piece, data_len=len(piece))
                off += len(piece)
                sent += len(piece)
                if bar is not None:
                    bar.advance(len(piece))
        req.drain()
        return sent

    def _hash_mismatches(self, image: bytes, spans) -> list[tuple[int, int]]:
        """Those of ``spans`` whose device-side SHA-256 differs from ours (pipelined)."""
        pend = [(s, e, self.req.submit("HASH", M.pack("HASH", region=M.REGIONS["IMAGE"],
                                                       offset=s, length=e - s)))
                for s, e in spans]
        return [(s, e) for s, e, p in pend
                if self.req.unpack_reply("HASH", self.req.wait(p))["sha256"]
                != hashlib.sha256(image[s:e]).digest()]

    def _repair(self, image: bytes) -> list[tuple[int, int]]:
        """Find the corrupt bytes after a failed VERIFY: hash 64 KiB blocks, then 4 KiB blocks
        inside the bad ones, so only those are sent again."""
        def blocks(s, e, n):
            return [(o, min(o + n, e)) for o in range(s, e, n)]
        bad = self._hash_mismatches(image, blocks(0, len(image), REPAIR_BLOCK))
        fine = [b for s, e in bad for b in blocks(s, e, REPAIR_SUBBLOCK)]
        return self._hash_mismatches(image, fine) if fine else []

    # -- operations -------------------------------------------------------------------------

    def check_image(self, image: bytes) -> list[str]:
        """Validate the file and that this device can take it; returns its weight encodings."""
        model = parse_ecm(image)  # FormatError: never send a broken file
        info = self.connect()
        encodings = model_encodings(model)
        if len(image) > info.memory_size:
            raise DeviceMemoryError(
                f"the model is {len(image)} bytes but the device on {self.url} has only "
                f"{info.memory_size} bytes of memory ({len(image) - info.memory_size} short)")
        ecm_major = int.from_bytes(image[8:10], "little")
        if ecm_major != info.ecm_major:
            raise DeviceCapabilityError(f"the model is .ecm format v{ecm_major}, the device "
                                        f"runs v{info.ecm_major}")
        missing = [e for e in encodings if e not in info.encodings]
        if missing:
            have = sorted(info.encodings, key=M.ENCODINGS.get)
            raise DeviceCapabilityError(f"the device does not support {', '.join(missing)} "
                                        f"weights (it has {', '.join(have)})")
        return encodings

    def flash(self, image: bytes, *, force: bool = False, verify_rounds: int = 6) -> FlashReport:
        image = bytes(image)
        sha = hashlib.sha256(image).digest()
        self.check_image(image)
        report = FlashReport(len(image), sha.hex(), self.baud)
        before, t0 = self.counters.snapshot(), time.monotonic()
        flags = M.BEGIN_FLAG_RESTART if force else 0
        session_starts: list[int] = []  # payload counter when each session's sending began

        def attempt():
            nonlocal flags
            b = self.req.call("BEGIN", M.pack("BEGIN", size=len(image), flags=flags, sha256=sha))
            flags = 0  # a forced restart happens once, not again after a reconnect
            if b["status"] == M.BEGUN_STATUS["ACTIVE"]:
                report.status = "already active"
                return
            if not report.held_at_begin:
                report.resumed_bytes = b["held"]
            held = self.query("IMAGE")
            report.held_at_begin.append(held.total)
            session_starts.append(self.counters.payload_bytes)
            with TransferProgress(len(image), "flash", self.progress) as bar:
                bar.advance(held.total)
                self._send("IMAGE", image, held.missing(len(image)), bar)
            for _ in range(verify_rounds):
                v = self.req.call("VERIFY")
                if v["status"] == M.VERIFY_STATUS["OK"]:
                    break
                if v["status"] == M.VERIFY_STATUS["INCOMPLETE"]:
                    self._send("IMAGE", image, self.query("IMAGE").missing(len(image)))
                else:
                    report.repairs += 1
                    self._send("IMAGE", image, self._repair(image))
            else:
                raise TransferError(f"the image on the device still fails its SHA-256 after "
                                    f"{verify_rounds} verify rounds: the link or the device "
                                    "memory corrupts data")
            c = self.req.call("COMMIT", M.pack("COMMIT", sha256=sha))
            if c["sha256"] != sha or c["size"] != len(image):
                raise TransferError("the device committed another image than the one sent")

        self._with_recovery(attempt)
        report.elapsed = time.monotonic() - t0
        report.link = self.counters.since(before)
        report.sent_bytes = report.link["payload_bytes"]
        ends = session_starts[1:] + [self.counters.payload_bytes]
        report.sent_per_session = [e - s for s, e in zip(session_starts, ends)]
        return report

    def run(self, x) -> RunResult:
        """Run the committed model on ``x`` (int8 array or bytes) on the device."""
        data = x.tobytes() if hasattr(x, "tobytes") else bytes(x)
        info = self.connect()
        if len(data) > info.io_size:
            raise DeviceCapabilityError(f"the input is {len(data)} bytes, the device's input "
                                        f"buffer holds {info.io_size}")
        t0 = time.monotonic()

        def attempt():
            self._send("INPUT", data, [(0, len(data))])
            r = self.req.call("RUN", M.pack("RUN", input_len=len(data),
                                             input_crc=zlib.crc32(data)))
            out, total = bytearray(r.pop("output")), r["output_len"]
            room = min(self.info.max_payload, HOST_MAX_PAYLOAD) - M.MESSAGES["DATA"].struct.size
            while len(out) < total:
                d = self.req.call("READ", M.pack("READ", region=M.REGIONS["OUTPUT"],
                                                 offset=len(out),
                                                 length=min(room, total - len(out))))
                out += d["data"]
            if zlib.crc32(out) != r["output_crc"]:
                raise TransferError("the output read back fails its CRC-32")
            return bytes(out), r

        out, r = self._with_recovery(attempt)
        counters = {k: r[k] for k in ("run_ns", "dense_macs", "executed_macs", "weight_bytes",
                                      "activation_bytes")}
        return RunResult(out, counters, time.monotonic() - t0, len(data))

    def stats(self) -> dict:
        def op():
            r = self.req.call("STATS")
            vals = [int.from_bytes(r["counters"][i:i + 8], "little")
                    for i in range(0, 8 * r["count"], 8)]
            names = list(M.DEVICE_COUNTERS) + [f"counter_{i}" for i in
                                               range(len(M.DEVICE_COUNTERS), len(vals))]
            return dict(zip(names, vals))
        return self._with_recovery(op)

    def reset(self, erase: bool = False) -> int:
        """Reset the device (erase: also forget the staged and committed image)."""
        self.connect()
        mode = M.RESET_MODES["ERASE" if erase else "SOFT"]
        try:
            boot = self.req.call("RESET", M.pack("RESET", mode=mode))["boot_count"]
        except DeviceError as e:
            if e.name != "NO_SESSION":  # a lost RESET_DONE: the reset did happen
                raise
            boot = 0
        self._greeted = False  # the reset ended our session
        return boot

    def read(self, region: str, offset: int, length: int) -> bytes:
        out = bytearray()
        room = min(self.connect().max_payload, HOST_MAX_PAYLOAD) - M.MESSAGES["DATA"].struct.size
        while len(out) < length:
            n = min(room, length - len(out))
            d = self.req.call("READ", M.pack("READ", region=M.REGIONS[region],
                                             offset=offset + len(out), length=n))
            out += d["data"]
        return bytes(out)

    def wire_efficiency(self, payload_len: int | None = None) -> float:
        """Share of the line that a full WRITE frame spends on image bytes."""
        n = payload_len or self.chunk_size
        return n / wire_size(n + WRITE_HEAD)
