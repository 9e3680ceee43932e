"""The self-test vector: a golden int8 input and the host's output for it.

The board runs the same input and must produce these bytes exactly. The input is random over
the whole int8 range (seeded by the model's SHA-256, so a model always gets the same one): it
exercises every path of every kernel, which a real image would not.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exec_int import run_int
from ..packed.model import QModel
from ..packed.reader import parse_ecm
from .errors import DeployError


@dataclass(frozen=True)
class PackedModel:
    path: Path
    data: bytes
    sha256: str
    model: QModel

    @property
    def input_size(self) -> int:
        return int(np.prod(self.model.input.shape))

    @property
    def output_size(self) -> int:
        return int(np.prod(self.model.output.shape))


@dataclass(frozen=True)
class Golden:
    input: bytes
    expected: bytes
    source: str  # who computed expected: "host" or the file the user gave


def load_packed(path: str | Path) -> PackedModel:
    """Read and fully validate a .ecm (a corrupt file must not reach a board)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DeployError(f"model {path}: {e.strerror or e}") from None
    return PackedModel(path, data, hashlib.sha256(data).hexdigest(), parse_ecm(data))


def golden_input(pm: PackedModel) -> np.ndarray:
    rng = np.random.default_rng(int(pm.sha256[:16], 16))
    return rng.integers(-128, 128, pm.model.input.shape, dtype=np.int8)


def host_output(pm: PackedModel, x: np.ndarray) -> np.ndarray:
    """Output 0 for x by the numpy integer reference: the definition of the semantics."""
    return run_int(pm.model, x)[pm.model.outputs[0]]


def compute_golden(pm: PackedModel) -> Golden:
    x = golden_input(pm)
    return Golden(x.tobytes(), np.ascontiguousarray(host_output(pm, x)).tobytes(), "host")


def golden_from_files(pm: PackedModel, input_path: str | Path,
                      expected_path: str | Path) -> Golden:
    """A user's own golden pair (raw int8 bytes of the input and of output 0)."""
    pairs = ((Path(input_path), pm.input_size, f"input tensor {pm.model.input.name!r}"),
             (Path(expected_path), pm.output_size, f"output tensor {pm.model.output.name!r}"))
    blobs = []
    for path, size, what in pairs:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise DeployError(f"golden file {path}: {e.strerror or e}") from None
        if len(data) != size:
            raise DeployError(f"golden file {path}: {len(data)} bytes, the {what} of "
                              f"{pm.path.name} has {size} int8 values")
        blobs.append(data)
    return Golden(blobs[0], blobs[1], str(expected_path))
