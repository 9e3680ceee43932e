"""What the host learns: the device's capabilities, and reports of a flash and of a run."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import messages as M
from .counters import efficiency, line_rate


@dataclass
class DeviceInfo:
    version: tuple[int, int]
    max_payload: int
    window: int
    ecm_major: int
    memory_size: int
    io_size: int
    encodings: frozenset[str]
    boot_count: int
    active_size: int
    active_sha256: bytes
    device_id: str

    @classmethod
    def from_caps(cls, c: dict) -> "DeviceInfo":
        enc = frozenset(name for name, bit in M.ENCODINGS.items() if c["encodings"] >> bit & 1)
        return cls((c["version_major"], c["version_minor"]), c["max_payload"], c["window"],
                   c["ecm_major"], c["memory_size"], c["io_size"], enc, c["boot_count"],
                   c["active_size"], c["active_sha256"],
                   c["device_id"].decode("utf-8", "replace"))


@dataclass
class FlashReport:
    size: int
    sha256: str
    baud: int
    status: str = "flashed"          # or "already active"
    resumed_bytes: int = 0           # bytes the device already held when we began
    sent_bytes: int = 0              # image bytes sent (first transmissions)
    held_at_begin: list[int] = field(default_factory=list)  # per BEGIN (one per connection)
    sent_per_session: list[int] = field(default_factory=list)  # image bytes sent after each
    repairs: int = 0                 # VERIFY mismatches repaired by re-sending blocks
    elapsed: float = 0.0
    link: dict = field(default_factory=dict)  # LinkCounters accumulated during the flash

    @property
    def throughput(self) -> float:
        """Image bytes delivered per second (resumed bytes excluded)."""
        return (self.size - self.resumed_bytes) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def efficiency(self) -> float:
        return efficiency(self.size - self.resumed_bytes, self.elapsed, self.baud)

    def lines(self) -> list[str]:
        k = self.link
        out = [f"{self.status}: {self.size} bytes, SHA-256 {self.sha256[:16]}... verified by "
               "the device"]
        if self.status != "flashed":
            return out
        out.append(f"sent {self.sent_bytes} bytes in {self.elapsed:.2f} s: "
                   f"{self.throughput / 1000:.1f} kB/s = {100 * self.efficiency:.1f}% of the "
                   f"{line_rate(self.baud) / 1000:.1f} kB/s raw line rate at {self.baud} baud"
                   + (" (the port is not paced at that baud: a pty or a fast bridge)"
                      if self.efficiency > 1 else ""))
        out.append(f"wire: {k.get('wire_tx_bytes', 0)} bytes out, {k.get('wire_rx_bytes', 0)} "
                   f"in; {k.get('retransmissions', 0)} retransmissions "
                   f"({k.get('timeouts', 0)} timeouts, {k.get('naks', 0)} NAKs), "
                   f"{k.get('crc_errors', 0)} CRC errors, {k.get('malformed', 0)} malformed")
        if self.resumed_bytes or k.get("reconnects"):
            out.append(f"resumed: {self.resumed_bytes} bytes already on the device, "
                       f"{k.get('reconnects', 0)} reconnects")
        if self.repairs:
            out.append(f"repaired {self.repairs} hash mismatches")
        return out


@dataclass
class RunResult:
    output: bytes
    counters: dict       # RESULT fields: run_ns, dense_macs, executed_macs, weight_bytes, ...
    elapsed: float       # host-side seconds: upload, run and read back
    input_bytes: int
