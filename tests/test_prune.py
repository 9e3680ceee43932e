"""Pruning granularities and threshold rules: exact zero patterns, achieved sparsity, rules."""
import numpy as np
import pytest

from edgecomp.errors import EdgecompError
from edgecomp.ir import Graph, Node, TensorInfo
from edgecomp.passes.prune import (Granularity, LayerPrune, Rule, prune_graph, prune_magnitude,
                                   prune_weight, uniform_plan)


def weight(shape, seed=0):
    w = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    assert np.all(w != 0)  # so a zero in the result is always a pruned weight
    return w


def prune(w, gran, rule=None, norm="l2"):
    spec = LayerPrune(Granularity.parse(gran), Rule.parse(rule) if rule is not None else None)
    return prune_weight(w, spec, norm, "node 'test'")


def group_rows(w, gran):
    """Each row of the result is one group of ``gran`` (written out independently of prune.py)."""
    co, cg, kh, kw = w.shape
    return {"vector": w.reshape(co * cg * kh, kw), "kernel": w.reshape(co * cg, kh * kw),
            "filter": w.reshape(co, cg * kh * kw)}[gran]


@pytest.mark.parametrize("gran", ["vector", "kernel", "filter"])
@pytest.mark.parametrize("target", [0.25, 0.5, 0.8])
def test_coarse_groups_are_all_zero_or_all_kept_and_least_salient(gran, target):
    w = weight((8, 6, 3, 3))
    out, keep, res = prune(w, gran, target)
    zero = group_rows(out, gran) == 0
    assert np.all(zero.all(axis=1) | ~zero.any(axis=1)), "a group is partly pruned"
    dropped = zero.all(axis=1)
    rms = np.sqrt((group_rows(w, gran) ** 2).mean(axis=1))
    assert rms[dropped].max() <= rms[~dropped].min()  # pruned groups are the weakest
    n = len(rms)
    assert dropped.sum() == round(target * n) == res.pruned_groups
    assert abs(res.sparsity - target) <= 0.5 / n + 1e-9
    np.testing.assert_array_equal(out[keep], w[keep])  # survivors untouched
    assert res.threshold == pytest.approx(rms[dropped].max())


@pytest.mark.parametrize("target", [0.3, 0.9])
def test_block_groups_are_four_input_channels_at_one_tap(target):
    """block: w[o, 4j:4j+4, y, x] together (the operand of one vpdpbusd in the q4 layout); a
    trailing run of fewer channels is its own block."""
    w = weight((6, 10, 3, 3), seed=3)                 # runs of input channels: 4, 4, 2
    out, _, res = prune(w, "block", target)
    runs = [(0, 4), (4, 8), (8, 10)]
    assert res.groups == 6 * 3 * 3 * len(runs)
    dropped, rms = [], []
    for o in range(6):
        for y in range(3):
            for x in range(3):
                for a, b in runs:
                    g = out[o, a:b, y, x]
                    assert np.all(g == 0) or np.all(g != 0), "a block is partly pruned"
                    dropped.append(bool(np.all(g == 0)))
                    rms.append(float(np.sqrt((w[o, a:b, y, x] ** 2).mean())))
    dropped, rms = np.array(dropped), np.array(rms)
    assert dropped.sum() == round(target * res.groups) == res.pruned_groups
    assert rms[dropped].max() <= rms[~dropped].min()


@pytest.mark.parametrize("target", [0.3, 0.9])
def test_block8x4_groups_are_eight_outputs_by_four_inputs_at_one_tap(target):
    """block8x4: w[8i:8i+8, 4j:4j+4, y, x] together (the q4 dense kernel's weight block);
    trailing runs of fewer output or input channels are blocks of their own."""
    w = weight((12, 10, 3, 3), seed=4)                # outputs 8 + 4, inputs 4 + 4 + 2
    out, _, res = prune(w, "block8x4", target)
    orun, irun = [(0, 8), (8, 12)], [(0, 4), (4, 8), (8, 10)]
    assert res.groups == len(orun) * len(irun) * 9
    dropped, rms = [], []
    for a, b in orun:
        for c, d in irun:
            for y in range(3):
                for x in range(3):
                    g = out[a:b, c:d, y, x]
                    assert np.all(g == 0) or np.all(g != 0), "a block is partly pruned"
                    dropped.append(bool(np.all(g == 0)))
                    rms.append(float(np.sqrt((w[a:b, c:d, y, x] ** 2).mean())))
    dropped, rms = np.array(dropped), np.array(rms)
    assert dropped.sum() == round(target * res.groups) == res.pruned_groups
    assert rms[dropped].max() <= rms[~dropped].min()


@pytest.mark.parametrize("target", [0.1, 0.37, 0.5, 0.9])
def test_fine_prunes_exactly_the_smallest_weights(target):
    w = weight((16, 8, 3, 3), seed=1)
    out, _, res = prune(w, "fine", target)
    k = round(target * w.size)
    assert (out == 0).sum() == k
    assert np.abs(w[out == 0]).max() < np.abs(w[out != 0]).min()
    assert res.sparsity == pytest.approx(k / w.size)


def test_gemm_weights_prune_like_a_1x1_conv():
    w = weight((10, 48), seed=2)
    out, _, res = prune(w, "filter", 0.3)
    assert out.shape == w.shape and res.groups == 10
    assert sorted((out == 0).all(axis=1).nonzero()[0]) == \
        sorted(np.argsort(np.sqrt((w ** 2).mean(axis=1)))[:3])
    # vector and kernel groups of a [Co, K] weight are single weights
    for gran in ("vector", "kernel"):
        assert prune(w, gran, 0.5)[2].groups == w.size


