"""Constant folding of ONNX shape arithmetic, in numpy.

Exporters write ``x.view(x.size(0), -1)`` as Shape -> Gather -> Unsqueeze -> Concat -> Reshape,
and weights sometimes arrive through Constant / Identity / Cast / Transpose nodes. Once the batch
is fixed to 1 every such value is known at import time; this module evaluates them so the IR only
holds real computation. One small function per op, keyed by ONNX op name (``FOLDERS``).

``Shape`` and ``Size`` are not here: they read an activation's shape, which only the importer
knows (see ``onnx_importer``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelImportError

Folder = Callable[[onnx.NodeProto, list, dict], list]


def node_attrs(node: onnx.NodeProto) -> dict:
    """Attributes as Python values (tensors as numpy arrays)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[a.name] = v
    return out


def constant_value(node: onnx.NodeProto, attrs: dict) -> np.ndarray:
    """The value of a Constant node (any of its value_* attribute forms)."""
    if "value" in attrs:
        return np.asarray(attrs["value"])
    if "value_float" in attrs:
        return np.asarray(attrs["value_float"], dtype=np.float32)
    if "value_floats" in attrs:
        return np.asarray(attrs["value_floats"], dtype=np.float32)
    if "value_int" in attrs:
        return np.asarray(attrs["value_int"], dtype=np.int64)
    if "value_ints" in attrs:
        return np.asarray(attrs["value_ints"], dtype=np.int64)
    raise ModelImportError(f"Constant node {node.name!r}: unsupported value attribute "
                           f"{sorted(attrs)} (only tensor/float(s)/int(s) constants)")


def _axes(attrs: dict, inputs: list, index: int) -> list[int] | None:
    """Axes from the opset>=13 input or the older attribute."""
    if len(inputs) > index and inputs[index] is not None:
        return [int(a) for a in np.asarray(inputs[index]).ravel()]
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    return None


def _unsqueeze(node, inputs, attrs):
    x = inputs[0]
    axes = _axes(attrs, inputs, 1) or []
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = np.expand_dims(x, a)
    return [x]


def _squeeze(node, inputs, attrs):
    x = inputs[0]
    axes = _axes(attrs, inputs, 1)
    if axes is None:
        return [np.squeeze(x)]
    return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes))]


def reshape_target(in_shape: tuple[int, ...], shape: np.ndarray, allowzero: int = 0,
                   where: str = "Reshape") -> tuple[int, ...]:
    """ONNX Reshape's output shape: 0 copies the input dim (unless allowzero), -1 is inferred."""
    dims = [int(d) for d in np.asarray(shape).ravel()]
    out = []
    for i, d in enumerate(dims):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise ModelImportError(f"{where}: shape {dims} copies dim {i} (0) but the input "
                                       f"{tuple(in_shape)} has rank {len(in_shape)}")
            d = in_shape[i]
        out.append(d)
    total = int(np.prod(in_shape, dtype=np.int64))
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise ModelImportError(f"{where}: invalid target shape {dims}")
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        if known == 0 or total % known:
            raise ModelImportError(f"{where}: cannot reshape {tuple(in_shape)} to {dims}")
        out[out.index(-1)] = total // known
    if int(np.prod(out, dtype=np.int64)) != total:
        raise ModelImportError(f"{where}: cannot reshape {tuple(in_shape)} "
                               f"({total} elements) to {dims}")
    return tuple(out)


def flatten_target(in_shape: tuple[int, ...], axis: int) -> tuple[int, int]:
    axis = axis % len(in_shape) if axis < 0 else axis
    return (int(np.prod(in_shape[:axis], dtype=np.int64)),
            int(np.prod(in_shape[axis:], dtype=np.int64)))


def _reshape(node, inputs, attrs):
    x = inputs[0]
    return [x.reshape(reshape_target(x.shape, inputs[1], attrs.get("allowzero", 0),
                                     f"Reshape node {node.name!r}"))]


