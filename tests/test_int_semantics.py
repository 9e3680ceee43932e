"""The integer semantics of docs/format.md section 5: rounding rules and fixed-point encoding."""
import math

import numpy as np
import pytest

from edgecomp.errors import QuantizationError
from edgecomp.exec_int import rdiv, rshift_round
from edgecomp.quant.fixed_point import affine_params, encode_multiplier, encode_ratio


@pytest.mark.parametrize("v,n,expected", [
    (5, 1, 3), (-5, 1, -2), (4, 1, 2), (-4, 1, -2), (3, 2, 1), (-3, 2, -1), (2, 2, 1),
    (-2, 2, 0), (-6, 2, -1), (6, 2, 2), (0, 62, 0), ((1 << 62) - 1, 62, 1)])
def test_rshift_round_halves_towards_plus_infinity(v, n, expected):
    assert int(rshift_round(v, n)) == expected
    assert int(rshift_round(v, n)) == math.floor(v / 2 ** n + 0.5)


@pytest.mark.parametrize("v,d,expected", [(5, 2, 3), (-5, 2, -2), (7, 3, 2), (-7, 3, -2),
                                          (-8, 16, 0), (8, 16, 1), (-9, 16, -1), (0, 7, 0)])
def test_rdiv_halves_towards_plus_infinity(v, d, expected):
    assert int(rdiv(v, d)) == expected
    assert int(rdiv(v, d)) == math.floor(v / d + 0.5)


def test_rounding_helpers_agree_with_exact_rationals_on_random_values():
    rng = np.random.default_rng(0)
    v = rng.integers(-(1 << 40), 1 << 40, 2000)
    n = rng.integers(1, 30, 2000)
    d = rng.integers(1, 1 << 20, 2000)
    for a, b, c in zip(v.tolist(), n.tolist(), d.tolist()):
        from fractions import Fraction
        assert int(rshift_round(a, b)) == math.floor(Fraction(a, 2 ** b) + Fraction(1, 2))
        assert int(rdiv(a, c)) == math.floor(Fraction(a, c) + Fraction(1, 2))


@pytest.mark.parametrize("m", [1e-12, 2.0 ** -40, 3.1e-5, 0.0123, 0.5, 0.75, 0.999999999, 1.0,
                               1.5, 1000.0])
def test_encode_multiplier_ranges_and_precision(m):
    big_m, n = encode_multiplier(m)
    assert 1 <= n <= 62 and 0 <= big_m < 2 ** 31
    if n < 62:
        assert 2 ** 30 <= big_m
        assert abs(big_m * 2.0 ** -n - m) <= m * 2 ** -30
    else:
        assert abs(big_m * 2.0 ** -62 - m) <= 2.0 ** -63


def test_encode_multiplier_power_of_two_is_a_shift():
    assert encode_multiplier(2.0 ** -7) == (1 << 30, 37)


def test_encode_multiplier_rejects_huge_and_negative():
    with pytest.raises(QuantizationError, match="too large"):
        encode_multiplier(2.0 ** 40)
    with pytest.raises(QuantizationError):
        encode_multiplier(-1.0)


def test_encode_ratio_keeps_multiplier_below_2_31():
    for r in (1e-6, 0.3, 1.0, 1.5, 7.9, 1000.0):
        m, s = encode_ratio(r)
        assert 0 < m < 2 ** 31 and 1 <= s <= 62
        assert abs(m / 2 ** s - r) <= r * 2 ** -29
    assert encode_ratio(1.0) == (1 << 30, 30)  # identity requantization is an exact copy


def test_affine_params_represent_zero_exactly():
    for lo, hi in ((-1.0, 3.0), (0.0, 6.0), (-5.0, -1.0), (2.0, 4.0), (0.0, 0.0)):
        scale, zp = affine_params(lo, hi)
        assert -128 <= zp <= 127 and scale > 0
        # both ends of the covered range are representable within one step
        assert (-128 - zp) * scale <= min(lo, 0) + scale
        assert (127 - zp) * scale >= max(hi, 0) - scale
