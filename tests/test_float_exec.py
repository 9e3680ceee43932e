"""Float reference executor (and activation fusion) against onnxruntime.

Tolerance: ``max|ours - ort| <= 1e-4 * max(1, max|ort|)`` over the whole output tensor.
Both sides compute in float32 but sum in different orders (im2col + BLAS here, ORT's own
kernels there), so each output carries a rounding error of roughly sqrt(K) * 2^-24 times the
magnitude of its terms (K <= a few hundred here). That error scales with the magnitude of the
tensor, not of each element: an element that cancels to ~0 has the same absolute error as its
neighbours, so a per-element relative test would be meaningless there. Scaling by the tensor's
largest magnitude (floored at 1 for tensors of small values, e.g. softmax probabilities)
measures the error relative to what the computation handled; 1e-4 leaves ~100x headroom over
the observed ~1e-6 while any real bug (an off-by-one pad, a wrong count, a missed bias) shows
up as an error of order 1e-2..1.
"""
from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort
import pytest

from edgecomp.errors import GraphError, ShapeError
from edgecomp.exec_float import apply_activation, run_float
from edgecomp.importers import import_onnx
from edgecomp.passes.fuse import fuse_activations
from edgecomp.testing.random_graphs import (BLOCK_KINDS, SUPPORTED_ONNX_OPS, _Net,
                                            op_case_models, random_onnx_model, sample_input)

CASES = {c.name: c for c in op_case_models()}
RANDOM_SEEDS = range(24)


def ort_run(model, x):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # ceil_mode cases make ORT warn about ONNX's inferred shapes
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def assert_close(ours, ref, what):
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != onnxruntime {ref.shape}"
    err = float(np.abs(ours.astype(np.float64) - ref).max())
    bound = 1e-4 * max(1.0, float(np.abs(ref).max()))
    assert err <= bound, f"{what}: max abs error {err:.3g} > {bound:.3g}"


def check_against_ort(model, what, seed=0):
    x = sample_input(model, seed)
    ref = ort_run(model, x)
    graph = import_onnx(model)
    assert_close(run_float(graph, x)[graph.outputs[0]], ref, what)
    fused = fuse_activations(graph)
    assert_close(run_float(fused, x)[fused.outputs[0]], ref, f"{what} (fused)")
    return graph, fused


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_case_matches_onnxruntime(name):
    check_against_ort(CASES[name].model, name)


def test_op_cases_cover_every_supported_op():
    covered = {op for c in CASES.values() for op in c.ops}
    assert covered >= set(SUPPORTED_ONNX_OPS), set(SUPPORTED_ONNX_OPS) - covered


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_graph_matches_onnxruntime(seed):
    check_against_ort(random_onnx_model(seed), f"random seed {seed}", seed)


@pytest.mark.parametrize("seed,opset", [(100, 11), (101, 12), (102, 17), (103, 10)])
def test_random_graph_other_opsets(seed, opset):
    check_against_ort(random_onnx_model(seed, opset=opset), f"seed {seed} opset {opset}", seed)


def _attr(node, name, default=None):
    return next((a for a in node.attribute if a.name == name), default)


def test_random_graphs_cover_ops_and_edge_cases():
    """Any len(BLOCK_KINDS) consecutive seeds use every op; the seeds tested above also hit
    the attribute values that break kernels."""
    for start in (0, 37):
        ops = {n.op_type for s in range(start, start + len(BLOCK_KINDS))
               for n in random_onnx_model(s).graph.node}
        assert ops >= set(SUPPORTED_ONNX_OPS), set(SUPPORTED_ONNX_OPS) - ops
    models = [random_onnx_model(s) for s in RANDOM_SEEDS]
    nodes = [n for m in models for n in m.graph.node]
    seen = {}
    for n in nodes:
        for a in n.attribute:
            seen.setdefault((n.op_type, a.name), set()).add(
                tuple(a.ints) if a.ints else (a.s.decode() if a.s else a.i))
    assert {"SAME_UPPER", "SAME_LOWER", "VALID"} <= seen[("Conv", "auto_pad")]
    assert (2, 2) in seen[("Conv", "dilations")]
    assert (1, 1) in seen[("Conv", "kernel_shape")] and (2, 2) in seen[("Conv", "strides")]
    assert any(p[0] != p[2] or p[1] != p[3] for p in seen[("Conv", "pads")]), "no asymmetric pads"
    assert 1 in seen[("MaxPool", "ceil_mode")] | seen[("AveragePool", "ceil_mode")]
    assert 1 in seen[("AveragePool", "count_include_pad")]
    conv_kinds = set()
    for m in models:
        dims = {t.name: tuple(t.dims) for t in m.graph.initializer}
        for n in m.graph.node:
            if n.op_type == "Conv":
                group = _attr(n, "group").i
                conv_kinds.add("depthwise" if group > 1 and dims[n.input[1]][1] == 1
                               else "grouped" if group > 1 else "dense")
    assert conv_kinds == {"dense", "grouped", "depthwise"}
    assert {"Shape", "Gather", "Unsqueeze"} <= {n.op_type for n in nodes}


