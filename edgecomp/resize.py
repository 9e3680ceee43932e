"""Resize geometry shared by the importers, the float executor and the quantizer.

For one spatial axis, ``taps`` maps every output index to its source: two input indices and the
weight of the second (``frac``); nearest mode uses only the first index. Coordinate transforms
and nearest rounding follow ONNX Resize (TFLite's flags map onto them, see
``edgecomp.importers.tflite_ops``); linear source coordinates are clamped to the input, as
onnxruntime and TFLite do.
"""
from __future__ import annotations

import numpy as np

from .errors import UnsupportedOpError

COORDS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
          "tf_half_pixel_for_nn")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def source_coords(n_in: int, n_out: int, coord: str, scale: float | None = None) -> np.ndarray:
    """Real-valued input coordinate of each output index (``scale`` = out/in by default)."""
    x = np.arange(n_out, dtype=np.float64)
    s = float(scale) if scale else n_out / n_in
    if coord == "half_pixel":
        return (x + 0.5) / s - 0.5
    if coord == "pytorch_half_pixel":
        return (x + 0.5) / s - 0.5 if n_out > 1 else np.zeros(n_out)
    if coord == "align_corners":
        return x * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
    if coord == "asymmetric":
        return x / s
    if coord == "tf_half_pixel_for_nn":
        return (x + 0.5) / s
    raise UnsupportedOpError(f"coordinate transformation {coord!r} is not supported "
                             f"(supported: {', '.join(COORDS)})")


def taps(n_in: int, n_out: int, mode: str, coord: str, nearest_mode: str = "round_prefer_floor",
         scale: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, frac) per output index; nearest: i1 = i0 and frac = 0."""
    src = source_coords(n_in, n_out, coord, scale)
    if mode == "nearest":
        if nearest_mode == "round_prefer_floor":
            i = np.ceil(src - 0.5)
        elif nearest_mode == "round_prefer_ceil":
            i = np.floor(src + 0.5)
        elif nearest_mode == "floor":
            i = np.floor(src)
        elif nearest_mode == "ceil":
            i = np.ceil(src)
        else:
            raise UnsupportedOpError(f"nearest_mode {nearest_mode!r} is not supported "
                                     f"(supported: {', '.join(NEAREST_MODES)})")
        i = np.clip(i, 0, n_in - 1).astype(np.int64)
        return i, i, np.zeros(n_out)
    if mode != "linear":
        raise UnsupportedOpError(f"resize mode {mode!r} is not supported (nearest, linear)")
    src = np.clip(src, 0, n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def resize_float(x: np.ndarray, out_hw: tuple[int, int], attrs: dict) -> np.ndarray:
    """[N, C, H, W] float -> [N, C, Ho, Wo] per the node's attrs."""
    mode = attrs.get("mode", "nearest")
    coord = attrs.get("coord", "half_pixel")
    nm = attrs.get("nearest_mode", "round_prefer_floor")
    scales = attrs.get("scales") or (None, None)
    ry = taps(x.shape[2], out_hw[0], mode, coord, nm, scales[0])
    rx = taps(x.shape[3], out_hw[1], mode, coord, nm, scales[1])
    if mode == "nearest":
        return x[:, :, ry[0]][:, :, :, rx[0]]
    wy = np.stack([1 - ry[2], ry[2]]).astype(np.float32)
    wx = np.stack([1 - rx[2], rx[2]]).astype(np.float32)
    y = np.zeros(x.shape[:2] + tuple(out_hw), np.float32)
    for a in range(2):
        rows = x[:, :, ry[a]]
        for b in range(2):
            y += rows[:, :, :, rx[b]] * (wy[a][:, None] * wx[b][None, :])
    return y
