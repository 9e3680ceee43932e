"""Fault injection for the device emulator: what a bad cable, a noisy line and a flaky board do.

Byte faults (bit flips, drops, duplicates, garbage) hit each direction independently at a rate
per byte; frame drops lose whole frames; stalls freeze the device; disconnects take the port
away; resets reboot the controller; memory errors corrupt bytes after their CRC was checked (a
fault only the SHA-256 can catch). Every injected fault is counted, by kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FAULT_KINDS = ("bit_flips", "dropped_bytes", "duplicated_bytes", "garbage_bytes",
               "dropped_frames", "stalls", "disconnects", "resets", "memory_errors")


@dataclass
class FaultConfig:
    seed: int = 0
    bit_error_rate: float = 0.0   # per byte, each direction: flip one random bit
    drop_rate: float = 0.0        # per byte: the byte vanishes
    dup_rate: float = 0.0         # per byte: the byte arrives twice
    garbage_rate: float = 0.0     # per byte: a random byte is inserted before it
    frame_drop_rate: float = 0.0  # per frame, each direction: the whole frame is lost
    stall_every: int = 0          # received bytes between stalls (0: never)
    stall_time: float = 0.0       # seconds a stall lasts
    disconnect_at: tuple[int, ...] = ()  # received-byte counts at which the port goes away
    disconnect_time: float = 0.3  # seconds the port stays away
    reset_at: tuple[int, ...] = ()       # received-byte counts at which the device reboots
    memory_error_rate: float = 0.0       # per image WRITE: one byte corrupted after the CRC
    directions: tuple[str, ...] = ("rx", "tx")  # which directions the byte/frame faults hit

    @property
    def any_byte_faults(self) -> bool:
        return any((self.bit_error_rate, self.drop_rate, self.dup_rate, self.garbage_rate))


@dataclass
class FaultInjector:
    config: FaultConfig
    counts: dict = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))

    def __post_init__(self):
        self.rng = np.random.default_rng(self.config.seed)
        self._disconnects = sorted(self.config.disconnect_at)
        self._resets = sorted(self.config.reset_at)
        self._next_stall = self.config.stall_every or None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def corrupt(self, data: bytes, direction: str) -> bytes:
        cfg = self.config
        if not data or direction not in cfg.directions or not cfg.any_byte_faults:
            return data
        n = len(data)
        arr = np.frombuffer(data, dtype=np.uint8).copy()
        rng = self.rng
        if cfg.bit_error_rate:
            hit = np.flatnonzero(rng.random(n) < cfg.bit_error_rate)
            arr[hit] ^= (1 << rng.integers(0, 8, hit.size)).astype(np.uint8)
            self.counts["bit_flips"] += int(hit.size)
        reps = np.ones(n, dtype=np.int64)
        if cfg.drop_rate:
            drop = rng.random(n) < cfg.drop_rate
            reps[drop] = 0
            self.counts["dropped_bytes"] += int(drop.sum())
        if cfg.dup_rate:
            dup = (rng.random(n) < cfg.dup_rate) & (reps > 0)
            reps[dup] = 2
            self.counts["duplicated_bytes"] += int(dup.sum())
        out = np.repeat(arr, reps)
        if cfg.garbage_rate:
            where = np.flatnonzero(rng.random(out.size) < cfg.garbage_rate)
            if where.size:
                out = np.insert(out, where, rng.integers(0, 256, where.size).astype(np.uint8))
                self.counts["garbage_bytes"] += int(where.size)
        return out.tobytes()

    def drop_frame(self, direction: str) -> bool:
        cfg = self.config
        if cfg.frame_drop_rate and direction in cfg.directions \
                and self.rng.random() < cfg.frame_drop_rate:
            self.counts["dropped_frames"] += 1
            return True
        return False

    def memory_fault(self, buf: bytearray, offset: int, length: int) -> None:
        if self.config.memory_error_rate and self.rng.random() < self.config.memory_error_rate:
            i = offset + int(self.rng.integers(0, length))
            buf[i] ^= 1 << int(self.rng.integers(0, 8))
            self.counts["memory_errors"] += 1

    def events(self, rx_total: int) -> list[str]:
        """Scheduled events due once ``rx_total`` bytes have been received."""
        due = []
        while self._disconnects and rx_total >= self._disconnects[0]:
            self._disconnects.pop(0)
            self.counts["disconnects"] += 1
            due.append("disconnect")
        while self._resets and rx_total >= self._resets[0]:
            self._resets.pop(0)
            self.counts["resets"] += 1
            due.append("reset")
        if self._next_stall is not None and rx_total >= self._next_stall:
            # jitter the next stall so stalls do not lock onto the frame period
            gap = self.config.stall_every
            self._next_stall = rx_total + int(gap * (0.5 + self.rng.random()))
            self.counts["stalls"] += 1
            due.append("stall")
        return due
