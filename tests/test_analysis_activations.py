"""Activation % and zero-skipping MAC counts: exact against brute force, by hand, and against
the C runtime's counters."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from edgecomp.analysis.activations import count_run, layer_summary, model_summary
from edgecomp.analysis.engine import check_counters, open_engine
from edgecomp.exec_int import run_int
from edgecomp.packed.model import QModel, QNode, QTensor
from edgecomp.testing.random_qmodels import random_qmodel


def brute_force(model, node, x, y):
    """Every MAC of the dense layer, enumerated with explicit windows (padding marked)."""
    xt, yt = model.tensors[node.inputs[0]], model.tensors[node.outputs[0]]
    k = node.weights.shape[1]
    out_nz = int((y != yt.zero_point).sum())
    if node.op == "FC":
        nz = x.reshape(-1) != xt.zero_point
        w = node.weights != 0
        return (w.size, w.size, int(w.sum()), w.shape[0] * int(nz.sum()),
                int((w & nz[None]).sum()), out_nz * k)
    kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, g = node.params[:11]
    _, c, h, wd = xt.shape
    _, co, ho, wo = yt.shape

    def windows(a):
        p = np.zeros((c, max(h + pt + pb, (ho - 1) * sh + dh * (kh - 1) + 1),
                      max(wd + pl + pr, (wo - 1) * sw + dw * (kw - 1) + 1)), np.int64)
        p[:, pt:pt + h, pl:pl + wd] = a
        v = sliding_window_view(p, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
        return v[:, :(ho - 1) * sh + 1:sh, :(wo - 1) * sw + 1:sw, ::dh, ::dw]

    nz = windows((x[0] != xt.zero_point).astype(np.int64))
    inside = windows(np.ones((c, h, wd), np.int64))
    cg, cog = c // g, co // g
    wm = (node.weights != 0).reshape(co, cg, kh, kw)
    both = nzw = nzx = inb = 0
    for o in range(co):
        sl = slice(o // cog * cg, (o // cog + 1) * cg)
        m = wm[o][:, None, None]
        both += int((nz[sl] * m).sum())
        nzw += int((inside[sl] * m).sum())
        nzx += int(nz[sl].sum())
        inb += int(inside[sl].sum())
    return co * ho * wo * k, inb, nzw, nzx, both, out_nz * k


@pytest.mark.parametrize("seed", range(40))
def test_counts_equal_brute_force_on_random_models(seed):
    # random_qmodels covers strides, dilations, asymmetric padding, groups, depthwise, FC
    model = random_qmodel(seed)
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, model.input.shape).astype(np.int8)
    x[rng.random(x.shape) < 0.5] = model.input.zero_point
    values = run_int(model, x, keep_all=True)
    for node, c in zip(model.nodes, count_run(model, values)):
        if node.op in ("CONV", "FC"):
            got = (c.dense, c.in_bounds, c.nonzero_w, c.nonzero_x, c.both_nonzero,
                   c.result_nonzero)
            assert got == brute_force(model, node, values[node.inputs[0]],
                                      values[node.outputs[0]]), node.name


def tiny_conv():
    """1 input channel 3x3, one 2x2 kernel [[1, 0], [0, 2]], stride 1, no padding, ReLU."""
    x_t = QTensor("x", (1, 1, 3, 3), 1.0, 0)
    y_t = QTensor("y", (1, 1, 2, 2), 1.0, 0)
    node = QNode("CONV", "conv", [0], [1], [2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 127],
                 weights=np.array([[1, 0, 0, 2]], np.int8), bias=np.zeros(1, np.int32),
                 multiplier=np.array([1 << 30], np.int32), shift=np.array([30], np.int32))
    return QModel([x_t, y_t], [node], [0], [1])


def test_activation_percent_by_hand():
    model = tiny_conv()
    x = np.array([[[[1, 0, 0], [0, 0, 3], [0, 0, 0]]]], np.int8)
    values = run_int(model, x, keep_all=True)
    # y = x[i][j] + 2 x[i+1][j+1]: [[1, 6], [0, 0]] -> 2 non-zero outputs
    assert values[1].reshape(-1).tolist() == [1, 6, 0, 0]
    c = count_run(model, values)[0]
    # 4 outputs x 4 taps = 16 dense MACs, no padding; weights non-zero at 2 taps -> 8 MACs;
    # both non-zero: output (0,0) tap w=1 x=1, output (0,1) tap w=2 x[1][2]=3 -> 2 MACs
    assert (c.dense, c.in_bounds, c.nonzero_w, c.both_nonzero) == (16, 16, 8, 2)
    assert c.result_nonzero == 2 * 4 and (c.in_nonzero, c.out_nonzero) == (2, 2)
    row = layer_summary(model.nodes[0], c)
    assert row["act_operand_pct"] == pytest.approx(12.5)
    assert row["act_result_pct"] == pytest.approx(50.0)
    assert row["saved_zero_weight_macs"] == 8 and row["saved_zero_activation_macs"] == 6
    assert model_summary(model, [c])["saved_by_zero_skipping_pct"] == pytest.approx(87.5)


def test_padding_macs_are_not_executed():
    model = tiny_conv()
    node = model.nodes[0]
    node.params[4:8] = [1, 1, 1, 1]           # pad 1 on every side: output 4x4
    model.tensors[1] = QTensor("y", (1, 1, 4, 4), 1.0, 0)
    x = np.ones((1, 1, 3, 3), np.int8)
    c = count_run(model, run_int(model, x, keep_all=True))[0]
    # each tap sees 9 in-bounds positions of the 16: 4 taps x 9 = 36; non-zero taps: 2 x 9
    assert (c.dense, c.in_bounds, c.nonzero_w, c.both_nonzero) == (64, 36, 18, 18)


def test_counter_check_flags_disagreements():
    model = tiny_conv()
    x = np.array([[[[1, 0, 0], [0, 0, 3], [0, 0, 0]]]], np.int8)
    counts = count_run(model, run_int(model, x, keep_all=True))
    good = check_counters(model, counts, [{"dense_macs": 16, "executed_macs": 8}])
    assert good[0]["problems"] == [] and good[0]["executed_matches"] == "non-zero weights"
    # a kernel skipping zero weights, then zero activations: 8 + 6 skipped, 2 executed
    both = check_counters(model, counts, [{"dense_macs": 16, "executed_macs": 2,
                                           "skipped_zero_weight_macs": 8,
                                           "skipped_zero_activation_macs": 6}])
    assert both[0]["problems"] == [] and both[0]["executed_matches"] == "both non-zero"
    bad = check_counters(model, counts, [{"dense_macs": 15, "executed_macs": 1,
                                          "skipped_zero_weight_macs": 9,
                                          "skipped_zero_activation_macs": 5}])
    text = " ".join(bad[0]["problems"])
    assert "dense_macs 15 != 16" in text and "outside [2, 16]" in text
    assert "skipped zero-weight MACs 9 outside [0, 8]" in text
    assert "is neither the in-bounds 16 nor the dense 16 MACs" in text


def test_runtime_counters_agree_with_exact_counts(tmp_path):
    pytest.importorskip("edgecomp._edgert", reason="C runtime extension not built")
    from edgecomp.packed.writer import save_ecm

    model = random_qmodel(3)
    path = tmp_path / "m.ecm"
    save_ecm(model, path)
    engine, note = open_engine(model, path, "runtime")
    assert engine.name == "runtime", note
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.integers(-128, 128, model.input.shape).astype(np.int8)
        values = engine.run_all(x)
        ref = run_int(model, x, keep_all=True)
        assert all(np.array_equal(values[t], ref[t]) for t in ref)
        rows = check_counters(model, count_run(model, values), engine.counters())
        assert rows and all(r["problems"] == [] for r in rows), rows
