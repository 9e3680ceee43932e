"""Activation range calibration: run the float executor on user images, record ranges."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import QuantizationError
from ..ir import Graph
from ..progress import progress

# Percentile calibration keeps at most this many values per tensor (uniform subsample).
_SAMPLE_CAP = 1 << 20


@dataclass
class RangeObserver:
    method: str = "minmax"          # "minmax" or "percentile"
    percentile: float = 99.99
    lo: float = np.inf
    hi: float = -np.inf
    samples: list[np.ndarray] = field(default_factory=list)
    seen: int = 0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def observe(self, v: np.ndarray) -> None:
        v = v.reshape(-1)
        self.lo = min(self.lo, float(v.min()))
        self.hi = max(self.hi, float(v.max()))
        if self.method == "percentile":
            self.seen += v.size
            keep = max(1, int(_SAMPLE_CAP * v.size / max(self.seen, 1)))
            if v.size > keep:
                v = self.rng.choice(v, keep, replace=False)
            self.samples.append(v.astype(np.float32))

    def range(self) -> tuple[float, float]:
        if not np.isfinite(self.lo):
            raise QuantizationError("tensor was never observed during calibration")
        if self.method == "minmax":
            return self.lo, self.hi
        allv = np.concatenate(self.samples)
        return (float(np.percentile(allv, 100 - self.percentile)),
                float(np.percentile(allv, self.percentile)))


def calibrate(graph: Graph, images: np.ndarray, method: str = "minmax",
              percentile: float = 99.99, batch: int = 32,
              show_progress: bool = True) -> dict[str, tuple[float, float]]:
    """Return {tensor name: (lo, hi)} over ``images`` ([N, ...] float32 in the input layout)."""
    from ..exec_float import run_float

    if method not in ("minmax", "percentile"):
        raise QuantizationError(f"unknown calibration method {method!r} "
                                "(use 'minmax' or 'percentile')")
    if len(images) == 0:
        raise QuantizationError("calibration needs at least one image")
    observers = {name: RangeObserver(method, percentile) for name in graph.tensors}
    for start in progress(range(0, len(images), batch), "calibrating",
                          total=(len(images) + batch - 1) // batch, enabled=show_progress):
        values = run_float(graph, images[start:start + batch], keep_all=True)
        for name, v in values.items():
            if name in observers:
                observers[name].observe(np.asarray(v))
    return {name: obs.range() for name, obs in observers.items() if np.isfinite(obs.lo)}
