"""Least-squares reconstruction after pruning: the algebra on small layers, and what it buys on
the bundled digits model."""
import numpy as np
import pytest

from edgecomp.compress import CompressOptions, compress, import_model
from edgecomp.datasets import bundled_digits, load_labeled_folder, read_labels
from edgecomp.evaluate import float_outputs, int_reference_outputs, scores
from edgecomp.exec_float import KERNELS
from edgecomp.ir import Graph, Node, TensorInfo
from edgecomp.passes.fuse import fuse_activations
from edgecomp.passes.prune import prune_graph, uniform_plan
from edgecomp.passes.reconstruct import NormalEquations, columns, reconstruct

RNG = np.random.default_rng(0)


def conv_node(group=2, strides=(2, 1), dilations=(1, 2), pads=(1, 0, 2, 1)):
    return Node("Conv", "c", ["x"], ["y"], {"weight": "w", "bias": "b", "group": group,
                                            "strides": strides, "dilations": dilations,
                                            "pads": pads})


def conv_graph(x_shape=(1, 4, 7, 6), co=6, k=3, group=2, activation=None):
    node = conv_node(group)
    node.attrs["activation"] = activation
    w = RNG.normal(size=(co, x_shape[1] // group, k, k)).astype(np.float32)
    ho = (x_shape[2] + 1 + 2 - (k - 1) - 1) // 2 + 1
    wo = (x_shape[3] + 0 + 1 - 2 * (k - 1) - 1) // 1 + 1
    g = Graph("t", ["x"], ["y"], {"x": TensorInfo("x", x_shape),
                                  "y": TensorInfo("y", (1, co, ho, wo))}, [node],
              {"w": w, "b": RNG.normal(size=co).astype(np.float32)})
    g.validate()
    return g


def test_columns_match_the_float_conv():
    g = conv_graph()
    node = g.nodes[0]
    x = RNG.normal(size=(3, 4, 7, 6)).astype(np.float32)
    w = g.constants["w"]
    cols = columns(node, w.shape, x)                              # [group, K, P]
    wg = w.reshape(2, 3, -1)
    y = (wg @ cols).reshape(2, 3, 3, -1).transpose(2, 0, 1, 3)   # [N, group, Co/g, HoWo]
    ref = KERNELS["Conv"](g, node, [x], (3,) + g.shape("y")[1:]) - g.constants["b"][:, None,
                                                                                     None]
    np.testing.assert_allclose(y.reshape(ref.shape), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["Gemm", "Conv"])
def test_solve_is_per_channel_least_squares_over_kept_weights(op):
    if op == "Gemm":
        node = Node("Gemm", "f", ["x"], ["y"], {"weight": "w", "bias": "b"})
        w = RNG.normal(size=(5, 12)).astype(np.float32)
        x = RNG.normal(size=(40, 12)).astype(np.float32)
        groups = 1
    else:
        g = conv_graph()
        node, w = g.nodes[0], g.constants["w"]
        x = RNG.normal(size=(4, 4, 7, 6)).astype(np.float32)
        groups = 2
    shape4 = w.shape if w.ndim == 4 else w.shape + (1, 1)
    keep = RNG.random(w.shape) < 0.5
    keep.reshape(w.shape[0], -1)[0] = False                      # a channel with nothing kept
    cols = columns(node, shape4, x)
    co_g = w.shape[0] // groups
    y_t = RNG.normal(size=(groups, co_g, cols.shape[2]))          # arbitrary targets
    y = y_t.reshape(groups * co_g, -1)
    if op == "Gemm":
        y_full = y.T
    else:
        n = len(x)
        y_full = y.reshape(groups, co_g, n, -1).transpose(2, 0, 1, 3).reshape(n, w.shape[0], -1)
    eq = NormalEquations(node, shape4)
    eq.add(x, y_full)
    w_new, b_new = eq.solve(w, None, keep, ridge=0.0)
    k2 = keep.reshape(w.shape[0], -1)
    for o in range(w.shape[0]):
        gi = o // co_g
        a = np.concatenate([cols[gi][k2[o]], np.ones((1, cols.shape[2]))]).T
        sol = np.linalg.lstsq(a, y[o], rcond=None)[0]
        np.testing.assert_allclose(w_new.reshape(w.shape[0], -1)[o][k2[o]], sol[:-1],
                                   rtol=1e-4, atol=1e-4)
        assert b_new[o] == pytest.approx(sol[-1], abs=1e-4)
    assert np.all(w_new[~keep] == 0)
    assert b_new[0] == pytest.approx(y[0].mean(), abs=1e-5)     # no weight left: the mean
    # the error computed from the statistics is the directly computed one
    pred = np.stack([w_new.reshape(w.shape[0], -1)[o] @ cols[o // co_g] + b_new[o]
                     for o in range(w.shape[0])])
    direct = np.linalg.norm(pred - y) / np.linalg.norm(y)
    assert eq.error(w_new.reshape(w.shape[0], -1).astype(np.float64),
                    b_new.astype(np.float64)) == pytest.approx(direct, rel=1e-5)


def test_refit_gives_a_bias_to_a_layer_without_one_and_keeps_zeros():
    ref = conv_graph(activation="relu")
    ref.nodes[0].attrs["bias"] = None
    del ref.constants["b"]
    pruned = ref.copy()
    prune_graph(pruned, uniform_plan(pruned, "fine", 0.6))
    zeros = pruned.constants["w"] == 0
    x = RNG.normal(size=(30, 4, 7, 6)).astype(np.float32)
    fits = reconstruct(ref, pruned, x, show_progress=False)
    assert fits["c"].error_after < fits["c"].error_before
    assert pruned.nodes[0].attrs["bias"] in pruned.constants
    assert np.all((pruned.constants["w"] == 0) == zeros)
    assert ref.nodes[0].attrs["bias"] is None                    # reference untouched


@pytest.fixture(scope="module")
def digits():
    b = bundled_digits()
    graph = fuse_activations(import_model(b.onnx))
    x, y, _ = load_labeled_folder(b.test_dir, read_labels(b.labels), b.preprocess)
    calib, _, _ = load_labeled_folder(b.calib_dir, None, b.preprocess)
    return b, graph, x, y, calib


def rel_error(ref, out):
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


def test_reconstruction_rescues_sixty_percent_fine_pruning(digits):
    _, graph, x, y, calib = digits
    base = float_outputs(graph, x)
    pruned = graph.copy()
    prune_graph(pruned, uniform_plan(pruned, "fine", 0.6))
    plain = float_outputs(pruned, x)
    fits = reconstruct(graph, pruned, calib, show_progress=False)
    rebuilt = float_outputs(pruned, x)
    # measured: top-1 22.2% -> 97.8% (float 99.72%, 500 calibration images)
    assert rel_error(base, rebuilt) < 0.25 * rel_error(base, plain)
    assert scores(plain, y).top1 < 0.5
    assert scores(rebuilt, y).top1 >= 0.97
    assert all(f.error_after < f.error_before for f in fits.values())
    # the zero pattern is what pruning made: reconstruction never revives a weight
    for n in graph.nodes:
        if n.op in ("Conv", "Gemm"):
            assert (pruned.constants[n.attrs["weight"]] == 0).mean() == pytest.approx(0.6,
                                                                                      abs=0.01)


def test_reconstructed_model_quantizes_to_int8(digits):
    b, _, x, y, _ = digits
    opts = CompressOptions(calib_dir=b.calib_dir, prune=0.5, reconstruct=True,
                           preprocess=b.preprocess, show_progress=False)
    result = compress(b.onnx, opts)
    q = scores(int_reference_outputs(result.qmodel, x[:120]).astype(np.float32), y[:120])
    assert q.top1 >= 0.95
    assert result.qmodel.metadata["pruning"]["reconstruct"] is True