def _slice(node, inputs, attrs):
    x = inputs[0]
    if len(inputs) >= 3:  # opset >= 10: starts, ends, [axes], [steps] are inputs
        starts, ends = np.asarray(inputs[1]).ravel(), np.asarray(inputs[2]).ravel()
        axes = (np.asarray(inputs[3]).ravel() if len(inputs) > 3 and inputs[3] is not None
                else np.arange(len(starts)))
        steps = (np.asarray(inputs[4]).ravel() if len(inputs) > 4 and inputs[4] is not None
                 else np.ones(len(starts), dtype=np.int64))
    else:
        starts, ends = np.asarray(attrs["starts"]), np.asarray(attrs["ends"])
        axes = np.asarray(attrs.get("axes", range(len(starts))))
        steps = np.ones(len(starts), dtype=np.int64)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        # Python slicing clamps out-of-range starts/ends exactly as ONNX specifies (INT_MAX too).
        index[int(a) % x.ndim] = slice(int(s), int(e), int(st))
    return [x[tuple(index)]]


def _div(node, inputs, attrs):
    a, b = inputs
    if np.issubdtype(np.result_type(a, b), np.integer):
        return [(np.trunc(a / b)).astype(np.result_type(a, b))]  # ONNX integer Div truncates
    return [np.divide(a, b).astype(np.result_type(a, b))]


def _binary(fn):
    def fold(node, inputs, attrs):
        return [np.asarray(fn(inputs[0], inputs[1]))]
    return fold


def _unary(fn):
    def fold(node, inputs, attrs):
        return [np.asarray(fn(inputs[0])).astype(inputs[0].dtype)]
    return fold


def _cast(node, inputs, attrs):
    return [inputs[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))]


def _constant_of_shape(node, inputs, attrs):
    value = np.asarray(attrs.get("value", np.zeros(1, dtype=np.float32))).ravel()
    return [np.full(tuple(int(d) for d in inputs[0].ravel()), value[0], dtype=value.dtype)]


def _range(node, inputs, attrs):
    start, limit, delta = (np.asarray(v).item() for v in inputs)
    return [np.arange(start, limit, delta).astype(inputs[0].dtype)]


def _variadic(fn):
    def fold(node, inputs, attrs):
        out = inputs[0]
        for v in inputs[1:]:
            out = fn(out, v)
        return [np.asarray(out)]
    return fold


def _dropout(node, inputs, attrs):
    return [inputs[0], np.ones(inputs[0].shape, dtype=bool)]


FOLDERS: dict[str, Folder] = {
    "Identity": lambda n, i, a: [i[0]],
    "Dropout": _dropout,
    "Cast": _cast,
    "Gather": lambda n, i, a: [np.take(i[0], i[1].astype(np.int64), axis=a.get("axis", 0))],
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda n, i, a: [np.concatenate([np.atleast_1d(v) for v in i], axis=a["axis"])],
    "Reshape": _reshape,
    "Flatten": lambda n, i, a: [i[0].reshape(flatten_target(i[0].shape, a.get("axis", 1)))],
    "Transpose": lambda n, i, a: [np.transpose(i[0], a.get("perm"))],
    "Slice": _slice,
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _div,
    "Equal": _binary(np.equal),
    "Less": _binary(np.less),
    "Greater": _binary(np.greater),
    "Where": lambda n, i, a: [np.where(i[0], i[1], i[2])],
    "Not": lambda n, i, a: [np.logical_not(i[0])],
    "Neg": _unary(np.negative),
    "Abs": _unary(np.abs),
    "Floor": _unary(np.floor),
    "Ceil": _unary(np.ceil),
    "Sqrt": _unary(np.sqrt),
    "Min": _variadic(np.minimum),
    "Max": _variadic(np.maximum),
    "ConstantOfShape": _constant_of_shape,
    "Expand": lambda n, i, a: [i[0] * np.ones(tuple(int(d) for d in i[1].ravel()),
                                              dtype=i[0].dtype)],
    "Range": _range,
}


def fold_node(node: onnx.NodeProto, inputs: list, where: str) -> list[np.ndarray]:
    """Evaluate one node whose inputs are all constants; ``where`` names it for errors."""
    attrs = node_attrs(node)
    try:
        if node.op_type == "Constant":
            return [constant_value(node, attrs)]
        return FOLDERS[node.op_type](node, inputs, attrs)
    except ModelImportError:
        raise
    except Exception as exc:  # numpy errors on malformed constants: name the node
        raise ModelImportError(f"{where}: cannot fold constant {node.op_type}: {exc}") from exc
