"""Lossy-activation execution and the adaptive per-layer DCT masks under a byte budget."""
import numpy as np
import pytest

from edgecomp.analysis.adaptive import (candidate_plans, choose, codecs_of, measure_options,
                                        parse_budget)
from edgecomp.analysis.codecs import DctCodec, RleCodec, SpmCodec
from edgecomp.analysis.layers import accel_layers, boundary_tensors
from edgecomp.analysis.lossy import apply_codec, nmse, rerun_from, run_lossy, score_tensor
from edgecomp.analysis.vgg import vgg16_qmodel
from edgecomp.errors import EdgecompError
from edgecomp.exec_int import quantize_input, run_int
from edgecomp.testing.random_qmodels import random_qmodel


@pytest.fixture(scope="module")
def vgg():
    rng = np.random.default_rng(1)
    # smooth random "images": low-frequency noise, so feature maps have DCT-friendly content
    base = rng.normal(0, 1, (6, 3, 8, 8)).astype(np.float32)
    images = np.repeat(np.repeat(base, 8, axis=2), 8, axis=3)
    model = vgg16_qmodel(images[:3], resolution=64, width=1 / 8, fc=32, classes=10)
    q = quantize_input(model, images)
    runs = [run_int(model, q[i:i + 1], keep_all=True) for i in range(len(q))]
    return model, runs, boundary_tensors(model, accel_layers(model))


@pytest.mark.parametrize("seed", range(6))
def test_lossless_codecs_leave_every_tensor_bit_exact(seed):
    model = random_qmodel(seed)
    x = np.random.default_rng(seed).integers(-128, 128, model.input.shape).astype(np.int8)
    boundary = boundary_tensors(model, accel_layers(model))
    exact = run_int(model, x, keep_all=True)
    for codec in (RleCodec(), SpmCodec()):
        lossy = run_lossy(model, x, {t: codec for t in boundary})
        assert all(np.array_equal(lossy[t], exact[t]) for t in exact)
        # and the codec really reproduces each boundary tensor through its byte stream
        for t in boundary:
            zp = model.tensors[t].zero_point
            assert np.array_equal(codec.decode(codec.encode(exact[t], zp)), exact[t])


def test_one_layer_rerun_equals_a_full_lossy_run(vgg):
    model, runs, boundary = vgg
    exact = runs[0]
    x = exact[model.inputs[0]]
    t = boundary[3]
    codec = DctCodec(6)
    partial = rerun_from(model, exact, t, apply_codec(model, t, exact[t], codec))
    full = run_lossy(model, x, {t: codec})
    assert all(np.array_equal(partial[k], full[k]) for k in full)
    assert not np.array_equal(full[t], exact[t])  # it really was lossy
    score = score_tensor(model)
    assert model.nodes[-1].op == "SOFTMAX" and score == model.nodes[-1].inputs[0]
    assert nmse(model, score, [exact[score]], [exact[score]]) == 0


def test_parse_budget():
    assert parse_budget("1000", 5000) == 1000 and parse_budget("40%", 5000) == 2000
    with pytest.raises(EdgecompError, match="adaptive budget"):
        parse_budget("lots", 5000)


def test_adaptive_plan_fits_the_budget_and_beats_direct_mode(vgg):
    model, runs, boundary = vgg
    sens = runs[:2]
    options = measure_options(model, sens, boundary, (1, 6, 15, 64))
    raw = sum(o[0].bytes for o in options.values())
    spatial = [t for t in boundary if len(options[t]) > 1]
    # at 64x64 input, the maps of conv1 .. conv4_2 (64 .. 8 pixels) are DCT-coded; the 4x4,
    # 2x2 and FC tensors can only stay raw
    assert len(spatial) == 9
    for t in spatial:  # distortion falls (roughly) as more coefficients are kept
        d = {o.label: o.distortion for o in options[t]}
        assert d["dct:64"] < d["dct:1"] and d["raw"] == 0
    budget = parse_budget("30%", raw)
    plans = candidate_plans(options, budget)
    assert plans and all(sum(o.bytes for o in p.values()) <= budget for _, p in plans)
    plan = choose(model, sens, options, budget)
    assert plan.total_bytes <= budget
    uniform = [c for c in plan.candidates if c["plan"].startswith("uniform")]
    assert uniform and plan.joint_distortion <= min(c["joint_nmse"] for c in uniform)
    # the chosen masks really are those bytes
    codecs = codecs_of(plan.choice)
    assert sum(codecs[t].bound(model.tensors[t].shape) if isinstance(codecs[t], DctCodec)
               else int(np.prod(model.tensors[t].shape)) for t in boundary) == plan.total_bytes
    with pytest.raises(EdgecompError, match="below the smallest possible"):
        candidate_plans(options, 10)
