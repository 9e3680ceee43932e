"""Pre-conversion check: every node of the model is examined before any conversion work.

Each supported ONNX op has a small checker that returns the reasons (if any) the node cannot be
imported: an unsupported attribute value, a weight that is computed at run time, a shape edgecomp
cannot run. ``check_model`` gathers the reasons of ALL nodes and raises one
``UnsupportedOpError`` naming each offending op, node and the model, so a user sees the whole
list at once instead of fixing one node per run.

Shapes here come from ONNX shape inference and may be missing; checks that need an unknown shape
are left to the converter, which computes every shape itself.
"""
from __future__ import annotations

from typing import Callable

import onnx

from ..errors import UnsupportedOpError
from .onnx_fold import FOLDERS, node_attrs
from .onnx_load import DEFAULT_DOMAINS, SHAPE_OPS, OnnxView

Checker = Callable[[OnnxView, int, onnx.NodeProto, dict], list[str]]
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _input(node: onnx.NodeProto, k: int) -> str:
    return node.input[k] if len(node.input) > k else ""


def _rank(v: OnnxView, t: str) -> int | None:
    if t in v.initializers:
        return len(v.initializers[t].dims)
    shape = v.shapes.get(t)
    return None if shape is None else len(shape)


def _static(v: OnnxView, node, positions, labels) -> list[str]:
    """Inputs at ``positions`` (when present) must be known at import time."""
    out = []
    for k, label in zip(positions, labels):
        t = _input(node, k)
        if t and t not in v.static:
            out.append(f"{label} input {t!r} is computed at run time; edgecomp needs it constant")
    return out


def _activation(v: OnnxView, node, k: int = 0) -> list[str]:
    t = _input(node, k)
    if t in v.static:
        return [f"input {t!r} is a constant; this op is supported on activations only"]
    return []


def _unused_extra_outputs(v: OnnxView, node, what: str) -> list[str]:
    return [f"its {what} output {t!r} is used; only the first output is supported"
            for t in node.output[1:] if v.used(t)]


