"""TFLite -> edgecomp IR.

    graph = import_tflite("model.tflite")

Steps: read the flatbuffer (``tflite_load``), check EVERY operator and raise one error listing
all unsupported ones before any conversion, then convert in order (``tflite_ops``), folding
constant-only operators (DEQUANTIZE of float16/int8 weights, RESHAPE/TRANSPOSE of constants).
A quantized model's own quantization travels with the IR: ``TensorInfo.scale/zero_point`` (int8;
uint8 zero points shifted by -128) on every activation and ``attrs["given"]`` on weighted nodes;
``graph.metadata["quantization_given"]`` tells the quantizer to use them.
"""
from __future__ import annotations

import os

import numpy as np

from .. import ir
from ..errors import ModelImportError, UnsupportedOpError
from .tflite_load import TfView, load_tflite
from .tflite_ops import ACTIVATIONS, CONVERTERS, TfBuilder

# IR ops whose output keeps the input's quantization (a source model's params propagate)
_PASSTHROUGH = ("Reshape", "Transpose", "Expand", "Pad", "MaxPool", "Relu", "Clip")
_FOLDABLE = {
    "RESHAPE": lambda v, t: v.reshape(t.shape),
    "SQUEEZE": lambda v, t: v.reshape(t.shape),
    "EXPAND_DIMS": lambda v, t: v.reshape(t.shape),
}
_ACTIVATION_DTYPES = (np.float32, np.int8, np.uint8)


def import_tflite(src: "str | os.PathLike | bytes") -> ir.Graph:
    view = load_tflite(src)
    _check_io(view)
    check_model(view)
    b = TfBuilder(view)
    for i, node in enumerate(view.nodes):
        if _fold(b, i, node):
            continue
        CONVERTERS[node.op_type](b, i, node, node.options)
    outputs, nodes = b.finish()
    live = {view.input_name, *(t for n in nodes for t in n.outputs)}
    q = _propagate_quantization(nodes, dict(b.qparams))
    tensors = {t: ir.TensorInfo(t, b.shapes[t]) for t in b.shapes if t in live}
    for t, info in tensors.items():
        if t in q:
            info.scale, info.zero_point = q[t]
    graph = ir.Graph(
        name=os.path.basename(view.path), inputs=[view.input_name], outputs=outputs,
        tensors=tensors, nodes=nodes,
        constants={k: v for k, v in b.constants.items()
                   if any(k in (n.attrs.get("weight"), n.attrs.get("bias")) for n in nodes)},
        metadata={"source": {"path": view.path, "sha256": view.sha256, "format": "tflite",
                             "schema_version": view.version, "producer": view.description},
                  "quantization_given": bool(q),
                  "input_layout": "NCHW (from NHWC)" if len(b.shapes[view.input_name]) == 4
                  else "same",
                  "requantized_weight_channels": b.requantized_channels})
    graph.validate()
    return graph


def _check_io(view: TfView) -> None:
    if len(view.inputs) != 1:
        raise ModelImportError(f"{view.path}: edgecomp needs exactly one graph input, the model "
                               f"has {len(view.inputs)}: {view.inputs}")
    view.input_name = view.inputs[0]
    t = view.tensors[view.input_name]
    if len(t.shape) not in (2, 4) or (t.shape and t.shape[0] != 1):
        raise UnsupportedOpError(f"{view.path}: input {t.name!r} has shape {t.shape}; edgecomp "
                                 "takes batch-1 NHWC (rank 4) or [1, C] inputs")
    if t.dtype not in _ACTIVATION_DTYPES:
        raise UnsupportedOpError(f"{view.path}: input {t.name!r} is {np.dtype(t.dtype).name}; "
                                 "float32, int8 or uint8 only")


def node_problems(view: TfView, i: int) -> list[str]:
    node = view.nodes[i]
    if node.op_type not in CONVERTERS:
        return [f"operator {node.op_type} is not supported"]
    out = []
    f = node.options.get("FusedActivationFunction")
    if f is not None and int(f) not in ACTIVATIONS:
        out.append(f"fused activation {f} is not supported (NONE, RELU, RELU_N1_TO_1, RELU6)")
    if node.op_type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        for k, label in ((1, "weights"), (2, "bias")):
            t = node.input[k] if len(node.input) > k else ""
            if t and view.tensors[t].data is None and not _made_constant(view, t):
                out.append(f"{label} {t!r} is computed at run time; edgecomp needs it constant")
    for t in node.output:
        tt = view.tensors[t]
        if tt.dtype not in _ACTIVATION_DTYPES and node.op_type != "DEQUANTIZE":
            out.append(f"output {t!r} is {np.dtype(tt.dtype).name}; activations must be "
                       "float32, int8 or uint8")
    return out


def _made_constant(view: TfView, t: str) -> bool:
    """Produced by a DEQUANTIZE of a constant (float16 or int8 weights)."""
    for node in view.nodes:
        if t in node.output:
            return node.op_type == "DEQUANTIZE" and view.tensors[node.input[0]].data is not None
    return False


def check_model(view: TfView) -> None:
    problems = []
    for i in range(len(view.nodes)):
        problems += [f"{view.nodes[i].op_type} node {view.names[i]!r}: {p}"
                     for p in node_problems(view, i)]
    if problems:
        missing = sorted({n.op_type for n in view.nodes if n.op_type not in CONVERTERS})
        head = f"unsupported operators {', '.join(missing)}; " if missing else ""
        raise UnsupportedOpError(
            f"{view.path}: cannot import the model: {head}{len(problems)} problem(s):\n  - "
            + "\n  - ".join(problems)
            + f"\n(edgecomp imports the TFLite ops {', '.join(sorted(CONVERTERS))})")


def _fold(b: TfBuilder, i: int, node) -> bool:
    """Constant-only nodes are computed now."""
    ins = [t for t in node.input if t]
    if node.op_type == "DEQUANTIZE" and ins and b.is_value(ins[0]):
        CONVERTERS["DEQUANTIZE"](b, i, node, node.options)
        return True
    fold = _FOLDABLE.get(node.op_type)
    if fold is None or not ins or not b.is_value(ins[0]):
        return False
    out = b.t(node.output[0])
    b.values[out.name] = fold(np.asarray(b.values[b.resolve(ins[0])]), out)
    return True


def _propagate_quantization(nodes, q: dict) -> dict:
    """Intermediate IR tensors take the quantization of the source tensor they view: forward
    through views (layout Transposes, Reshapes), then backward, so that an intermediate that
    computes (a MEAN's pool before its squeeze, a keep_num_dims FC) takes its view's."""
    for node in nodes:
        if node.op in _PASSTHROUGH and node.outputs[0] not in q and node.inputs[0] in q:
            q[node.outputs[0]] = q[node.inputs[0]]
    for node in reversed(nodes):
        if node.op in _PASSTHROUGH and node.outputs[0] in q and node.inputs[0] not in q:
            q[node.inputs[0]] = q[node.outputs[0]]
    return q