def test_random_generator_is_deterministic():
    a, b = random_onnx_model(7), random_onnx_model(7)
    assert a.SerializeToString() == b.SerializeToString()
    assert a.SerializeToString() != random_onnx_model(8).SerializeToString()


def test_batch_runs_equal_single_runs():
    model = random_onnx_model(5, dynamic_batch=True)
    g = fuse_activations(import_onnx(model))
    x = sample_input(model, 1, batch=5)
    batched = run_float(g, x)[g.outputs[0]]
    single = np.concatenate([run_float(g, x[i:i + 1])[g.outputs[0]] for i in range(5)])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
    assert_close(batched, np.concatenate([ort_run(model, x[i:i + 1]) for i in range(5)]),
                 "batch of 5")


def test_keep_all_returns_every_tensor():
    g = import_onnx(random_onnx_model(2))
    x = sample_input(random_onnx_model(2))
    values = run_float(g, x, keep_all=True)
    assert set(values) == set(g.tensors)
    for name, v in values.items():
        assert v.shape == g.shape(name) and v.dtype == np.float32, name
    assert set(run_float(g, x)) == set(g.outputs)


def test_wrong_input_shape_is_a_shape_error():
    g = import_onnx(CASES["relu"].model)
    with pytest.raises(ShapeError, match="input 'input' must be"):
        run_float(g, np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ShapeError):
        run_float(g, np.zeros((3, 5, 6), np.float32))


def test_unknown_activation_is_a_graph_error():
    with pytest.raises(GraphError, match="leaky"):
        apply_activation(np.zeros(2, np.float32), "leaky", "node 'n'")


def digits_like_model():
    """The bundled digits CNN's architecture (8x8 gray, 16/32/48 channels) with random weights."""
    net = _Net(np.random.default_rng(0), 13)
    x, s = "input", (1, 1, 8, 8)
    stem, s = net.conv(x, s, 16, pads=(1, 1, 1, 1))
    stem = net.node("Relu", [net.bn(stem, s)[0]])
    a = net.node("Relu", [net.conv(stem, s, 16, pads=(1, 1, 1, 1))[0]])
    r = net.node("Relu", [net.node("Add", [net.conv(a, s, 16, pads=(1, 1, 1, 1))[0], stem])])
    b1 = net.node("Relu", [net.conv(r, s, 16, (1, 1))[0]])
    b2 = net.node("Relu", [net.conv(r, s, 16, pads=(1, 1, 1, 1), group=16)[0]])
    c = net.node("Concat", [b1, b2], axis=1)
    p, s = net.pool("MaxPool", c, (1, 32, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0))
    gconv, s = net.conv(p, s, 48, pads=(1, 1, 1, 1), group=4)
    gap = net.node("GlobalAveragePool", [net.node("Relu", [gconv])])
    f = net.node("Flatten", [gap], axis=1)
    y = net.node("Softmax", [net.node("Gemm", [f, net.const("w", net.weights((10, 48), 48)),
                                               net.const("b", np.zeros(10, np.float32))],
                                      transB=1)], axis=-1)
    return net.model("input", ["N", 1, 8, 8], y, (1, 10), "digits_like")


