"""Host-side link counters and the rates derived from them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

BITS_PER_BYTE_8N1 = 10  # start bit + 8 data bits + stop bit


@dataclass
class LinkCounters:
    payload_bytes: int = 0        # WRITE data bytes sent for the first time
    retransmitted_bytes: int = 0  # WRITE data bytes sent again
    wire_tx_bytes: int = 0        # every byte the host put on the line
    wire_rx_bytes: int = 0        # every byte the host read from the line
    frames_sent: int = 0
    frames_received: int = 0
    retransmissions: int = 0      # frames sent again (timeout, NAK or inferred loss)
    timeouts: int = 0
    naks: int = 0
    duplicates: int = 0           # replies to requests already answered or from old sessions
    crc_errors: int = 0           # received frames that failed their CRC
    malformed: int = 0            # received segments that are not frames (stuffing, runts)
    overruns: int = 0             # byte runs longer than any frame (garbage), dropped
    reconnects: int = 0
    sessions: int = 0
    device_boots: int = 0         # BOOT frames: the device reset under us

    def snapshot(self) -> dict:
        return asdict(self)

    def since(self, before: dict) -> dict:
        return {f.name: getattr(self, f.name) - before[f.name] for f in fields(self)}


def line_rate(baud: int) -> float:
    """Raw payload capacity of an 8N1 line in bytes per second."""
    return baud / BITS_PER_BYTE_8N1


def efficiency(payload_bytes: int, seconds: float, baud: int) -> float:
    """Payload throughput as a fraction of the raw 8N1 line rate."""
    if seconds <= 0 or baud <= 0:
        return 0.0
    return payload_bytes / seconds / line_rate(baud)
