"""Sensitivity analysis on the bundled digits model (its calib and test folders): the per-layer
choice meets the whole-model budget, in metric drop or in weight bytes."""
import numpy as np
import pytest

from edgecomp.compress import CompressOptions, compress, import_model
from edgecomp.datasets import bundled_digits, load_labeled_folder, read_labels
from edgecomp.errors import EdgecompError
from edgecomp.evaluate import float_outputs, int_reference_outputs, scores
from edgecomp.packed.stats import layer_stats
from edgecomp.passes.fuse import fuse_activations
from edgecomp.passes.prune import Granularity
from edgecomp.passes.sensitivity import Evaluator, Setup, sensitivity_sweep

SWEEP = (0.3, 0.5, 0.7, 0.9)


@pytest.fixture(scope="module")
def digits():
    b = bundled_digits()
    labels = read_labels(b.labels)
    x, y, _ = load_labeled_folder(b.test_dir, labels, b.preprocess)
    graph = fuse_activations(import_model(b.onnx))
    return b, labels, x, y, graph


def run(b, labels, **kw):
    opts = CompressOptions(calib_dir=b.calib_dir, val_dir=b.test_dir, labels=labels,
                           preprocess=b.preprocess, sweep=SWEEP, show_progress=False, **kw)
    return compress(b.onnx, opts)


def overall_sparsity(result):
    ws = [result.float_graph.constants[n.attrs["weight"]] for n in result.float_graph.nodes
          if n.op in ("Conv", "Gemm")]
    return sum((w == 0).sum() for w in ws) / sum(w.size for w in ws)


@pytest.mark.parametrize("reconstruct, min_sparsity", [(False, 0.1), (True, 0.55)])
def test_max_drop_budget_holds_for_the_whole_model(digits, reconstruct, min_sparsity):
    b, labels, x, y, graph = digits
    result = run(b, labels, sensitivity=True, max_drop=0.01, reconstruct=reconstruct)
    base = scores(float_outputs(graph, x), y).top1
    # the budget holds for the model as written (int8, integer reference), not only for the
    # pruned float graph: checked here, not trusted
    got = scores(int_reference_outputs(result.qmodel, x).astype(np.float32), y).top1
    a = result.pruning.recipe.analysis
    assert base - got + a["verified_drop_se"] <= 0.01 + 1e-9
    assert a["verified_metric"] == pytest.approx(got, abs=1e-6) and a["metric"] == "top1"
    assert overall_sparsity(result) >= min_sparsity
    if not reconstruct:
        # Each layer's own choice was within budget, yet together they were not: drops
        # compound, and the search had to back off (the first verification failed).
        first = a["search"][0]
        assert first.startswith("verify") and float(first.split("drop ")[1].split()[0]) > 0.01
        assert any(s.startswith("back off") for s in a["search"])


def test_target_size_budget(digits):
    b, labels, *_ = digits
    result = run(b, labels, target_size=30000, reconstruct=True)
    a = result.pruning.recipe.analysis
    assert a["weight_bytes"] <= 30000 < a["dense_weight_bytes"]
    # the packed int8 model is no bigger than the estimate: quantization only adds zeros
    packed = sum(r.weight_bytes for r in layer_stats(result.qmodel))
    assert packed <= a["weight_bytes"]
    with pytest.raises(EdgecompError, match="drops top1 by"):
        run(b, labels, target_size=23000, max_drop=0.0)
    with pytest.raises(EdgecompError, match="out of reach"):
        run(b, labels, target_size=10)


def test_unlabeled_validation_uses_agreement_and_std_sweep(digits):
    b, labels, x, _, graph = digits
    result = compress(b.onnx, CompressOptions(
        calib_dir=b.calib_dir, preprocess=b.preprocess, val_data=(x[:200], None),
        sensitivity="std", sweep=(0.5, 1.0, 1.5), max_drop=0.02, show_progress=False))
    a = result.pruning.recipe.analysis
    assert a["metric"] == "agreement" and a["baseline"] == 1.0
    ref = float_outputs(graph, x[:200]).argmax(axis=1)
    agree = (float_outputs(result.float_graph, x[:200]).argmax(axis=1) == ref).mean()
    assert agree >= 0.98
    assert all(s.rule.kind == "std" for s in result.pruning.recipe.layers.values())


def test_sweep_leaves_the_graph_as_it_was_and_curves_are_monotone_in_sparsity(digits):
    b, _, x, y, graph = digits
    calib, _, _ = load_labeled_folder(b.calib_dir, None, b.preprocess)
    before = {k: v.copy() for k, v in graph.constants.items()}
    attrs = [dict(n.attrs) for n in graph.nodes]
    setup = Setup(graph, Evaluator(graph, x[:120], y[:120]), Granularity.parse("kernel"),
                  values=SWEEP, calib=calib, show_progress=False)
    curves = sensitivity_sweep(setup)
    assert set(before) == set(graph.constants) and attrs == [dict(n.attrs) for n in graph.nodes]
    assert all(np.array_equal(before[k], graph.constants[k]) for k in before)
    assert set(curves) == {"stem_conv", "res_a_conv", "res_b_conv", "branch_1x1_conv",
                           "branch_dw_conv", "grouped_conv", "fc_hidden", "fc"}
    for c in curves.values():
        s = [p.sparsity for p in c.points]
        assert s == sorted(s) and len(set(s)) == len(s) and 0 < s[0]
        assert all(p.drop == pytest.approx(setup.evaluator.baseline - p.metric) for p in c.points)
    # a layer pruned 90% alone hurts more than 30% of it
    fc = curves["res_a_conv"].points
    assert fc[-1].snr_db < fc[0].snr_db
