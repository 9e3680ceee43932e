"""Test and benchmark helpers: models of a chosen size, and an emulated board on a pty.

``sized_model`` builds a small CNN straight at the format level (no compressor involved), with
enough weight bytes to make a transfer take a measurable time, preprocessing metadata for
images, and both weight encodings so the device's encoding support is exercised.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from edgecomp.packed.checks import check_model
from edgecomp.packed.model import QModel, QNode, QTensor

from .device import DeviceConfig
from .emulator import Emulator, PtyEndpoint
from .faults import FaultConfig


def _requant(rng, c_out: int, k: int, density: float) -> tuple[np.ndarray, np.ndarray]:
    # shift so the accumulator's spread maps onto roughly +-40 output steps
    acc_std = math.sqrt(max(1.0, k * density)) * 73.0 * 74.0
    n = int(np.clip(30 + round(math.log2(acc_std / 40.0)), 1, 62))
    mult = rng.integers(1 << 30, 1 << 31, c_out).astype(np.int32)
    return mult, np.full(c_out, n, dtype=np.int32)


def _weights(rng, c_out: int, k: int, density: float) -> np.ndarray:
    w = rng.integers(-127, 128, (c_out, k)).astype(np.int8)
    w[rng.random(w.shape) >= density] = 0
    return w


def sized_model(seed: int, weight_bytes: int = 100_000, hw: int = 8,
                classes: int = 10) -> QModel:
    """gray [1,1,hw,hw] -> conv3x3(16, dense) -> conv3x3(32, sparse) -> FC(hidden, dense) ->
    FC(classes, sparse); ``hidden`` chosen so the model holds about ``weight_bytes``."""
    rng = np.random.default_rng(seed)
    tensors: list[QTensor] = []
    nodes: list[QNode] = []

    def tensor(shape, scale, zp):
        tensors.append(QTensor(f"t{len(tensors)}", tuple(shape), float(np.float32(scale)), zp))
        return len(tensors) - 1

    def layer(op, x, y, k, c_out, density, enc, params):
        w = _weights(rng, c_out, k, density)
        mult, shift = _requant(rng, c_out, k, density)
        nodes.append(QNode(op, f"{op.lower()}{len(nodes)}", [x], [y], params, weights=w,
                           weight_encoding=enc,
                           bias=rng.integers(-2000, 2000, c_out).astype(np.int32),
                           multiplier=mult, shift=shift))

    x = tensor((1, 1, hw, hw), 1 / 255, -128)
    c1 = tensor((1, 16, hw, hw), 0.05, -128)
    layer("CONV", x, c1, 9, 16, 1.0, "dense", [3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, -128, 127])
    c2 = tensor((1, 32, hw, hw), 0.05, -128)
    layer("CONV", c1, c2, 144, 32, 0.4, "sparse_rel8",
          [3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, -128, 127])
    k = 32 * hw * hw
    flat = tensor((1, k), 0.05, -128)
    nodes.append(QNode("RESHAPE", "flatten", [c2], [flat], []))
    hidden = max(8, min(65535, weight_bytes // k))
    h = tensor((1, hidden), 0.1, 0)
    layer("FC", flat, h, k, hidden, 0.9, "dense", [-128, 127])
    y = tensor((1, classes), 0.1, 0)
    layer("FC", h, y, hidden, classes, 0.5, "sparse_rel8", [-128, 127])
    meta = {"input": {"name": "image", "layout": "NCHW", "shape": [1, 1, hw, hw],
                      "color": "gray", "resize": [hw, hw], "scale": 1 / 255,
                      "mean": [0.0], "std": [1.0]},
            "producer": "firmware_io.testing.sized_model", "seed": seed}
    model = QModel(tensors, nodes, [x], [y], labels=[f"class{i}" for i in range(classes)],
                   metadata=meta)
    check_model(model)
    return model


@contextmanager
def emulated_board(baud: int | None = None, faults: FaultConfig | None = None,
                   config: DeviceConfig | None = None, link: str | None = None,
                   executor_factory=None):
    """A device emulator on a fresh pty, in a thread; yields the Emulator (``.path``)."""
    emu = Emulator(PtyEndpoint(link), baud=baud, faults=faults, config=config,
                   executor_factory=executor_factory)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()
