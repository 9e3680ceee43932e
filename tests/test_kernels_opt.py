"""The C runtime's optimized kernels (runtime/src/opt.h) through the Python binding: the default
kernel set == the reference kernels == the numpy integer executor, bit for bit, on random
format-level models and on a CNN pruned at every granularity; every optimized variant forced
on every layer it can run (EDGERT_KERNEL); the per-layer MAC and byte counters.

runtime/tests/test_kernels_opt.c sweeps the kernels far wider (shapes, sparsities, zero points)
natively and on aarch64; these tests check the Python-visible side and the real pipeline.
"""
import platform

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecomp.compress import CompressOptions, compress
from edgecomp.exec_int import run_int
from edgecomp.packed import write_ecm
from edgecomp.runtime import Runtime
from edgecomp.testing.random_qmodels import random_qmodel

IS_X86 = platform.machine() in ("x86_64", "AMD64")
X86 = ("conv_s8_planar_avx2", "conv_u8s8_planar_avx512vnni", "conv_u8s8_rows_avx512vnni",
       "conv_u8s8_q4_dense_avx512vnni", "conv_u8s8_q4_sparse_avx512vnni",
       "conv_u8s8_dw3x3_avx512vnni", "fc_u8s8_dense_avx512vnni", "fc_u8s8_bitmap_avx512vbmi2",
       "fc_u8s8_blocks_avx512vnni",
       "add_s8_avx512", "maxpool_s8_avx512")
ARM = ("conv_s8_planar_neon", "conv_s8_dw_neon", "fc_s8_dense_neon")
VARIANTS = ("conv_s8_planar_c", "conv_s8_dw_c", "fc_s8_dense_c", "fc_s8_csc_c", "maxpool_s8_c",
            "add_s8_c", "concat_s8_lut") + (X86 if IS_X86 else ARM)
# depthwise kernels: forced on the depthwise model below (random models rarely hold their shapes)
DW_VARIANTS = ("conv_s8_dw_c",) + (("conv_u8s8_dw3x3_avx512vnni",) if IS_X86 else
                                    ("conv_s8_dw_neon",))


def _inputs(model, seed, n=3):
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, model.input.shape).astype(np.int8) for _ in range(n)]
    zx = model.input.zero_point
    xs.append(np.full(model.input.shape, zx, np.int8))   # every MAC skippable
    half = xs[0].copy()
    half.reshape(half.shape[0], half.shape[1], -1)[:, ::2] = zx  # zero-point channels
    xs.append(half)
    return xs


def _assert_all_tensors_equal(model, rt, x):
    want = run_int(model, x, keep_all=True)
    got = rt.run_all(x)
    for node in model.nodes:
        t = node.outputs[0]
        g = np.asarray(got[t]).reshape(want[t].shape)
        assert np.array_equal(g, want[t]), (
            f"{node.name} ({node.op}, kernel {_kernel_of(rt, node.name)}): "
            f"{int((g != want[t]).sum())} of {want[t].size} values differ")
    np.testing.assert_array_equal(rt.run(x).reshape(want[model.outputs[0]].shape),
                                  want[model.outputs[0]])


def _kernel_of(rt, name):
    return next((r["kernel"] for r in rt.layer_stats() if r["name"] == name), None)


def _check_counters(rows):
    for r in rows:
        assert r["dense_macs"] == (r["executed_macs"] + r["skipped_zero_weight_macs"] +
                                   r["skipped_zero_activation_macs"] + r["padding_macs"]), r
        assert r["kernel"], r
        assert r["act_bytes_read"] > 0 and r["act_bytes_written"] > 0, r
        if r["op"] in ("CONV", "FC"):
            assert r["weight_bytes"] > 0, r
        else:
            assert r["executed_macs"] == r["dense_macs"] == r["weight_bytes"] == 0, r


