"""ONNX importer: op mapping, folding (BN, bias, shape arithmetic), auto_pad, errors, metadata.

Numerical agreement with onnxruntime of every op is in test_float_exec.py; here the IR itself is
checked (node kinds, attributes, folded constants, error messages).
"""
from __future__ import annotations

import hashlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecomp.errors import ModelImportError, UnsupportedOpError
from edgecomp.importers import import_onnx
from edgecomp.importers import onnx_importer
from edgecomp.ir import OPS
from edgecomp.testing.random_graphs import op_case_models, random_onnx_model

RNG = np.random.default_rng(1234)


def const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def weights(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def model(nodes, inits=(), in_shape=("N", 2, 6, 6), opset=13, outputs=("y",), name="t"):
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             producer_name="test-producer", producer_version="9.9")


def case(name):
    return next(c for c in op_case_models() if c.name == name)


# -- errors: every offending node, named, before conversion -----------------------------------
def bad_model():
    nodes = [
        helper.make_node("Elu", ["x"], ["a"], name="elu_a"),
        helper.make_node("Relu", ["a"], ["r"], name="relu_ok"),
        helper.make_node("Tanh", ["W"], ["W2"], name="tanh_w"),
        helper.make_node("Conv", ["r", "W2"], ["b"], name="conv_dyn_w", pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["b"], ["c"], name="pool_dil", kernel_shape=[2, 2],
                         dilations=[2, 2]),
        helper.make_node("Flatten", ["c"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "G"], ["y"], name="gemm_ta", transA=1),
    ]
    return model(nodes, [const("W", weights(4, 2, 3, 3)), const("G", weights(36, 3))])


def test_every_unsupported_node_is_reported_before_conversion(tmp_path, monkeypatch):
    path = tmp_path / "bad_model.onnx"
    onnx.save(bad_model(), path)

    def no_conversion(*args):
        raise AssertionError("conversion started before the support check finished")
    monkeypatch.setattr(onnx_importer, "_convert_node", no_conversion)
    with pytest.raises(UnsupportedOpError) as err:
        import_onnx(path)
    msg = str(err.value)
    assert str(path) in msg
    for op, node in (("Elu", "elu_a"), ("Tanh", "tanh_w"), ("Conv", "conv_dyn_w"),
                     ("MaxPool", "pool_dil"), ("Gemm", "gemm_ta")):
        assert f"{op} node {node!r}" in msg, (op, node, msg)
    assert "relu_ok" not in msg and "flat" not in msg  # supported nodes are not blamed
    assert "weight input 'W2' is computed at run time" in msg
    assert "dilations=[2, 2]" in msg and "transA=1" in msg
    assert "5 problem(s)" in msg


def test_in_memory_model_is_named_by_graph_name():
    with pytest.raises(UnsupportedOpError, match="in-memory model 't'"):
        import_onnx(bad_model())


def test_unknown_domain_is_unsupported():
    node = helper.make_node("Relu", ["x"], ["y"], name="custom_relu", domain="com.vendor")
    m = model([node])
    m.opset_import.append(helper.make_opsetid("com.vendor", 1))
    with pytest.raises(UnsupportedOpError, match="custom_relu.*domain 'com.vendor'"):
        import_onnx(m)


def _single(op, inputs, inits=(), in_shape=("N", 2, 6, 6), opset=13, **attrs):
    return model([helper.make_node(op, inputs, ["y"], name=f"the_{op.lower()}", **attrs)],
                 inits, in_shape, opset)


def _bn_params(c):
    return [const(n, np.ones(c, np.float32)) for n in ("g", "b", "m", "v")]


