"""Per-frame stage timing and the latency statistics of a run.

A frame's time runs from the start of its capture to the end of its output (drawing, writing,
showing); each stage is timed inside it, so the stages never add up to more than the frame.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

STAGES = ("capture", "preprocess", "inference", "postprocess", "output")
SHOWN_STAGES = STAGES[:4]  # the overlay cannot show the time of its own drawing


class FrameClock:
    """``start()``, then ``with clock.stage(name):`` blocks, then ``stop()`` -> frame ms."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t0 = self._t1 = 0

    def start(self) -> None:
        self.ms = {}
        self._t0 = time.perf_counter_ns()

    @contextmanager
    def stage(self, name: str):
        t = time.perf_counter_ns()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter_ns() - t) / 1e6

    def stop(self) -> float:
        self._t1 = time.perf_counter_ns()
        return self.frame_ms

    @property
    def frame_ms(self) -> float:
        return (self._t1 - self._t0) / 1e6

    @property
    def t0_ns(self) -> int:
        return self._t0

    @property
    def t1_ns(self) -> int:
        return self._t1


class RollingFps:
    """Frames per second over the last ``n`` completed frames (what the overlay shows)."""

    def __init__(self, n: int = 30) -> None:
        self.n = n
        self.ms: list[float] = []

    def add(self, frame_ms: float) -> None:
        self.ms.append(frame_ms)
        del self.ms[:-self.n]

    @property
    def fps(self) -> float | None:
        total = sum(self.ms)
        return 1000.0 * len(self.ms) / total if total > 0 else None


def latency_stats(values_ms: list[float]) -> dict[str, float]:
    """mean, p50, p95 and max of a list of milliseconds (linear-interpolated percentiles)."""
    if not values_ms:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    v = np.asarray(values_ms, dtype=np.float64)
    p50, p95 = np.percentile(v, [50, 95])
    return {"mean": float(v.mean()), "p50": float(p50), "p95": float(p95),
            "max": float(v.max())}