def _window(v: OnnxView, node, a: dict, rank_of: str, is_pool: bool) -> list[str]:
    """Attributes shared by Conv and the pools: 2-D only, auto_pad, pads."""
    out = []
    auto_pad = a.get("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PADS:
        out.append(f"auto_pad={auto_pad!r} is not one of {AUTO_PADS}")
    ks = a.get("kernel_shape")
    rank = len(ks) + 2 if ks is not None else _rank(v, rank_of)
    if rank is not None and rank != 4:
        out.append(f"only 2-D windows (rank-4 NCHW tensors) are supported, got rank {rank}")
    pads = a.get("pads")
    if pads is not None and any(p < 0 for p in pads):
        out.append(f"negative pads {list(pads)} are not supported")
    if is_pool and ks is not None and pads is not None and len(pads) == 2 * len(ks):
        if any(p >= ks[j % len(ks)] for j, p in enumerate(pads)):
            out.append(f"pads {list(pads)} must be smaller than kernel_shape {list(ks)}")
    return out


def _conv(v, i, node, a):
    return (_activation(v, node) + _static(v, node, (1, 2), ("weight", "bias"))
            + _window(v, node, a, _input(node, 1), is_pool=False))


def _gemm(v, i, node, a):
    out = _activation(v, node) + _static(v, node, (1, 2), ("B (weight)", "C (bias)"))
    if a.get("transA", 0):
        out.append("transA=1 is not supported (activation must be [1, K])")
    if _rank(v, _input(node, 0)) not in (None, 2):
        out.append(f"input A must be rank 2, got rank {_rank(v, _input(node, 0))}")
    return out


def _matmul(v, i, node, a):
    out = _activation(v, node) + _static(v, node, (1,), ("second (weight)",))
    for k, label in ((0, "first input"), (1, "weight")):
        r = _rank(v, _input(node, k))
        if r not in (None, 2):
            out.append(f"{label} must be rank 2, got rank {r} (only [1, K] x [K, N] maps to Gemm)")
    return out


def _clip(v, i, node, a):
    return _activation(v, node) + _static(v, node, (1, 2), ("min", "max"))


def _pool(v, i, node, a):
    out = _activation(v, node) + _window(v, node, a, _input(node, 0), is_pool=True)
    out += _unused_extra_outputs(v, node, "Indices")
    if any(d != 1 for d in a.get("dilations", [])):
        out.append(f"dilations={list(a['dilations'])} are not supported (only 1)")
    if "kernel_shape" not in a:
        out.append("kernel_shape is missing")
    if a.get("count_include_pad", 0) not in (0, 1):
        out.append(f"count_include_pad={a['count_include_pad']} must be 0 or 1")
    return out


def _global_pool(v, i, node, a):
    out = _activation(v, node)
    r = _rank(v, _input(node, 0))
    if r not in (None, 4):
        out.append(f"input must be rank 4 (NCHW), got rank {r}")
    return out


def _reshape(v, i, node, a):
    return _activation(v, node) + _static(v, node, (1,), ("shape",))


def _add(v, i, node, a):
    ins = [_input(node, 0), _input(node, 1)]
    consts = [t for t in ins if t in v.static]
    if not consts:
        shapes = [v.shapes.get(t) for t in ins]
        if None not in shapes and _broadcasts(*shapes):
            return [f"inputs have shapes {shapes[0]} and {shapes[1]}; only same-shape "
                    "activations (no broadcasting) are supported"]
        return []
    # A constant operand is only supported as the bias of the layer that produces the other one.
    act = ins[1] if ins[0] in v.static else ins[0]
    if act in v.static:
        return []  # fully constant: folded
    p = v.producer.get(act)
    if (p is None or v.nodes[p].op_type not in ("MatMul", "Gemm", "Conv")
            or len(v.consumers.get(act, [])) != 1 or act in v.outputs):
        return [f"adding constant {consts[0]!r} is only supported as the bias of the MatMul/Gemm/"
                f"Conv that produces {act!r} (and is its only consumer)"]
    return []


def _broadcasts(a: tuple, b: tuple) -> bool:
    """True for a real broadcast (ranks or a 1 against a non-1 dim). Other differences can be
    ONNX inference being off by one on a ceil_mode pool; the converter checks exact shapes."""
    return len(a) != len(b) or any((x == 1) != (y == 1) for x, y in zip(a, b))


def _concat(v, i, node, a):
    out = [f"input {t!r} is a constant; Concat of constants with activations is not supported"
           for t in node.input if t in v.static]
    r = _rank(v, _input(node, 0))
    axis = a.get("axis")
    if r is not None and axis is not None and axis % r == 0:
        out.append("concatenation along the batch axis (0) is not supported")
    return out


def _softmax(v, i, node, a):
    out = _activation(v, node)
    t = _input(node, 0)
    shape = v.shapes.get(t)
    if shape is None:
        return out
    r = len(shape)
    axis = a.get("axis", -1 if v.opset >= 13 else 1) % r
    # Before opset 13 Softmax flattens [axis:]: the last axis when the dims in between are 1.
    last = axis == r - 1 or (v.opset < 13 and all(d == 1 for d in shape[axis:-1]))
    if not last:
        out.append(f"softmax over axis {a.get('axis')} of a rank-{r} tensor {shape}: only the "
                   "last axis is supported")
    return out


def _dropout(v, i, node, a):
    out = _activation(v, node) + _unused_extra_outputs(v, node, "mask")
    out += _static(v, node, (2,), ("training_mode",))
    if a.get("is_test", 1) == 0 and v.opset < 7:
        out.append("is_test=0 (training mode) is not supported")
    return out


def _identity(v, i, node, a):
    return _activation(v, node)


def _batchnorm(v, i, node, a):
    out = _activation(v, node) + _static(v, node, (1, 2, 3, 4),
                                         ("scale", "B", "mean", "var"))
    out += _unused_extra_outputs(v, node, "training statistics")
    if a.get("training_mode", 0):
        out.append("training_mode=1 is not supported")
    if a.get("spatial", 1) != 1:
        out.append("spatial=0 is not supported")
    x = _input(node, 0)
    p = v.producer.get(x)
    producer_ok = p is not None and (
        v.nodes[p].op_type in ("Conv", "Gemm", "MatMul")
        or (v.nodes[p].op_type == "Add" and _is_bias_add(v, v.nodes[p])))
    if not producer_ok or len(v.consumers.get(x, [])) != 1 or x in v.outputs:
        out.append(f"BatchNormalization is only supported folded into the Conv/Gemm/MatMul that "
                   f"produces its input {x!r} (as that tensor's only consumer); a standalone "
                   "BatchNormalization is not supported")
    return out


def _is_bias_add(v: OnnxView, node) -> bool:
    """An Add of a constant that will fold into the bias of the layer before it."""
    ins = list(node.input)
    return len(ins) == 2 and sum(t in v.static for t in ins) == 1 and not _add(v, 0, node, {})


CHECKERS: dict[str, Checker] = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _matmul, "Relu": lambda v, i, n, a: _activation(v, n),
    "Clip": _clip, "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _global_pool,
    "Flatten": lambda v, i, n, a: _activation(v, n), "Reshape": _reshape, "Add": _add,
    "Concat": _concat, "Softmax": _softmax, "Dropout": _dropout, "Identity": _identity,
    "BatchNormalization": _batchnorm,
}


def node_problems(v: OnnxView, i: int) -> list[str]:
    node = v.nodes[i]
    if node.domain not in DEFAULT_DOMAINS:
        return [f"operator {node.op_type!r} of domain {node.domain!r} is not supported"]
    outs = [t for t in node.output if t]
    if node.op_type == "Constant" or node.op_type in SHAPE_OPS:
        return []
    if node.op_type in FOLDERS and outs and all(t in v.static for t in outs):
        return []  # folded away at import time
    checker = CHECKERS.get(node.op_type)
    if checker is None:
        return [f"operator {node.op_type!r} is not supported"]
    return checker(v, i, node, node_attrs(node))