UNSUPPORTED = {
    "gemm_transA": (lambda: model(
        [helper.make_node("Flatten", ["x"], ["f"]),
         helper.make_node("Gemm", ["f", "B"], ["y"], name="g1", transA=1)],
        [const("B", weights(72, 3))]), "g1", "transA=1"),
    "avgpool_dilations": (lambda: _single("AveragePool", ["x"], kernel_shape=[2, 2],
                                          dilations=[1, 2], opset=19),
                          "the_averagepool", "dilations"),
    "pool_pad_ge_kernel": (lambda: _single("MaxPool", ["x"], kernel_shape=[2, 2],
                                           pads=[2, 0, 0, 0]),
                           "the_maxpool", "smaller than kernel"),
    "conv_1d": (lambda: _single("Conv", ["x", "W"], [const("W", weights(3, 2, 3))],
                                kernel_shape=[3]), "the_conv", "2-D"),
    "pad_reflect": (lambda: _single("Pad", ["x", "P"], [const("P", np.array(
        [0, 0, 1, 1, 0, 0, 1, 1], np.int64))], mode="reflect"), "the_pad", "only constant"),
    "concat_batch_axis": (lambda: model(
        [helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("Concat", ["x", "r"], ["y"], name="cat0", axis=0)]),
        "cat0", "batch axis"),
    "concat_with_constant": (lambda: _single("Concat", ["x", "K"],
                                             [const("K", weights(1, 1, 6, 6))], axis=1),
                             "the_concat", "'K' is a constant"),
    "sub_activations": (lambda: model(
        [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
         helper.make_node("Sub", ["x", "p"], ["y"], name="se_sub")]),
        "se_sub", "only Add and Mul"),
    "add_spatial_constant": (lambda: model(
        [helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("Add", ["r", "K"], ["y"], name="add_k")],
        [const("K", weights(1, 2, 6, 6))]), "add_k", "varies over spatial positions"),
    "clip_dynamic_min": (lambda: model(
        [helper.make_node("ReduceMin", ["x"], ["lo"], keepdims=0, name="rmin"),
         helper.make_node("Clip", ["x", "lo"], ["y"], name="clip_dyn")]),
        "clip_dyn", "min input 'lo' is computed at run time"),
    "resize_cubic": (lambda: _single("Resize", ["x", "", "S"], [const("S", np.array(
        [1, 1, 2, 2], np.float32))], mode="cubic"), "the_resize", "mode='cubic'"),
    "div_by_activation": (lambda: model(
        [helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("Div", ["x", "r"], ["y"], name="div_act")]),
        "div_act", "Div of two activations"),
    "bn_training_mode": (lambda: model(
        [helper.make_node("Conv", ["x", "W"], ["c"]),
         helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], name="bn3",
                          training_mode=1)],
        [const("W", weights(2, 2, 1, 1)), *_bn_params(2)], opset=15), "bn3", "training_mode"),
    "dropout_mask_used": (lambda: model(
        [helper.make_node("Dropout", ["x"], ["d", "mask"], name="drop"),
         helper.make_node("Cast", ["mask"], ["y"], to=TensorProto.FLOAT)]), "drop", "mask"),
    "matmul_rank4": (lambda: _single("MatMul", ["x", "B"], [const("B", weights(6, 4))]),
                     "the_matmul", "rank 2"),
}


@pytest.mark.parametrize("key", sorted(UNSUPPORTED))
def test_unsupported_constructs_name_the_node(key):
    build, node, text = UNSUPPORTED[key]
    with pytest.raises(UnsupportedOpError) as err:
        import_onnx(build())
    assert repr(node) in str(err.value) and text in str(err.value), str(err.value)


def test_static_batch_above_one_is_rejected():
    with pytest.raises(UnsupportedOpError, match="static batch of 4"):
        import_onnx(_single("Relu", ["x"], in_shape=(4, 2, 3, 3)))


def test_dynamic_spatial_dim_is_rejected():
    with pytest.raises(ModelImportError, match="dim 2 is dynamic"):
        import_onnx(_single("Relu", ["x"], in_shape=("N", 2, "H", 3)))


