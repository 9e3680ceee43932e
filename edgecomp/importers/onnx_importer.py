"""ONNX -> edgecomp IR.

    graph = import_onnx("model.onnx")        # or an onnx.ModelProto

Steps: read and check the model (``onnx_load``), pin a dynamic batch to 1, run ONNX shape
inference, check EVERY node for support and raise one error listing all offenders
(``onnx_check``), then walk the nodes in order: fold constants and shape arithmetic
(``onnx_fold``), convert the rest (``onnx_ops``) and fold BatchNormalization and bias Adds into
their Conv/Gemm. Each IR node records the ONNX nodes it stands for in ``Node.source``.
"""
from __future__ import annotations

import os

import numpy as np
import onnx

from .. import ir
from ..errors import UnsupportedOpError
from .onnx_build import Builder
from .onnx_check import check_model
from .onnx_fold import FOLDERS, fold_node, node_attrs
from .onnx_load import build_view, load
from .onnx_ops import CONVERTERS


def import_onnx(src: "str | os.PathLike | onnx.ModelProto") -> ir.Graph:
    """Import an ONNX model (path or ModelProto) as a validated IR graph, batch 1."""
    source = load(src)
    view = build_view(source)
    check_model(view)  # raises before any conversion work if anything is unsupported
    b = Builder(view)
    for i, node in enumerate(view.nodes):
        _convert_node(b, i, node)
    outputs, nodes = b.finish()
    live = {view.input_name, *(t for n in nodes for t in n.outputs)}
    graph = ir.Graph(
        name=view.model.graph.name or os.path.basename(source.path),
        inputs=[view.input_name], outputs=outputs,
        tensors={t: ir.TensorInfo(t, b.shapes[t]) for t in b.shapes if t in live},
        nodes=nodes,
        constants={k: v for k, v in b.constants.items()
                   if any(k in (n.attrs.get("weight"), n.attrs.get("bias")) for n in nodes)},
        metadata={"source": {
            "path": source.path, "sha256": source.sha256, "format": "onnx",
            "opset": view.opset, "ir_version": int(view.model.ir_version),
            "producer": f"{view.model.producer_name} {view.model.producer_version}".strip()}})
    graph.validate()
    return graph


def _convert_node(b: Builder, i: int, node: onnx.NodeProto) -> None:
    ins = [t for t in node.input if t]
    if node.op_type == "Constant" or (node.op_type in FOLDERS and ins
                                      and all(b.is_value(t) for t in ins)):
        args = [b.values[b.resolve(t)] if t else None for t in node.input]
        for name, value in zip(node.output, fold_node(node, args, b.v.where(i))):
            if name:
                b.values[name] = np.asarray(value)
        return
    if node.op_type in ("Shape", "Size"):
        _fold_shape(b, i, node)
        return
    converter = CONVERTERS.get(node.op_type)
    if converter is None:  # the check should have caught it; keep the error precise anyway
        raise UnsupportedOpError(f"{b.v.where(i)}: operator {node.op_type!r} is not supported")
    converter(b, i, node, node_attrs(node))


def _fold_shape(b: Builder, i: int, node: onnx.NodeProto) -> None:
    """Shape / Size of an activation or constant: known now that the batch is 1."""
    t = b.resolve(node.input[0])
    shape = b.values[t].shape if t in b.values else b.shapes[b.act(t, i)]
    if node.op_type == "Size":
        b.values[node.output[0]] = np.asarray(int(np.prod(shape, dtype=np.int64)), np.int64)
        return
    a = node_attrs(node)  # opset 15 start/end slice the shape, with Python semantics
    end = a.get("end")
    b.values[node.output[0]] = np.asarray(shape[a.get("start", 0):end], dtype=np.int64)


__all__ = ["import_onnx"]