def test_digits_sized_batch_is_fast_and_correct():
    model = digits_like_model()
    g = fuse_activations(import_onnx(model))
    x = sample_input(model, 0, batch=360)
    run_float(g, x[:8])  # warm-up (BLAS threads, imports)
    t0 = time.perf_counter()
    y = run_float(g, x)[g.outputs[0]]
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"360 digits-sized images took {elapsed:.2f} s"
    assert_close(y[:16], np.concatenate([ort_run(model, x[i:i + 1]) for i in range(16)]),
                 "digits-like")


# -- activation fusion ------------------------------------------------------------------------
def _chain_model(producer: str, act: str, extra_consumer=False, act_is_output=False):
    net = _Net(np.random.default_rng(3), 13)
    x, s = "input", (1, 2, 5, 5)
    if producer == "Conv":
        y, s = net.conv(x, s, 3, pads=(1, 1, 1, 1))
    elif producer == "Gemm":
        f = net.node("Flatten", [x], axis=1)
        y, s = net.node("Gemm", [f, net.const("w", net.weights((4, 50), 50))], transB=1), (1, 4)
    elif producer == "Add":
        y = net.node("Add", [x, net.node("Relu", [x])])
    else:
        y, s = net.pool("MaxPool", x, s, (2, 2), (1, 1), (0, 0, 0, 0))
    if act == "relu":
        z = net.node("Relu", [y])
    else:
        z = net.clip(y, s, *act)[0]
    if extra_consumer:
        z = net.node("Add", [z, y])
    m = net.model("input", [1, 2, 5, 5], z, s, "chain")
    if act_is_output:  # the producer's own output is also a graph output
        m.graph.output.append(m.graph.output[0])
        m.graph.output[1].name = y
    return m


@pytest.mark.parametrize("producer,act,expect", [
    ("Conv", "relu", "relu"), ("Conv", (0.0, 6.0), "relu6"), ("Conv", (0.0, None), "relu"),
    ("Gemm", (-1.0, 2.0), ("clip", -1.0, 2.0)), ("Add", "relu", "relu"),
    ("Conv", (None, 0.5), ("clip", -np.inf, 0.5)),
])
def test_fusion_folds_activation_into_producer(producer, act, expect):
    model = _chain_model(producer, act)
    g = import_onnx(model)
    fused = fuse_activations(g)
    assert len(fused.nodes) == len(g.nodes) - 1
    node = next(n for n in fused.nodes if n.op == producer)
    assert node.attrs["activation"] == expect
    assert node.outputs == fused.outputs  # the activation's output name is kept
    assert len(node.source) == 2 and node.source[-1] == g.nodes[-1].source[0]
    assert all(n.attrs.get("activation") is None for n in g.nodes)  # input graph untouched
    x = sample_input(model, 4)
    assert_close(run_float(fused, x)[fused.outputs[0]], ort_run(model, x), "fused chain")


@pytest.mark.parametrize("kwargs", [dict(producer="MaxPool", act="relu"),
                                    dict(producer="Conv", act="relu", extra_consumer=True),
                                    dict(producer="Conv", act=(0.0, 6.0), act_is_output=True)])
def test_fusion_leaves_unsafe_cases_alone(kwargs):
    model = _chain_model(**kwargs)
    g = import_onnx(model)
    assert len(g.outputs) == (2 if kwargs.get("act_is_output") else 1)
    fused = fuse_activations(g)
    assert [n.op for n in fused.nodes] == [n.op for n in g.nodes]
    assert all(n.attrs.get("activation") is None for n in fused.nodes)


def test_fusion_of_chained_activations_fuses_only_the_first():
    net = _Net(np.random.default_rng(5), 13)
    y, s = net.conv("input", (1, 2, 4, 4), 2, pads=(1, 1, 1, 1))
    z = net.clip(net.node("Relu", [y]), s, -1.0, 0.5)[0]
    model = net.model("input", [1, 2, 4, 4], z, s, "chain2")
    fused = fuse_activations(import_onnx(model))
    assert [n.op for n in fused.nodes] == ["Conv", "Clip"]
    assert fused.nodes[0].attrs["activation"] == "relu"
    x = sample_input(model, 2)
    assert_close(run_float(fused, x)[fused.outputs[0]], ort_run(model, x), "relu+clip")