@pytest.mark.parametrize("cg", [8, 6, 7])
def test_n_m_keeps_the_n_largest_of_every_m_input_channels(cg):
    w = weight((4, cg, 3, 3), seed=3)
    out, _, res = prune(w, "2:4")
    runs = [(c, min(c + 4, cg)) for c in range(0, cg, 4)]
    for o in range(4):
        for y in range(3):
            for x in range(3):
                for a, b in runs:
                    seg_w, seg_o = w[o, a:b, y, x], out[o, a:b, y, x]
                    kept = np.flatnonzero(seg_o)
                    assert len(kept) == min(2, b - a)
                    assert set(kept) == set(np.argsort(-np.abs(seg_w))[:min(2, b - a)])
    full = sum(1 for a, b in runs if b - a == 4)
    tail = [b - a for a, b in runs if b - a < 4]
    pruned = 4 * 9 * (2 * full + sum(max(0, t - 2) for t in tail))
    assert (out == 0).sum() == pruned and res.granularity == "2:4"


def test_n_m_runs_along_k_for_gemm_and_leaves_narrow_layers_dense():
    w = weight((5, 16), seed=4)
    out, _, _ = prune(w, "1:4")
    assert np.all((out.reshape(5, 4, 4) != 0).sum(axis=2) == 1)
    dw = weight((16, 1, 3, 3), seed=5)  # depthwise: one input channel per run
    out, _, res = prune(dw, "2:4")
    assert np.array_equal(out, dw) and res.sparsity == 0


def test_std_rule_threshold_is_std_times_ratio():
    w = weight((8, 8, 3, 3), seed=6)
    out, _, res = prune(w, "fine", "std:0.8")
    t = 0.8 * float(np.std(w))
    assert res.threshold == pytest.approx(t)
    np.testing.assert_array_equal(out == 0, np.abs(w) < t)
    # normal weights: |w| < 0.8 sigma is about 58% of them
    assert 0.5 < res.sparsity < 0.66
    # kernel groups: pruned iff the kernel's RMS is below the same threshold
    out, _, res = prune(w, "kernel", "std:0.8")
    rms = np.sqrt((w.reshape(64, 9) ** 2).mean(axis=1))
    np.testing.assert_array_equal((out.reshape(64, 9) == 0).all(axis=1), rms < t)


def test_absolute_threshold_and_never_killing_a_layer():
    w = weight((8, 4, 3, 3), seed=7)
    out, _, _ = prune(w, "fine", "abs:0.5")
    np.testing.assert_array_equal(out == 0, np.abs(w) < 0.5)
    out, _, res = prune(w, "filter", "abs:1e9")
    assert res.pruned_groups == 7 and np.any(out != 0)
    out, _, res = prune(w, "filter", 0.99)
    assert res.pruned_groups == 7


def test_l1_and_l2_rank_groups_differently():
    w = np.zeros((1, 2, 2, 2), np.float32)
    w[0, 0] = [[1.0, 1e-3], [1e-3, 1e-3]]   # one big weight: RMS 0.5, mean |w| ~0.25
    w[0, 1] = 0.4                           # even weights:   RMS 0.4, mean |w|  0.4
    l2 = prune(w, "kernel", 0.5, "l2")[0]
    l1 = prune(w, "kernel", 0.5, "l1")[0]
    assert np.all(l2[0, 1] == 0) and np.all(l2[0, 0] != 0)
    assert np.all(l1[0, 0] == 0) and np.all(l1[0, 1] != 0)


def tiny_graph():
    g = Graph("t", ["x"], ["y"], {"x": TensorInfo("x", (1, 4, 5, 5)),
                                  "h": TensorInfo("h", (1, 6, 5, 5)),
                                  "y": TensorInfo("y", (1, 6, 5, 5))},
              [Node("Conv", "c1", ["x"], ["h"], {"weight": "w1", "bias": None,
                                                 "pads": (1, 1, 1, 1)}),
               Node("Conv", "c2", ["h"], ["y"], {"weight": "w2", "bias": None})],
              {"w1": weight((6, 4, 3, 3), 8), "w2": weight((6, 6, 1, 1), 9)})
    g.validate()
    return g


def test_prune_graph_plans_and_errors():
    g = tiny_graph()
    res = prune_graph(g, uniform_plan(g, "kernel", {"c1": 0.5}))
    assert list(res) == ["c1"] and res["c1"].pruned_groups == 12
    assert np.all(g.constants["w2"] != 0)
    with pytest.raises(EdgecompError, match="'nope'.*prunable layers: c1, c2"):
        prune_graph(g, uniform_plan(g, "fine", {"nope": 0.5}))
    assert prune_magnitude(tiny_graph(), 0.5) == {"c1": 0.5, "c2": 0.5}


@pytest.mark.parametrize("text, message", [
    ("blocks", "unknown pruning granularity 'blocks'"),
    ("4:2", "N:M with 0 < N < M"),
    ("0:4", "N:M with 0 < N < M"),
])
def test_bad_granularity(text, message):
    with pytest.raises(EdgecompError, match=message):
        Granularity.parse(text)


@pytest.mark.parametrize("text, message", [
    ("foo:1", "bad pruning rule"), ("std:x", "bad pruning rule"), ("1.0", r"\[0, 1\)"),
    ("std:-1", "must be finite and >= 0"), ("abs:nan", "must be finite"),
])
def test_bad_rule(text, message):
    with pytest.raises(EdgecompError, match=message):
        Rule.parse(text)


def test_rule_text_round_trips():
    for text in ("0.8", "std:1.2", "abs:0.05"):
        assert str(Rule.parse(text)) == text
    assert str(Granularity.parse("2:4")) == "2:4"
    assert Rule.parse("magnitude:0.1").kind == "threshold"
