"""Structural and shape checks of a QModel (docs/format.md 2.2, 2.3, 3.1, 6).

Used by the reader on untrusted files and by the compressor before writing, so a model that
would be rejected at load is never written.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import FormatError
from .limits import check_limits
from .model import RESIZE_BILINEAR, RESIZE_NEAREST, RESIZE_ONE, QModel, QNode


def conv_out(size: int, k: int, stride: int, pad0: int, pad1: int, dil: int = 1) -> int:
    return (size + pad0 + pad1 - dil * (k - 1) - 1) // stride + 1


def pool_out_options(size: int, k: int, stride: int, pad0: int, pad1: int) -> set[int]:
    span = size + pad0 + pad1 - k
    return {span // stride + 1, -(-span // stride) + 1}


def _fail(node: QNode, i: int, msg: str):
    raise FormatError(f"node {i} {node.name!r} ({node.op}): {msg}")


def _check_window(node: QNode, i: int, p: list[int], x, y, conv: bool) -> None:
    kh, kw, sh, sw, pt, pl, pb, pr = p[:8]
    dh, dw = (p[8], p[9]) if conv else (1, 1)
    if min(kh, kw, sh, sw, dh, dw) < 1 or max(kh, kw, sh, sw, dh, dw) > 64:
        _fail(node, i, f"kernel/stride/dilation {p[:10] if conv else p[:4]} out of [1, 64]")
    if min(pt, pl, pb, pr) < 0 or max(pt, pl, pb, pr) > 64:
        _fail(node, i, f"pads {p[4:8]} out of [0, 64]")
    if len(x) != 4 or len(y) != 4 or x[0] != 1 or y[0] != 1:
        _fail(node, i, f"needs NCHW batch-1 input and output, got {x} -> {y}")
    if conv:
        want = (conv_out(x[2], kh, sh, pt, pb, dh), conv_out(x[3], kw, sw, pl, pr, dw))
        ok = tuple(y[2:]) == want
    else:
        if pt >= kh or pb >= kh or pl >= kw or pr >= kw:
            _fail(node, i, f"pads {p[4:8]} must be smaller than the window {kh}x{kw}")
        ok = (y[2] in pool_out_options(x[2], kh, sh, pt, pb)
              and y[3] in pool_out_options(x[3], kw, sw, pl, pr)
              # every window must hold at least one input element
              and (y[2] - 1) * sh - pt < x[2] and (y[3] - 1) * sw - pl < x[3])
    if not ok or min(y[2:]) < 1:
        _fail(node, i, f"output shape {y} does not follow from input {x} and params {p}")


def _check_act(node: QNode, i: int, lo: int, hi: int) -> None:
    if not -128 <= lo <= hi <= 127:
        _fail(node, i, f"clamp [{lo}, {hi}] is not an int8 range")


def _check_requant(node: QNode, i: int) -> None:
    m, s = node.multiplier, node.shift
    if np.any(m < 0) or np.any(s < 1) or np.any(s > 62):
        _fail(node, i, "multiplier must be >= 0 and shift in [1, 62]")


def _check_ms(node: QNode, i: int, m: int, s: int, max_shift: int = 62) -> None:
    if m < 0 or not 1 <= s <= max_shift:
        _fail(node, i, f"multiplier {m} / shift {s} out of range")


_INPUT_COUNTS = {"ADD": 2, "MUL": 2}  # CONCAT: any number >= 1; every other op: exactly 1


def _check_accumulator(node: QNode, i: int) -> None:
    """|bias| + 255 * sum|w| < 2^31 per row, so the int32 accumulator cannot overflow."""
    worst = np.abs(node.bias.astype(np.int64)) + 255 * np.abs(
        node.weights.astype(np.int64)).sum(axis=1)
    if np.any(worst >= 2 ** 31):
        c = int(np.argmax(worst))
        _fail(node, i, f"output channel {c} could overflow the int32 accumulator "
              f"(|bias| + 255 * sum|w| = {int(worst[c])})")


def check_node(model: QModel, node: QNode, i: int) -> None:
    want = _INPUT_COUNTS.get(node.op, None if node.op == "CONCAT" else 1)
    if want is not None and len(node.inputs) != want:
        _fail(node, i, f"takes {want} input(s), has {len(node.inputs)}")
    x = model.tensors[node.inputs[0]].shape
    yt = model.tensors[node.outputs[0]]
    y = yt.shape
    p = node.params
    op = node.op
    if op == "CONV":
        g = p[10]
        if len(x) != 4 or len(y) != 4 or g < 1 or x[1] % g or y[1] % g:
            _fail(node, i, f"groups {g} must divide input channels and output channels "
                  f"({x} -> {y})")
        _check_window(node, i, p, x, y, conv=True)
        _check_act(node, i, p[11], p[12])
        _check_requant(node, i)
        k = x[1] // g * p[0] * p[1]
        if node.weights.shape == (y[1], k):
            _check_accumulator(node, i)
        if node.weights.shape != (y[1], k):
            _fail(node, i, f"weights {node.weights.shape} != ({y[1]}, {k})")
    elif op == "FC":
        if len(y) != 2 or y[0] != 1:
            _fail(node, i, f"output must be [1, C_out], got {y}")
        k = math.prod(x[1:])
        if x[0] != 1 or node.weights.shape != (y[1], k):
            _fail(node, i, f"weights {node.weights.shape} do not match input {x} -> {y}")
        _check_act(node, i, p[0], p[1])
        _check_requant(node, i)
        _check_accumulator(node, i)
    elif op in ("MAXPOOL", "AVGPOOL"):
        _check_window(node, i, p, x, y, conv=False)
        if x[1] != y[1]:
            _fail(node, i, f"channels change {x} -> {y}")
        if op == "AVGPOOL":
            if p[8] not in (0, 1):
                _fail(node, i, f"count_include_pad {p[8]} is not 0 or 1")
            _check_ms(node, i, p[9], p[10], max_shift=30)
    elif op == "GLOBALAVGPOOL":
        if len(x) != 4 or y != (1, x[1], 1, 1):
            _fail(node, i, f"output {y} must be (1, {x[1] if len(x) > 1 else '?'}, 1, 1)")
        if x[2] * x[3] > 65536:
            _fail(node, i, f"H*W = {x[2] * x[3]} exceeds 65536")
        _check_ms(node, i, p[0], p[1], max_shift=30)
    elif op == "ADD":
        if len(node.inputs) != 2:
            _fail(node, i, f"takes 2 inputs, has {len(node.inputs)}")
        b = model.tensors[node.inputs[1]].shape
        if not (x == b == y):
            _fail(node, i, f"input shapes {x}, {b} and output {y} must be equal")
        _check_ms(node, i, p[0], p[2])
        _check_ms(node, i, p[1], p[2])
        _check_act(node, i, p[3], p[4])
    elif op == "CONCAT":
        axis = p[0]
        if not 0 <= axis < len(y):
            _fail(node, i, f"axis {axis} out of range for rank {len(y)}")
        total = 0
        for j, t in enumerate(node.inputs):
            s = model.tensors[t].shape
            if len(s) != len(y) or any(a != b for d, (a, b) in enumerate(zip(s, y)) if d != axis):
                _fail(node, i, f"input {j} shape {s} does not match output {y} off axis {axis}")
            total += s[axis]
            _check_ms(node, i, p[1 + 2 * j], p[2 + 2 * j])
        if total != y[axis]:
            _fail(node, i, f"inputs add up to {total} on axis {axis}, output has {y[axis]}")
    elif op == "CLAMP":
        if x != y:
            _fail(node, i, f"shape changes {x} -> {y}")
        _check_act(node, i, p[0], p[1])
    elif op == "SOFTMAX":
        if x != y:
            _fail(node, i, f"shape changes {x} -> {y}")
        t = node.exp_table
        if np.any(t < 0) or np.any(t > (1 << 24)) or t[0] < 1:
            _fail(node, i, "exp table entries must be in [0, 2^24] and entry 0 >= 1")
    elif op == "RESHAPE":
        if math.prod(x) != math.prod(y):
            _fail(node, i, f"element count changes {x} -> {y}")
    elif op in _CHECKS_1_1:
        _CHECKS_1_1[op](model, node, i, x, y)
    if op in ("MAXPOOL", "CLAMP", "RESHAPE", "EXPAND", "PAD", "TRANSPOSE") or (
            op == "RESIZE" and p[0] == RESIZE_NEAREST):
        xt = model.tensors[node.inputs[0]]
        if (xt.scale, xt.zero_point) != (yt.scale, yt.zero_point):
            _fail(node, i, "output quantization must equal the input's")


# -- ops of format 1.1 (docs/format.md 2.3) ---------------------------------------------------
def _check_lut(model, node, i, x, y):
    if x != y:
        _fail(node, i, f"shape changes {x} -> {y}")
    if node.table is None or node.table.shape != (256,):
        _fail(node, i, "needs a LUT of 256 int8 entries")


def _check_mul(model, node, i, x, y):
    b = model.tensors[node.inputs[1]].shape
    if not (x == b == y):
        _fail(node, i, f"input shapes {x}, {b} and output {y} must be equal")
    _check_ms(node, i, node.params[0], node.params[1])
    _check_act(node, i, node.params[2], node.params[3])


def _check_expand(model, node, i, x, y):
    if len(x) != len(y) or any(a not in (1, b) for a, b in zip(x, y)):
        _fail(node, i, f"input {x} does not broadcast to output {y} (same rank, each dim "
              "equal or 1)")


def _check_pad(model, node, i, x, y):
    p = node.params
    begin, end, value = p[0:4], p[4:8], p[8]
    if len(x) != len(y) or min(begin + end) < 0 or any(v for v in begin[len(x):] + end[len(x):]):
        _fail(node, i, f"pads {begin} / {end} must be >= 0 and 0 past rank {len(x)}")
    want = tuple(d + a + b for d, a, b in zip(x, begin, end))
    if y != want:
        _fail(node, i, f"output shape {y} != input {x} + pads {begin} / {end} = {want}")
    if not -128 <= value <= 127:
        _fail(node, i, f"pad value {value} is not an int8")


def _check_lrn(model, node, i, x, y):
    size, acc_shift, s = node.params
    if len(x) != 4 or x[0] != 1 or x != y:
        _fail(node, i, f"needs an NCHW batch-1 input and the same output shape, got {x} -> {y}")
    if not 1 <= size <= 255 or not 0 <= acc_shift <= 30 or not 1 <= s <= 62:
        _fail(node, i, f"size {size} (1..255), acc_shift {acc_shift} (0..30) or S {s} (1..62) "
              "out of range")
    t = node.table
    if t is None or not 1 <= t.size <= 65536 or np.any(t < 0):
        _fail(node, i, "needs a TABLE_I32 of 1..65536 multipliers, each >= 0")


def _check_resize(model, node, i, x, y):
    mode, m, s = node.params
    if len(x) != 4 or len(y) != 4 or x[0] != 1 or y[0] != 1 or x[1] != y[1]:
        _fail(node, i, f"needs NCHW batch-1 tensors with the same channels, got {x} -> {y}")
    if mode not in (RESIZE_NEAREST, RESIZE_BILINEAR):
        _fail(node, i, f"mode {mode} is not 0 (nearest) or 1 (bilinear)")
    _check_ms(node, i, m, s)
    t = node.table
    ho, wo = y[2], y[3]
    if t is None or t.size != 3 * (ho + wo):
        _fail(node, i, f"needs a TABLE_I32 of 3 * (H_out + W_out) = {3 * (ho + wo)} entries")
    rows, cols = t[:3 * ho].reshape(ho, 3), t[3 * ho:].reshape(wo, 3)
    for what, tab, n in (("row", rows, x[2]), ("column", cols, x[3])):
        if (np.any(tab[:, :2] < 0) or np.any(tab[:, :2] >= n) or np.any(tab[:, 2] < 0)
                or np.any(tab[:, 2] > RESIZE_ONE)):
            _fail(node, i, f"{what} table: indices must be in [0, {n - 1}] and weights in "
                  f"[0, {RESIZE_ONE}]")


def _check_transpose(model, node, i, x, y):
    perm = node.params
    r = len(x)
    if sorted(perm[:r]) != list(range(r)) or list(perm[r:]) != list(range(r, 4)):
        _fail(node, i, f"perm {perm} is not a permutation of the first {r} axes")
    if y != tuple(x[a] for a in perm[:r]):
        _fail(node, i, f"output shape {y} != input {x} permuted by {perm[:r]}")


_CHECKS_1_1 = {"LUT": _check_lut, "MUL": _check_mul, "EXPAND": _check_expand, "PAD": _check_pad,
               "LRN": _check_lrn, "RESIZE": _check_resize, "TRANSPOSE": _check_transpose}


def check_model(model: QModel) -> None:
    """Topological order, one producer per tensor, and every node's shapes and params."""
    produced = set(model.inputs)
    for i, node in enumerate(model.nodes):
        for t in node.inputs:
            if t not in produced:
                _fail(node, i, f"reads tensor {t} ({model.tensors[t].name!r}) before it is "
                      "produced: nodes are not in topological order (or the graph has a cycle)")
        for t in node.outputs:
            if t in produced:
                _fail(node, i, f"tensor {t} ({model.tensors[t].name!r}) is produced twice")
            produced.add(t)
        check_node(model, node, i)
    for t in model.outputs:
        if t not in produced:
            raise FormatError(f"graph output tensor {t} is never produced")
    orphans = [t.name for j, t in enumerate(model.tensors) if j not in produced]
    if orphans:
        raise FormatError(f"tensor {orphans[0]!r} is neither the graph input nor the output of "
                          f"a node ({len(orphans)} such tensors)")
    check_limits(model)
