"""A second, local run of each frame: every tensor (for the intermediate traffic) and a
bit-exactness check of the backend's output.

The reference is the local C runtime for the FPGA backend, and the numpy integer reference
executor (docs/format.md section 5) for the local backend. It runs in the postprocess stage:
it is accounting, not the frame's inference.
"""
from __future__ import annotations

import numpy as np

from ..exec_int import run_int
from ..packed.model import QModel
from .backends import local_runtime


class Shadow:
    def __init__(self, model: QModel, image: bytes, backend: str, *, check: bool,
                 tensors: bool, runtime=None) -> None:
        self.model, self.check, self.tensors = model, check, tensors
        self.reference = "numpy integer reference" if backend == "local" else "local C runtime"
        # the local backend's own Runtime serves run_all (its second, keep-all session)
        self.runtime = runtime if runtime is not None else (
            local_runtime(image) if tensors or backend != "local" else None)
        self._own = runtime is None and self.runtime is not None
        self.backend = backend
        self.mismatches = 0
        self.frames = 0

    @property
    def active(self) -> bool:
        return self.check or self.tensors

    def run(self, x: np.ndarray, y: np.ndarray) -> tuple[dict | None, bool | None]:
        """(every tensor or None, output equal to the reference or None when not checked)."""
        if not self.active:
            return None, None
        values = self.runtime.run_all(x) if self.tensors else None
        same = None
        if self.check:
            if self.backend == "local":
                ref = run_int(self.model, x)[self.model.outputs[0]]
            elif values is not None:
                ref = values[self.model.outputs[0]]
            else:
                ref = self.runtime.run(x)
            same = bool(np.array_equal(np.asarray(ref).reshape(y.shape), y))
            self.frames += 1
            self.mismatches += 0 if same else 1
        return values, same

    def summary(self) -> dict | None:
        if not self.check:
            return None
        return {"reference": self.reference, "frames": self.frames,
                "mismatches": self.mismatches}

    def close(self) -> None:
        if self._own:
            self.runtime.close()
