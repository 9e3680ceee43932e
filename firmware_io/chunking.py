"""Frame size that adapts to the line's error rate.

A frame of s data bytes plus o bytes of overhead gets through a line with byte error rate p with
probability (1-p)^(s+o), so the goodput per line byte is s/(s+o) * (1-p)^(s+o), maximal near
s = sqrt(o/p). The sizer estimates p as (first transmissions lost) / (line bytes of first
transmissions), with an exponential memory of about 50 frames, and keeps the chunk there:
1 KiB frames on a clean line, ~480 bytes at 1e-4, ~150 bytes at 1e-3.
"""
from __future__ import annotations

import math

from .frame import wire_size

MIN_CHUNK = 64
DECAY = 0.98  # per frame outcome


class ChunkSizer:
    def __init__(self, max_chunk: int, head: int):
        self.max_chunk = max(MIN_CHUNK, max_chunk)
        self.chunk = self.max_chunk
        self.overhead = wire_size(head)  # line bytes a frame costs besides its data
        self.lost = 0.0
        self.bytes = 0.0

    def record(self, frames: int, lost: int, line_bytes: int) -> None:
        """Outcomes of ``frames`` first transmissions (``lost`` of them had to be repeated)."""
        if frames <= 0:
            return
        d = DECAY ** frames
        self.lost = self.lost * d + lost
        self.bytes = self.bytes * d + line_bytes
        self.chunk = self.best_chunk()

    @property
    def error_rate(self) -> float:
        return self.lost / self.bytes if self.bytes else 0.0

    def best_chunk(self) -> int:
        p = self.error_rate
        if p <= 0:
            return self.max_chunk
        return int(min(self.max_chunk, max(MIN_CHUNK, math.sqrt(self.overhead / p))))