@pytest.mark.parametrize("seed", range(24))
def test_default_kernels_equal_reference_and_numpy(seed):
    model = random_qmodel(seed)
    data = write_ecm(model)
    opt, ref = Runtime(data, num_threads=1 + seed % 2), Runtime(data, kernels="reference")
    for x in _inputs(model, seed):
        _assert_all_tensors_equal(model, opt, x)
        np.testing.assert_array_equal(opt.run(x), ref.run(x))
        _check_counters(opt.layer_stats())
    assert all(r["kernel"].startswith("ert_ref_") for r in ref.layer_stats())


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_forced_on_random_models(variant, monkeypatch):
    monkeypatch.setenv("EDGERT_KERNEL", variant)
    ran = 0
    for seed in range(12):
        model = random_qmodel(100 + seed)
        rt = Runtime(write_ecm(model), num_threads=2)
        rows = rt.layer_stats()
        if any(r["kernel"] == variant for r in rows):
            ran += 1
        for x in _inputs(model, seed, n=1):
            _assert_all_tensors_equal(model, rt, x)
        _check_counters(rt.layer_stats())
    if ran == 0:
        pytest.skip(f"{variant} does not run on this host")


def _cnn(path):
    """conv 3x3 -> conv 3x3 stride 2 -> depthwise 3x3 -> conv 1x1 -> GAP -> FC (+ a wide FC)."""
    rng = np.random.default_rng(7)
    inits, nodes = [], []

    def const(name, shape, fan_in):
        inits.append(numpy_helper.from_array(
            (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name))
        return name

    def conv(x, name, c, co, k, stride=1, group=1):
        w = const(f"{name}_w", (co, c // group, k, k), c // group * k * k)
        b = const(f"{name}_b", (co,), 10)
        nodes.append(helper.make_node("Conv", [x, w, b], [f"{name}_c"], kernel_shape=[k, k],
                                      strides=[stride] * 2, pads=[k // 2] * 4, group=group))
        nodes.append(helper.make_node("Relu", [f"{name}_c"], [name]))
        return name

    x = conv("x", "c1", 3, 16, 3)
    x = conv(x, "c2", 16, 32, 3, stride=2)
    x = conv(x, "dw", 32, 32, 3, group=32)
    x = conv(x, "pw", 32, 64, 1)
    nodes.append(helper.make_node("Flatten", [x], ["flat"]))
    w1, b1 = const("fc1_w", (64 * 144, 96), 64 * 144), const("fc1_b", (96,), 10)
    nodes.append(helper.make_node("Gemm", ["flat", w1, b1], ["fc1_g"]))
    nodes.append(helper.make_node("Relu", ["fc1_g"], ["fc1"]))
    w2, b2 = const("fc2_w", (96, 10), 96), const("fc2_b", (10,), 10)
    nodes.append(helper.make_node("Gemm", ["fc1", w2, b2], ["y"]))
    graph = helper.make_graph(
        nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 24, 24])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def cnn_path(tmp_path_factory):
    return _cnn(tmp_path_factory.mktemp("cnn") / "cnn.onnx")


# min_skip: the share of in-bounds CONV MACs the chosen kernels must skip as zero weights. The x86
# VNNI kernels skip only whole blocks of 4 input channels, and choose the dense kernel when
# few blocks are empty (fine 50%, 2:4); the portable / NEON kernels skip every zero weight.
@pytest.mark.parametrize("granularity,prune,min_skip", [
    ("fine", 0.5, 0.0), ("fine", 0.9, 0.5), ("vector", 0.7, 0.0), ("kernel", 0.9, 0.5),
    ("filter", 0.5, 0.3), ("2:4", None, 0.0), ("block", 0.9, 0.5), ("block8x4", 0.9, 0.5)])
def test_pruned_cnn_bit_exact_and_skips(cnn_path, granularity, prune, min_skip):
    images = np.random.default_rng(1).normal(0, 1, (8, 3, 24, 24)).astype(np.float32)
    opts = CompressOptions(prune=prune or 0.0, granularity=granularity, show_progress=False)
    model = compress(cnn_path, opts, calibration_data=images).qmodel
    data = write_ecm(model)
    opt, ref = Runtime(data, num_threads=2), Runtime(data, kernels="reference")
    for x in _inputs(model, 3):
        _assert_all_tensors_equal(model, opt, x)
        np.testing.assert_array_equal(opt.run(x), ref.run(x))
    opt.run(_inputs(model, 3)[0])
    rows = opt.layer_stats()
    _check_counters(rows)
    weighted = [r for r in rows if r["op"] in ("CONV", "FC")]
    # the big layers run optimized kernels; pruned weights are skipped, not multiplied
    assert sum(not r["kernel"].startswith("ert_ref_") for r in weighted) >= 4
    convs = [r for r in weighted if r["op"] == "CONV"]  # FCs may stay dense (memory-bound)
    skipped = sum(r["skipped_zero_weight_macs"] for r in convs)
    total = sum(r["dense_macs"] - r["padding_macs"] for r in convs)
    assert skipped >= min_skip * total, (skipped, total)
    # an all-zero-point input: every optimized layer behind the first skips its activations
    opt.run(np.full(model.input.shape, model.input.zero_point, np.int8))
    first = next(r for r in opt.layer_stats() if r["op"] == "CONV")
    assert first["skipped_zero_activation_macs"] > 0 or first["kernel"].startswith("ert_ref_")


def _dw_net(path):
    """Depthwise 3x3 layers in the shapes the dedicated kernels take: stride 1 and 2, symmetric
    and asymmetric padding, channel multiplier 2, widths not a multiple of 16; ReLU6 between."""
    rng = np.random.default_rng(11)
    inits, nodes = [], []

    def conv(x, name, c, co, k, stride, pads, group):
        w = rng.standard_normal((co, c // group, k, k)) / np.sqrt(c // group * k * k)
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"{name}_w"))
        inits.append(numpy_helper.from_array(
            rng.normal(0, 0.1, co).astype(np.float32), f"{name}_b"))
        nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [f"{name}_c"],
                                      kernel_shape=[k, k], strides=[stride] * 2, pads=pads,
                                      group=group))
        nodes.append(helper.make_node("Clip", [f"{name}_c", "lo", "hi"], [name]))
        return name

    inits += [numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
              numpy_helper.from_array(np.array(6.0, np.float32), "hi")]
    x = conv("x", "c1", 3, 24, 3, 1, [1, 1, 1, 1], 1)
    x = conv(x, "dw1", 24, 24, 3, 1, [1, 1, 1, 1], 24)       # 37 x 37
    x = conv(x, "dw2", 24, 24, 3, 2, [0, 0, 1, 1], 24)       # stride 2, asymmetric: 19 x 19
    x = conv(x, "dw3", 24, 48, 3, 1, [1, 2, 1, 0], 24)       # multiplier 2
    x = conv(x, "dw4", 48, 48, 3, 2, [1, 1, 1, 1], 48)
    graph = helper.make_graph(
        nodes, "dw", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 37, 37])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("variant", DW_VARIANTS)
@pytest.mark.parametrize("granularity,prune", [(None, 0.0), ("fine", 0.7), ("kernel", 0.5)])
def test_depthwise_kernels_forced(variant, granularity, prune, tmp_path, monkeypatch):
    images = np.random.default_rng(2).normal(0, 1, (4, 3, 37, 37)).astype(np.float32)
    opts = CompressOptions(prune=prune, granularity=granularity, show_progress=False)
    model = compress(_dw_net(tmp_path / "dw.onnx"), opts, calibration_data=images).qmodel
    data = write_ecm(model)
    monkeypatch.setenv("EDGERT_KERNEL", variant)
    rt = Runtime(data, num_threads=2)
    ran = [r["name"] for r in rt.layer_stats() if r["kernel"] == variant]
    assert len(ran) == 4, [(r["name"], r["kernel"]) for r in rt.layer_stats()]
    for x in _inputs(model, 5):
        _assert_all_tensors_equal(model, rt, x)
    _check_counters(rt.layer_stats())
    monkeypatch.delenv("EDGERT_KERNEL")
    if variant != "conv_s8_dw_c":  # the session's own choice on this host
        kernels = {r["name"]: r["kernel"] for r in Runtime(data).layer_stats()}
        assert all(kernels[name] == variant for name in ran), kernels


def test_reference_kernel_set_option():
    model = random_qmodel(3)
    with pytest.raises(ValueError, match="kernels must be one of"):
        Runtime(write_ecm(model), kernels="fast")
