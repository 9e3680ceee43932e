"""Windowed requests with acknowledgements and retransmission (the reliable half of the host).

Up to ``window`` requests are in flight. A request is complete when its reply arrives; WRITEs
are also completed by the cumulative ``next_expected`` every ACK/NAK carries, so a lost ACK costs
nothing. A request is sent again when:

- the device NAKs it (it saw a later sequence number first: the frame was lost or corrupted);
- a reply arrives to a request sent after it (the line is FIFO, so a request sent earlier whose
  reply has not come was lost: this repairs a burst of losses in one round trip);
- its timer expires: every expired request is resent and the timeout doubles; any answer to a
  resent request undoes the doubling (the device is alive, the line is just lossy).

The timeout follows the measured round trip (Jacobson/Karels, samples only from requests sent
once), never below the time the whole window needs on the line.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

from . import messages as M
from .chunking import ChunkSizer
from .counters import LinkCounters, line_rate
from .errors import (DeviceError, NoAnswerError, SessionLostError, VersionMismatchError)
from .frame import Frame, encode_frame, wire_size
from .link import Link

SEQ_MASK = 0xFFFFFFFF
WRITE_HEAD = M.MESSAGES["WRITE"].struct


def seq_before(a: int, b: int) -> bool:
    """a < b in 32-bit serial-number arithmetic (wrap-safe)."""
    return a != b and ((b - a) & SEQ_MASK) < 0x80000000


@dataclass
class Pending:
    seq: int
    name: str
    payload: bytes
    wire: bytes
    data_len: int         # WRITE data bytes (counted as payload)
    sent_at: float
    tries: int = 1
    reply: Frame | None = None
    retries_allowed: int = 8


class Requester:
    def __init__(self, link: Link, counters: LinkCounters, *, baud: int, window: int = 8,
                 max_payload: int = 1024, max_retries: int = 8, max_rto: float = 3.0):
        self.link, self.counters = link, counters
        self.window = window
        self.max_retries = max_retries
        self.max_rto = max_rto
        self._seq = random.getrandbits(32)
        self.outstanding: dict[int, Pending] = {}
        # WRITE first transmissions that got through / had to be repeated
        self.first_ok = self.first_lost = 0
        self.sizer: ChunkSizer | None = None  # learns the line's error rate from WRITEs
        self._backlog: list[bytes] = []  # WRITE payloads split off resent frames
        self.set_line(baud, max_payload)

    def set_line(self, baud: int, max_payload: int) -> None:
        """Timer floor: the whole window queued on the line, plus scheduling slack."""
        window_s = self.window * wire_size(max_payload) / line_rate(baud)
        self.min_rto = 1.5 * window_s + 0.05
        self.rto = max(self.min_rto, 0.25)
        self.srtt: float | None = None
        self.rttvar = 0.0

    # -- sending ----------------------------------------------------------------------------

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & SEQ_MASK
        return self._seq

    def reset_session(self) -> None:
        """Forget everything in flight (the device lost its session, or we reconnected)."""
        self.outstanding.clear()
        self._backlog.clear()  # the caller resumes from what the device reports it holds

    def submit(self, name: str, payload: bytes = b"", *, data_len: int = 0,
               retries: int | None = None) -> Pending:
        self._flush_backlog()
        while len(self.outstanding) >= self.window:
            self.pump()
            self._flush_backlog()
        self.counters.payload_bytes += data_len
        return self._send_new(name, payload, data_len, retries)

    def _send_new(self, name: str, payload: bytes, data_len: int,
                  retries: int | None = None) -> Pending:
        seq = self.next_seq()
        wire = encode_frame(M.MESSAGES[name].code, seq, payload)
        p = Pending(seq, name, payload, wire, data_len, time.monotonic(),
                    retries_allowed=self.max_retries if retries is None else retries)
        self.outstanding[seq] = p
        self.link.send(wire)
        return p

    def _flush_backlog(self) -> None:
        while self._backlog and len(self.outstanding) < self.window:
            payload = self._backlog.pop(0)
            n = len(payload) - WRITE_HEAD.size
            self.counters.retransmitted_bytes += n
            self._send_new("WRITE", payload, n)

    def wait(self, p: Pending) -> Frame:
        while p.reply is None:
            self.pump()
        return p.reply

    def call(self, name: str, payload: bytes = b"", retries: int | None = None) -> dict:
        """Send one request and return its unpacked reply; DeviceError for an ERROR reply."""
        reply = self.wait(self.submit(name, payload, retries=retries))
        return self.unpack_reply(name, reply)

    def drain(self) -> None:
        self._flush_backlog()
        while self.outstanding or self._backlog:
            self.pump()
            self._flush_backlog()

    @staticmethod
    def unpack_reply(name: str, reply: Frame) -> dict:
        if reply.type == M.MESSAGES["ERROR"].code:
            e = M.unpack("ERROR", reply.payload)
            raise DeviceError(e["code"], M.ERROR_NAMES.get(e["code"], str(e["code"])),
                              e["message"].decode("utf-8", "replace"), e["detail"])
        expected = M.REPLIES[name]
        try:
            return M.unpack(expected, reply.payload)
        except M.PayloadError as e:
            raise DeviceError(0, "BAD_REPLY",
                              f"{name} answered with a bad {expected}: {e}") from None

    def _resend(self, p: Pending) -> None:
        if p.name == "WRITE":
            if p.tries == 1:
                self.first_lost += 1
                self._outcome(p, lost=True)
            if self.sizer is not None and p.data_len > self.sizer.chunk:
                self._split(p, self.sizer.chunk)
        p.tries += 1
        p.sent_at = time.monotonic()
        self.link.send(p.wire)
        self.counters.retransmissions += 1
        self.counters.retransmitted_bytes += p.data_len

    def _outcome(self, p: Pending, lost: bool) -> None:
        if self.sizer is not None:
            self.sizer.record(1, int(lost), len(p.wire))

    def _split(self, p: Pending, lim: int) -> None:
        """Resend a lost WRITE shorter (the line is too noisy for its size): the same sequence
        number carries the first ``lim`` bytes, new WRITEs carry the rest. Safe either way: if
        the long copy did arrive, the device simply gets the same bytes twice."""
        region, _, offset = WRITE_HEAD.unpack_from(p.payload)
        data = p.payload[WRITE_HEAD.size:]
        p.payload = p.payload[:WRITE_HEAD.size + lim]
        p.wire = encode_frame(M.MESSAGES["WRITE"].code, p.seq, p.payload)
        p.data_len = lim
        for i in range(lim, len(data), lim):
            self._backlog.append(WRITE_HEAD.pack(region, b"", offset + i) + data[i:i + lim])

    # -- receiving --------------------------------------------------------------------------

    def pump(self) -> None:
        for f in self.link.poll():
            self._dispatch(f)
        self._check_timers()

    def _complete(self, p: Pending, reply: Frame, own_reply: bool) -> None:
        self.outstanding.pop(p.seq, None)
        p.reply = reply
        if p.tries == 1 and p.name == "WRITE":
            self.first_ok += 1
            self._outcome(p, lost=False)
        if own_reply and p.tries > 1 and self.srtt is not None:
            # an answer proves the device alive: undo the timer backoff (no RTT sample, Karn)
            self.rto = min(self.max_rto, max(self.min_rto, self.srtt + 4 * self.rttvar))
        if own_reply and p.tries == 1:
            self._sample_rtt(time.monotonic() - p.sent_at)
            # FIFO line: anything sent before p and still unanswered was lost
            for q in sorted(self.outstanding.values(), key=lambda q: q.seq):
                if q.sent_at < p.sent_at:
                    self._resend(q)

    def _sample_rtt(self, r: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = r, r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        self.rto = min(self.max_rto, max(self.min_rto, self.srtt + 4 * self.rttvar))

    def _dispatch(self, f: Frame) -> None:
        if f.version != M.PROTOCOL_MAJOR:
            theirs = f.version
            if f.type == M.MESSAGES["ERROR"].code:
                try:
                    theirs = M.unpack("ERROR", f.payload)["detail"] or theirs
                except M.PayloadError:
                    pass
            raise VersionMismatchError(
                f"the device on {self.link.url} speaks serial protocol v{theirs}, this host "
                f"speaks v{M.PROTOCOL_MAJOR}: update edgecomp or the device firmware")
        name = M.type_name(f.type)
        p = self.outstanding.get(f.seq)
        if name == "BOOT":
            self.counters.device_boots += 1
            if any(q.name != "HELLO" for q in self.outstanding.values()):
                raise SessionLostError(f"the device on {self.link.url} reset")
            return
        if name in ("ACK", "NAK"):
            try:
                ne = M.unpack(name, f.payload)["next_expected"]
            except M.PayloadError:
                self.counters.malformed += 1
                return
            for q in list(self.outstanding.values()):
                if q.name == "WRITE" and seq_before(q.seq, ne) and q is not p:
                    self._complete(q, f, own_reply=False)
            if p is None:
                if name == "ACK":
                    self.counters.duplicates += 1
                return
            if name == "NAK":
                self.counters.naks += 1
                self._resend(p)
            elif p.name == "WRITE":
                self._complete(p, f, own_reply=True)
            return
        if name == "ERROR":
            try:
                code = M.unpack("ERROR", f.payload)["code"]
            except M.PayloadError:
                self.counters.malformed += 1
                return
            if code == M.ERROR_CODES["NO_SESSION"] and p is not None:
                if p is not None and p.name == "RESET":
                    self._complete(p, f, own_reply=True)  # the reset already happened
                    return
                raise SessionLostError(f"the device on {self.link.url} forgot our session "
                                       "(it was reset)")
            if p is None:
                self.counters.duplicates += 1
                return
            self._complete(p, f, own_reply=True)
            if p.name == "WRITE":
                self.unpack_reply("WRITE", f)  # raises DeviceError: nobody waits on a WRITE
            return
        if p is None or f.type != M.MESSAGES[M.REPLIES.get(p.name, "ERROR")].code:
            self.counters.duplicates += 1  # a replayed reply, or one from an older session
            return
        self._complete(p, f, own_reply=True)

    def _check_timers(self) -> None:
        if not self.outstanding:
            return
        now = time.monotonic()
        expired = [q for q in self.outstanding.values() if now - q.sent_at > self.rto]
        if not expired:
            return
        expired.sort(key=lambda q: (q.seq - self._seq) & SEQ_MASK)  # oldest first
        for q in expired:
            if q.tries > q.retries_allowed:
                raise NoAnswerError(
                    f"no answer from the device on {self.link.url} to {q.name} after "
                    f"{q.tries} tries (last timeout {self.rto:.2f} s)")
        self.counters.timeouts += 1
        for q in expired:
            self._resend(q)
        self.rto = min(self.max_rto, self.rto * 2)
