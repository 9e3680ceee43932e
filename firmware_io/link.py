"""Frames over an open serial port: write encoded frames, read and deframe what arrives."""
from __future__ import annotations

import serial

from .counters import LinkCounters
from .errors import LinkLostError
from .frame import Deframer, Frame


class Link:
    def __init__(self, port: serial.SerialBase, url: str, max_payload: int,
                 counters: LinkCounters):
        self.port, self.url, self.counters = port, url, counters
        self.deframer = Deframer(max_payload)
        self._seen = self.deframer.counters.__dict__.copy()

    def send(self, wire: bytes) -> None:
        try:
            self.port.write(wire)
        except serial.SerialTimeoutException:
            raise LinkLostError(f"{self.url}: writing blocked for {self.port.write_timeout} s "
                                "(the device stopped reading)") from None
        except (serial.SerialException, OSError) as e:
            raise LinkLostError(f"{self.url}: link lost while writing ({e})") from None
        self.counters.wire_tx_bytes += len(wire)
        self.counters.frames_sent += 1

    def poll(self) -> list[Frame]:
        """Frames that arrived; waits at most the port's read timeout when nothing is there."""
        try:
            data = self.port.read(self.port.in_waiting or 1)
        except (serial.SerialException, OSError) as e:
            raise LinkLostError(f"{self.url}: link lost while reading ({e})") from None
        if not data:
            return []
        self.counters.wire_rx_bytes += len(data)
        frames = self.deframer.feed(data)
        self.counters.frames_received += len(frames)
        d = self.deframer.counters
        c = self.counters
        c.crc_errors += d.crc_errors - self._seen["crc_errors"]
        c.malformed += d.malformed - self._seen["malformed"]
        c.overruns += d.overruns - self._seen["overruns"]
        self._seen = d.__dict__.copy()
        return frames

    def close(self) -> None:
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass
