"""Seed 000's %W_Z and equation (1) on hand-computed layers, gaps over 255 included."""
import numpy as np
import pytest

from edgecomp.packed.model import QModel, QNode, QTensor
from edgecomp.packed.stats import layer_stats, model_totals


def fc_model(w: np.ndarray) -> QModel:
    c_out, k = w.shape
    node = QNode("FC", "fc", [0], [1], [-128, 127], weights=w.astype(np.int8),
                 bias=np.zeros(c_out, np.int32), multiplier=np.full(c_out, 1 << 30, np.int32),
                 shift=np.full(c_out, 31, np.int32))
    return QModel([QTensor("x", (1, k), 1.0, 0), QTensor("y", (1, c_out), 1.0, 0)],
                  [node], [0], [1])


def test_wz_and_equation_1_by_hand_with_padding_pairs():
    w = np.zeros((2, 600), np.int8)
    # row 0: positions 0, 300, 599. 0 -> 300 advances 300 > 256: one padding pair (value 0,
    # step 255) first; 300 -> 599 advances 299: one more. 3 values + 2 pads = 5 pairs.
    w[0, [0, 300, 599]] = [5, -7, 9]
    w[1, 10] = 3                      # row 1: one pair
    t = model_totals(layer_stats(fc_model(w)))
    assert (t["params"], t["nonzeros"], t["rel8_pairs"]) == (1200, 4, 6)
    assert t["wz_percent"] == pytest.approx(100 * 6 / 1200)            # 0.5 %
    # equation (1): CR = 100 / (%W_Z * (8 + 8) / 32) = 100 / (0.5 * 0.5) = 400
    assert t["cr_seed000"] == pytest.approx(400.0)
    assert t["sparsity"] == pytest.approx(1 - 4 / 1200)


def test_gap_of_exactly_256_needs_no_pad_and_257_needs_one():
    # one pair advances pos by step + 1 <= 256: from -1 to 255 needs no pad, to 256 needs one
    w = np.zeros((2, 300), np.int8)
    w[0, 255] = 1
    w[1, 256] = 1
    rows = layer_stats(fc_model(w))
    assert rows[0].rel8_pairs == 1 + 2
    t = model_totals(rows)
    assert t["wz_percent"] == pytest.approx(100 * 3 / 600)
    assert t["cr_seed000"] == pytest.approx(100 / (0.5 * 16 / 32))


def test_unpruned_layer_gives_cr_2_in_equation_1():
    # %W_Z = 100 (every weight stored as value + index, 16 bits against 32): CR = 2
    t = model_totals(layer_stats(fc_model(np.ones((3, 40), np.int8))))
    assert t["wz_percent"] == pytest.approx(100.0) and t["cr_seed000"] == pytest.approx(2.0)
