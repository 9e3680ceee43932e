"""Dynamic fixed point (seeds 000, 001) and per-layer weight bit widths, through the pipeline:
every scale a power of two, every CONV/FC requantization a pure shift (M = 2^30), and the C
runtime bit for bit equal to the numpy reference on such models."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgecomp.compress import CompressOptions, compress
from edgecomp.datasets import bundled_digits, load_labeled_folder, read_labels
from edgecomp.evaluate import int_reference_outputs, runtime_outputs, scores
from edgecomp.packed import parse_ecm, write_ecm
from edgecomp.quant.quantize import quantize_weights
from edgecomp.runtime import Runtime


@pytest.fixture(scope="module")
def digits():
    b = bundled_digits()
    images, labels, _ = load_labeled_folder(b.test_dir, read_labels(b.labels), b.preprocess)
    return b, images, labels


def _compress(b, **kw):
    return compress(b.onnx, CompressOptions(calib_dir=b.calib_dir, preprocess=b.preprocess,
                                            show_progress=False, **kw)).qmodel


def _pow2(v: float) -> bool:
    return v > 0 and math.frexp(v)[0] == 0.5


def _multipliers(node):
    """(M, S) pairs a node requantizes with (docs/format.md 5)."""
    p = node.params
    if node.op in ("CONV", "FC"):
        return list(zip(node.multiplier.tolist(), node.shift.tolist()))
    if node.op == "AVGPOOL":
        return [(p[9], p[10])]
    if node.op == "GLOBALAVGPOOL":
        return [(p[0], p[1])]
    if node.op == "ADD":
        return [(p[0], p[2]), (p[1], p[2])]
    if node.op == "CONCAT":
        return [(p[1 + 2 * i], p[2 + 2 * i]) for i in range(len(node.inputs))]
    return []


@pytest.mark.parametrize("prune", [0.0, 0.6])
def test_dfp_model_is_shifts_only_and_bit_exact(digits, prune):
    b, images, labels = digits
    model = parse_ecm(write_ecm(_compress(b, quant_mode="dfp", prune=prune,
                                          weight_bits="conv=8,fc=6")))
    assert model.dynamic_fixed_point and model.metadata["quantization"]["mode"] == "dfp"
    for t in model.tensors:
        assert _pow2(t.scale) and t.zero_point in (0, -128), t  # -128: the softmax output
    ops = set()
    for node in model.nodes:
        for m, s in _multipliers(node):
            ops.add(node.op)
            assert m & (m - 1) == 0, (node.name, m)       # M a power of two: y = rounded shift
            if node.op in ("CONV", "FC"):
                assert m == 1 << 30, (node.name, m, s)    # m = sx*sw/sy encoded exactly
    assert {"CONV", "FC", "CONCAT", "ADD"} <= ops
    fc = next(n for n in model.nodes if n.op == "FC")
    assert np.abs(fc.weights).max() <= 31
    rt = Runtime(write_ecm(model))
    assert rt.dynamic_fixed_point
    ref = int_reference_outputs(model, images)
    got = runtime_outputs(rt, model, images)
    assert np.array_equal(got.reshape(ref.shape), ref)
    if prune == 0:
        affine = _compress(b)
        top1 = [scores(int_reference_outputs(m, images).astype(np.float32), labels).top1
                for m in (model, affine)]
        assert top1[0] >= top1[1] - 0.02  # power-of-two scales cost little here


def test_weight_bits_per_kind_and_per_layer(digits):
    b, _, _ = digits
    model = _compress(b, weight_bits="conv=6,fc=5,stem_conv=3")
    for node in model.nodes:
        if node.weights is None:
            continue
        bits = 3 if node.name == "stem_conv" else 5 if node.op == "FC" else 6
        qmax = 2 ** (bits - 1) - 1
        assert np.abs(node.weights).max() == qmax, node.name  # per-channel max hits the limit
    assert model.metadata["quantization"]["weight_bits"] == {
        n.name: 3 if n.name == "stem_conv" else 5 if n.op == "FC" else 6
        for n in model.nodes if n.weights is not None}
    assert _compress(b, weight_bits=8).metadata["quantization"]["weight_bits"]["fc"] == 8


def test_per_layer_scale_for_a_shared_codebook():
    w = np.random.default_rng(0).normal(0, 1, (4, 10)) * np.array([[1], [2], [4], [8]])
    q, scale = quantize_weights(w, "affine", 8, per_layer=True)
    assert np.all(scale == scale[0]) and np.abs(q).max() == 127
    q, scale = quantize_weights(w, "dfp", 6, per_layer=True)
    assert np.all(scale == scale[0]) and _pow2(scale[0]) and np.abs(q).max() <= 31
    q, scale = quantize_weights(w, "affine", 8)
    assert len(set(scale.tolist())) == 4