def check_model(v: OnnxView) -> None:
    problems = []
    for i in range(len(v.nodes)):
        problems += [f"{v.nodes[i].op_type} node {v.names[i]!r}: {p}" for p in node_problems(v, i)]
    for t in v.outputs:
        if t == v.input_name or t in v.static:
            problems.append(f"graph output {t!r} is the graph input or a constant; nothing to run")
    if problems:
        missing = sorted({v.nodes[i].op_type for i in range(len(v.nodes))
                          if any(p.startswith("operator ") for p in node_problems(v, i))})
        head = f"unsupported operators {', '.join(missing)}; " if missing else ""
        raise UnsupportedOpError(
            f"{v.path}: cannot import the model, {head}{len(problems)} problem(s):\n  - "
            + "\n  - ".join(problems)
            + f"\n(edgecomp imports the ONNX ops {', '.join(sorted(CHECKERS))}, plus constant "
            "shape arithmetic it folds at import time)")


# -- operators added with format 1.1 ------------------------------------------------------------
def _binary(v, i, node, a):
    """Add/Mul of activations (broadcasting), or any of Add/Sub/Mul/Div with one constant
    operand (per-channel or scalar; the converter checks the constant's shape)."""
    ins = [_input(node, 0), _input(node, 1)]
    consts = [t for t in ins if t in v.static]
    if not consts and node.op_type not in ("Add", "Mul"):
        return [f"{node.op_type} of two activations is not supported (only Add and Mul)"]
    if node.op_type == "Div" and ins[1] not in v.static:
        return ["dividing by an activation is not supported (only by a constant)"]
    return []


def _batchnorm_any(v, i, node, a):
    out = _activation(v, node) + _static(v, node, (1, 2, 3, 4),
                                         ("scale", "B", "mean", "var"))
    out += _unused_extra_outputs(v, node, "training statistics")
    if a.get("training_mode", 0):
        out.append("training_mode=1 is not supported")
    if a.get("spatial", 1) != 1:
        out.append("spatial=0 is not supported")
    return out


def _unary(v, i, node, a):
    return _activation(v, node)


def _pad(v, i, node, a):
    out = _activation(v, node) + _static(v, node, (1, 2, 3), ("pads", "constant_value", "axes"))
    if a.get("mode", "constant") != "constant":
        out.append(f"mode={a['mode']!r} is not supported (only constant)")
    if any(p < 0 for p in a.get("pads", [])):
        out.append(f"negative pads {list(a['pads'])} are not supported")
    return out


def _lrn(v, i, node, a):
    out = _activation(v, node)
    if not 1 <= int(a.get("size", 0)) <= 255:
        out.append(f"size={a.get('size')} must be in [1, 255]")
    r = _rank(v, _input(node, 0))
    if r not in (None, 4):
        out.append(f"input must be rank 4 (NCHW), got rank {r}")
    return out


def _reduce_mean(v, i, node, a):
    return _activation(v, node) + _static(v, node, (1,), ("axes",))


def _resize(v, i, node, a):
    from ..resize import COORDS, NEAREST_MODES

    out = _activation(v, node) + _static(v, node, (1, 2, 3), ("roi/scales", "scales", "sizes"))
    if a.get("mode", "nearest") not in ("nearest", "linear", "bilinear"):
        out.append(f"mode={a['mode']!r} is not supported (nearest, linear)")
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    if coord not in COORDS:
        out.append(f"coordinate_transformation_mode={coord!r} is not supported")
    if a.get("nearest_mode", "round_prefer_floor") not in NEAREST_MODES:
        out.append(f"nearest_mode={a['nearest_mode']!r} is not supported")
    for key in ("antialias", "exclude_outside"):
        if a.get(key, 0):
            out.append(f"{key}=1 is not supported")
    r = _rank(v, _input(node, 0))
    if r not in (None, 4):
        out.append(f"input must be rank 4 (NCHW), got rank {r}")
    return out


def _softmax_any(v, i, node, a):
    return _activation(v, node)


def _mean(v, i, node, a):
    out = [f"input {t!r} is a constant; Mean of constants with activations is not supported"
           for t in node.input if t in v.static]
    if len(node.input) > 2:
        out.append(f"Mean of {len(node.input)} inputs; only 1 or 2")
    return out


CHECKERS.update({
    "Add": _binary, "Sub": _binary, "Mul": _binary, "Div": _binary,
    "BatchNormalization": _batchnorm_any,
    "Sigmoid": _unary, "HardSigmoid": _unary, "HardSwish": _unary, "Tanh": _unary,
    "LeakyRelu": _unary, "Pad": _pad, "LRN": _lrn, "Transpose": _unary, "Squeeze": _unary,
    "Unsqueeze": _unary, "ReduceMean": _reduce_mean, "Resize": _resize, "Upsample": _resize,
    "Softmax": _softmax_any, "Mean": _mean,
})