def test_unreadable_and_garbage_files(tmp_path):
    with pytest.raises(ModelImportError, match="missing.onnx"):
        import_onnx(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage that is not protobuf \xff\xff\xff")
    with pytest.raises(ModelImportError, match="junk.onnx"):
        import_onnx(junk)


# -- mapping ----------------------------------------------------------------------------------
def test_metadata_and_batch_fixing(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(case("conv_3x3_pad1").model, path)
    m = random_onnx_model(3, dynamic_batch=True)
    g = import_onnx(m)
    assert g.shape(g.inputs[0])[0] == 1
    g = import_onnx(path)
    src = g.metadata["source"]
    assert src["path"] == str(path)
    assert src["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert src["opset"] == 13 and src["format"] == "onnx"
    assert src["producer"].startswith("edgecomp.testing.random_graphs")


def test_weights_in_external_data_files_are_loaded(tmp_path, monkeypatch):
    onnx.save_model(random_onnx_model(4), tmp_path / "ext.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.bin", size_threshold=0)
    monkeypatch.chdir("/")  # side files resolve next to the model, not the working directory
    g = import_onnx(tmp_path / "ext.onnx")
    ref = import_onnx(random_onnx_model(4))
    assert g.constants.keys() == ref.constants.keys()
    for k, v in ref.constants.items():
        np.testing.assert_array_equal(g.constants[k], v)


def test_conv_attributes_and_per_node_weight_copies():
    g = import_onnx(case("conv_asym_pads").model)
    (conv,) = g.nodes
    assert conv.op == "Conv"
    assert conv.attrs["pads"] == (0, 1, 2, 1)  # ONNX [t, l, b, r] order == IR order
    assert conv.attrs["strides"] == (1, 1) and conv.attrs["dilations"] == (1, 1)
    assert conv.attrs["group"] == 1 and conv.attrs["activation"] is None
    assert g.constants[conv.attrs["weight"]].dtype == np.float32
    assert conv.source == [case("conv_asym_pads").model.graph.node[0].name]


AUTO_PAD_CASES = [
    ("SAME_UPPER", 8, 3, 2, (0, 1)),   # out 4: total pad 1 -> end
    ("SAME_LOWER", 8, 3, 2, (1, 0)),   # total pad 1 -> beginning
    ("SAME_UPPER", 8, 4, 1, (1, 2)),   # total 3: extra at the end
    ("SAME_LOWER", 8, 4, 1, (2, 1)),   # total 3: extra at the beginning
    ("SAME_UPPER", 7, 1, 2, (0, 0)),   # kernel < stride: no negative pads
    ("VALID", 9, 3, 2, (0, 0)),
]


@pytest.mark.parametrize("op,auto_pad,size,k,stride,pads", [
    (op, *c) for op in ("Conv", "MaxPool") for c in AUTO_PAD_CASES
    if op == "Conv" or c[2] >= c[3]])  # onnxruntime rejects SAME pools with kernel < stride
def test_auto_pad_resolves_to_explicit_pads(op, auto_pad, size, k, stride, pads):
    inits, ins = [], ["x"]
    attrs = dict(kernel_shape=[k, k], strides=[stride, stride], auto_pad=auto_pad)
    if op == "Conv":
        inits, ins = [const("W", weights(3, 2, k, k))], ["x", "W"]
    g = import_onnx(_single(op, ins, inits, in_shape=(1, 2, size, size), **attrs))
    (node,) = g.nodes
    assert node.attrs["pads"] == (pads[0], pads[0], pads[1], pads[1])
    expect = -(-size // stride) if auto_pad != "VALID" else (size - k) // stride + 1
    assert g.shape("y")[2:] == (expect, expect)


def test_batchnorm_folds_into_conv_exactly():
    c = case("conv_bn")
    g = import_onnx(c.model)
    (conv,) = g.nodes
    onnx_conv, onnx_bn = c.model.graph.node
    assert conv.source == [onnx_conv.name, onnx_bn.name]
    assert g.outputs == [onnx_bn.output[0]]
    init = {t.name: numpy_helper.to_array(t) for t in c.model.graph.initializer}
    w, b = init[onnx_conv.input[1]], init[onnx_conv.input[2]]
    gamma, beta, mean, var = (init[t] for t in onnx_bn.input[1:])
    eps = helper.get_attribute_value(onnx_bn.attribute[0])
    s = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    np.testing.assert_allclose(g.constants[conv.attrs["weight"]],
                               w * s[:, None, None, None], rtol=1e-6)
    np.testing.assert_allclose(g.constants[conv.attrs["bias"]], (b - mean) * s + beta,
                               rtol=1e-6, atol=1e-7)


def test_batchnorm_fold_does_not_touch_a_shared_weight():
    w = weights(2, 2, 1, 1)
    nodes = [helper.make_node("Conv", ["x", "W"], ["a"], name="c1"),
             helper.make_node("BatchNormalization", ["a", "g", "b", "m", "v"], ["an"],
                              name="bn"),
             helper.make_node("Conv", ["x", "W"], ["bb"], name="c2"),
             helper.make_node("Add", ["an", "bb"], ["y"], name="add")]
    params = [const("g", np.full(2, 3.0, np.float32)), const("b", np.zeros(2, np.float32)),
              const("m", np.zeros(2, np.float32)), const("v", np.ones(2, np.float32))]
    g = import_onnx(model(nodes, [const("W", w), *params]))
    c1, c2 = (n for n in g.nodes if n.op == "Conv")
    np.testing.assert_array_equal(g.constants[c2.attrs["weight"]], w)
    np.testing.assert_allclose(g.constants[c1.attrs["weight"]], w * 3 / np.sqrt(1 + 1e-5),
                               rtol=1e-6)


def test_gemm_batchnorm_and_matmul_bias_fold():
    g = import_onnx(case("gemm_bn").model)
    assert [n.op for n in g.nodes] == ["Reshape", "Gemm"]
    for name in ("matmul_add_bias", "matmul_bias_add_first"):
        c = case(name)
        g = import_onnx(c.model)
        gemm = g.nodes[-1]
        assert gemm.op == "Gemm" and [n.op_type for n in c.model.graph.node][-2:] == [
            "MatMul", "Add"]
        init = {t.name: numpy_helper.to_array(t) for t in c.model.graph.initializer}
        mm, add = c.model.graph.node[-2:]
        bias = next(init[t] for t in add.input if t in init)
        np.testing.assert_array_equal(g.constants[gemm.attrs["bias"]], bias)
        np.testing.assert_array_equal(g.constants[gemm.attrs["weight"]], init[mm.input[1]].T)
        assert gemm.source == [mm.name, add.name]


def test_gemm_alpha_beta_and_transb_are_folded_into_weight_and_bias():
    c = case("gemm_alpha_beta")
    g = import_onnx(c.model)
    gemm = g.nodes[-1]
    init = {t.name: numpy_helper.to_array(t) for t in c.model.graph.initializer}
    node = c.model.graph.node[-1]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    np.testing.assert_allclose(g.constants[gemm.attrs["weight"]],
                               attrs["alpha"] * init[node.input[1]].T, rtol=1e-6)
    np.testing.assert_allclose(g.constants[gemm.attrs["bias"]],
                               attrs["beta"] * init[node.input[2]].ravel(), rtol=1e-6)


def test_shape_arithmetic_is_folded_into_a_plain_reshape():
    g = import_onnx(case("reshape_shape_arith").model)
    assert [n.op for n in g.nodes] == ["Reshape"]
    assert g.shape(g.outputs[0]) == (1, 60) and not g.constants
    # The torch exporter's x.view(x.size(0), -1) with a dynamic batch, in a random network.
    m = random_onnx_model(3, dynamic_batch=True)  # HEAD_KINDS[3] == "shape_arith"
    assert {"Shape", "Gather", "Unsqueeze"} <= {n.op_type for n in m.graph.node}
    g = import_onnx(m)
    assert {n.op for n in g.nodes} <= set(OPS)
    reshape = next(n for n in g.nodes if n.op == "Reshape")
    assert g.shape(reshape.outputs[0])[0] == 1 and len(g.shape(reshape.outputs[0])) == 2


def test_weights_through_constant_nodes_are_folded():
    """Weights arriving via Constant / Transpose / Cast / Identity nodes become IR constants;
    BN folds through a MatMul + bias Add and through a Conv + constant Add."""
    w = weights(3, 6)  # stored as [N, K]; Transpose makes MatMul's [K, N]
    bias = weights(3)
    nodes = [
        helper.make_node("Constant", [], ["w16"], value=const("wv", w.astype(np.float16))),
        helper.make_node("Cast", ["w16"], ["w32"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["w32"], ["wt"], perm=[1, 0]),
        helper.make_node("Identity", ["wt"], ["wk"]),
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "wk"], ["mm"], name="mm"),
        helper.make_node("Add", ["mm", "bias"], ["mb"], name="bias_add"),
        helper.make_node("BatchNormalization", ["mb", "g", "b", "m", "v"], ["y"], name="bn"),
    ]
    params = [const(n, np.full(3, val, np.float32)) for n, val in
              (("g", 2.0), ("b", 0.5), ("m", 0.25), ("v", 3.0))]
    g = import_onnx(model(nodes, [const("bias", bias), *params], in_shape=(1, 6, 1, 1)))
    assert [n.op for n in g.nodes] == ["Reshape", "Gemm"]
    gemm = g.nodes[1]
    s = 2.0 / np.sqrt(3.0 + 1e-5)
    np.testing.assert_allclose(g.constants[gemm.attrs["weight"]],
                               w.astype(np.float16).astype(np.float32) * s, rtol=1e-6)
    np.testing.assert_allclose(g.constants[gemm.attrs["bias"]], (bias - 0.25) * s + 0.5,
                               rtol=1e-6)
    assert gemm.source == ["mm", "bias_add", "bn"]
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             helper.make_node("Add", ["K", "c"], ["cb"], name="add_k"),
             helper.make_node("BatchNormalization", ["cb", "g", "b", "m", "v"], ["y"])]
    k = weights(1, 3, 1, 1)
    g = import_onnx(model(nodes, [const("W", weights(3, 2, 1, 1)), const("K", k), *params]))
    (conv,) = g.nodes
    np.testing.assert_allclose(g.constants[conv.attrs["bias"]], (k.ravel() - 0.25) * s + 0.5,
                               rtol=1e-6)


def test_clip_bounds_from_attributes_and_inputs():
    for name, lo, hi in (("clip_opset10_attrs", -0.3, 0.4), ("clip_lo_hi", -0.5, 0.7),
                         ("clip_min_only", -0.25, np.inf), ("clip_max_only", -np.inf, 0.5)):
        (clip,) = import_onnx(case(name).model).nodes
        assert clip.op == "Clip"
        assert clip.attrs["min"] == pytest.approx(lo) and clip.attrs["max"] == pytest.approx(hi)


def test_dropout_and_identity_vanish_and_output_names_survive():
    for name in ("dropout_opset13", "dropout_opset10", "identity_to_output"):
        c = case(name)
        g = import_onnx(c.model)
        assert [n.op for n in g.nodes] == ["Relu"]
        assert g.outputs == [c.model.graph.output[0].name]
        assert g.nodes[0].outputs == g.outputs


def test_pool_and_concat_attributes():
    (pool,) = import_onnx(case("avgpool_ceil_cip1").model).nodes
    assert pool.attrs == {"kernel": (3, 3), "strides": (2, 2), "pads": (1, 0, 1, 0),
                          "ceil_mode": 1, "count_include_pad": 1}
    g = import_onnx(case("maxpool_ceil_last_window_rule").model)
    assert g.shape(g.outputs[0]) == (1, 2, 2, 2)  # onnxruntime's rule, not plain ceil (3)
    g = import_onnx(case("concat_width_negative_axis").model)
    assert g.nodes[-1].attrs["axis"] == 3 and g.shape(g.outputs[0]) == (1, 2, 4, 10)


def test_dead_nodes_are_dropped():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="live"),
             helper.make_node("MaxPool", ["x"], ["unused"], name="dead", kernel_shape=[2, 2])]
    g = import_onnx(model(nodes))
    assert [n.name for n in g.nodes] == ["live"] and "unused" not in g.tensors


def test_identity_of_the_input_as_output_is_an_error():
    with pytest.raises(ModelImportError, match="graph input"):
        import_onnx(_single("Identity", ["x"]))


def test_every_op_case_and_random_model_imports_to_ir_ops():
    for c in op_case_models():
        g = import_onnx(c.model)
        assert {n.op for n in g.nodes} <= set(OPS), c.name
        assert all(n.source for n in g.nodes), c.name
    for seed in range(12):
        g = import_onnx(random_onnx_model(seed))
        assert {n.op for n in g.nodes} <= set(OPS)
