"""Format 1.1 ops at the packed-model level: the C runtime reproduces the integer spec on
random and extreme inputs (any thread count), and both readers (Python and C) reject each op's
malformed params and tables with a message naming the node."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecomp.errors import FormatError
from edgecomp.packed import write_ecm
from edgecomp.packed.reader import parse_ecm
from edgecomp.runtime import Runtime
from edgecomp.testing.pipeline_check import runtime_matches_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "tests"))
from gen_golden import ops_1_1  # noqa: E402


def _inputs(model, seed):
    rng = np.random.default_rng(seed)
    shape = model.input.shape
    return [rng.integers(-128, 128, shape).astype(np.int8), np.full(shape, -128, np.int8),
            np.full(shape, 127, np.int8), np.where(rng.random(shape) < 0.5, -128, 127)
            .astype(np.int8)]


@pytest.mark.parametrize("seed", range(6))
def test_ops_1_1_bit_exact(seed):
    model = ops_1_1(100 + seed)
    runtime_matches_spec(model, _inputs(model, seed), threads=1 + seed % 3)


def _node(model, op):
    return next(n for n in model.nodes if n.op == op)


def _mutations():
    def params(op, k, v):
        def f(m):
            _node(m, op).params[k] = v
        return f

    def table(op, k, v):
        def f(m):
            _node(m, op).table[k] = v
        return f

    def lut_size(m):
        _node(m, "LUT").table = _node(m, "LUT").table[:100]
    return {
        "transpose_perm": (params("TRANSPOSE", 1, 1), "(TRANSPOSE)", "perm"),
        "pad_negative": (params("PAD", 2, -1), "(PAD)", "pad"),
        "pad_value": (params("PAD", 8, 300), "(PAD)", "pad value 300"),
        "mul_shift": (params("MUL", 1, 0), "(MUL)", "shift"),
        "lrn_size": (params("LRN", 0, 0), "(LRN)", "size"),
        "lrn_negative_multiplier": (table("LRN", 3, -5), "(LRN)", "multiplier"),
        "resize_mode": (params("RESIZE", 0, 7), "(RESIZE)", "mode 7"),
        "resize_index": (table("RESIZE", 0, 1000), "(RESIZE)", "table"),
        "resize_weight": (table("RESIZE", 2, 2000), "(RESIZE)", "table"),
        "lut_size": (lut_size, "(LUT)", "LUT"),
    }


@pytest.mark.parametrize("key", sorted(_mutations()))
def test_both_readers_reject_malformed_new_ops(key):
    mutate, op, word = _mutations()[key]
    model = copy.deepcopy(ops_1_1(5))
    mutate(model)
    data = write_ecm(model)
    with pytest.raises(FormatError) as py_err:
        parse_ecm(data)
    assert op in str(py_err.value) and word.lower() in str(py_err.value).lower()
    with pytest.raises(FormatError) as c_err:
        Runtime(data)
    assert op in str(c_err.value) and word.lower() in str(c_err.value).lower()


def test_expand_shape_mismatch_is_rejected():
    from edgecomp.packed.model import QModel, QNode, QTensor
    tensors = [QTensor("x", (1, 3, 1, 1), 0.1, 0), QTensor("y", (1, 8, 2, 2), 0.1, 0)]
    model = QModel(tensors, [QNode("EXPAND", "bad_expand", [0], [1], [])], [0], [1])
    data = write_ecm(model)
    with pytest.raises(FormatError, match="bad_expand.*EXPAND.*does not broadcast"):
        parse_ecm(data)
    with pytest.raises(FormatError, match="bad_expand.*EXPAND.*does not broadcast"):
        Runtime(data)
    tensors[0].shape = (1, 1, 2, 1)  # a legal broadcast loads
    Runtime(write_ecm(model))
