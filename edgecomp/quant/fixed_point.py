"""Encoding real multipliers as fixed-point (M, n) pairs and scales (docs/format.md 5)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import QuantizationError

M_MIN, M_LIMIT = 1 << 30, 1 << 31


def encode_multiplier(m: float, what: str = "multiplier") -> tuple[int, int]:
    """m > 0 -> (M, n) with M in [2^30, 2^31), n in [1, 62], m ~= M * 2^-n."""
    if not math.isfinite(m) or m < 0:
        raise QuantizationError(f"{what}: real multiplier {m} is not a finite non-negative number")
    if m == 0:
        return 0, 1
    f, e = math.frexp(m)  # m = f * 2^e, f in [0.5, 1)
    big_m, n = round(f * M_LIMIT), 31 - e
    if big_m == M_LIMIT:
        big_m, n = M_MIN, n - 1
    if n > 62:
        return round(m * 2.0 ** 62), 62
    if n < 1:
        raise QuantizationError(f"{what}: real multiplier {m:.4g} is too large (>= 2^30); "
                                "the scales of this layer are inconsistent")
    return big_m, n


def encode_ratio(r: float, max_shift: int = 62, what: str = "ratio") -> tuple[int, int]:
    """(M, S) with M = round(r * 2^S) < 2^31 and S as large as allowed (for ADD, CONCAT, pools)."""
    if not math.isfinite(r) or r <= 0:
        raise QuantizationError(f"{what}: scale ratio {r} is not a positive finite number")
    s = 30 - math.ceil(math.log2(r))
    s = max(1, min(max_shift, s))
    m = round(r * 2.0 ** s)
    if m >= M_LIMIT:
        raise QuantizationError(f"{what}: scale ratio {r:.4g} is too large to encode")
    return m, s


def affine_params(lo: float, hi: float) -> tuple[float, int]:
    """Per-tensor asymmetric int8 scale and zero point covering [lo, hi] and exact zero."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-8:
        # an all-zero tensor (a dead ReLU layer): any scale represents it exactly; a tiny one
        # would blow up the next layer's integer bias (b / (sx * sw)), so take [0, 1]
        hi = lo + 1.0
    scale = (hi - lo) / 255.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return float(np.float32(scale)), zp


def pow2_scale(max_abs: float, qmax: int) -> float:
    """Smallest power of two s with max_abs / s <= qmax (dynamic fixed point)."""
    if max_abs <= 0:
        return 1.0
    return float(2.0 ** math.ceil(math.log2(max_abs / qmax)))


def dfp_params(lo: float, hi: float) -> tuple[float, int]:
    """Dynamic fixed point activation: power-of-two scale, zero point 0 (symmetric)."""
    return float(np.float32(pow2_scale(max(abs(lo), abs(hi), 1e-8), 127))), 0
