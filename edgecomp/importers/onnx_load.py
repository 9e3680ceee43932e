"""Reading an ONNX model and preparing a view of it for checking and conversion.

``load`` reads a path or ModelProto (recording path and SHA-256), ``fix_batch`` pins a dynamic
batch to 1, and ``OnnxView`` indexes the graph: producers, consumers, which tensors are known at
import time ("static"), and the shapes ONNX shape inference found (used by the pre-conversion
check only; conversion computes its own shapes, because ONNX inference disagrees with
onnxruntime on some ceil_mode pools).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import onnx
from onnx import TensorProto
from onnx.external_data_helper import load_external_data_for_model, uses_external_data

from ..errors import ModelImportError, UnsupportedOpError
from .onnx_fold import FOLDERS

# Ops whose outputs are known once all their inputs are; Shape/Size only need static shapes.
SHAPE_OPS = ("Shape", "Size")
DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class Source:
    model: onnx.ModelProto
    path: str        # file path, or "<ModelProto name>" for in-memory models
    sha256: str      # of the serialized model bytes (the file's bytes when read from a path)


def load(src: "str | os.PathLike | onnx.ModelProto") -> Source:
    if isinstance(src, onnx.ModelProto):
        data = src.SerializeToString()
        model = onnx.ModelProto()
        model.CopyFrom(src)
        label = f"<in-memory model {src.graph.name or 'unnamed'!r}>"
    else:
        label = os.fspath(src)
        try:
            with open(label, "rb") as f:
                data = f.read()
            model = onnx.load_model_from_string(data)
            if any(uses_external_data(t) for t in model.graph.initializer):
                # Large models keep weights in side files next to the .onnx file.
                load_external_data_for_model(model, os.path.dirname(os.path.abspath(label)))
        except OSError as exc:
            raise ModelImportError(f"{label}: cannot read ONNX model: {exc}") from exc
        except Exception as exc:  # protobuf DecodeError and friends
            raise ModelImportError(f"{label}: not a valid ONNX model: {exc}") from exc
    if not model.graph.node:
        raise ModelImportError(f"{label}: the ONNX graph has no nodes")
    try:
        onnx.checker.check_model(_checkable(model))
    except Exception as exc:
        raise ModelImportError(f"{label}: ONNX checker rejected the model: {exc}") from exc
    return Source(model, label, hashlib.sha256(data).hexdigest())


def _checkable(model: onnx.ModelProto) -> onnx.ModelProto:
    """The checker insists on a shape for every graph input/output; onnxruntime does not, and
    neither do we (shapes are inferred). Check a copy where missing shapes are filled in."""
    g = model.graph
    if all(vi.type.tensor_type.HasField("shape") for vi in [*g.input, *g.output]
           if vi.type.HasField("tensor_type")):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for vi in [*copy.graph.input, *copy.graph.output]:
        if vi.type.HasField("tensor_type") and not vi.type.tensor_type.HasField("shape"):
            vi.type.tensor_type.shape.SetInParent()
    return copy


def default_opset(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in DEFAULT_DOMAINS:
            return int(o.version)
    raise ModelImportError("model imports no version of the default ONNX domain")


def graph_input(model: onnx.ModelProto, path: str) -> onnx.ValueInfoProto:
    """The single real input (old models also list initializers as inputs)."""
    inits = {t.name for t in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in inits]
    if len(real) != 1:
        raise ModelImportError(f"{path}: edgecomp needs exactly one graph input, the model has "
                               f"{len(real)}: {[i.name for i in real]}")
    return real[0]


def fix_batch(model: onnx.ModelProto, path: str) -> tuple[int, ...]:
    """Pin the input's batch dim to 1 (in place) and return the input shape; every other dim
    must be static."""
    inp = graph_input(model, path)
    tt = inp.type.tensor_type
    if not inp.type.HasField("tensor_type") or tt.elem_type != TensorProto.FLOAT:
        raise ModelImportError(f"{path}: input {inp.name!r} must be a float32 tensor, got "
                               f"{onnx.helper.printable_type(inp.type)}")
    if not tt.HasField("shape"):
        raise ModelImportError(f"{path}: input {inp.name!r} has no shape")
    dims = tt.shape.dim
    if len(dims) not in (2, 4):
        raise UnsupportedOpError(f"{path}: input {inp.name!r} has rank {len(dims)}; edgecomp "
                                 "takes NCHW (rank 4) or [N, C] (rank 2) inputs")
    batch = dims[0]
    if batch.HasField("dim_value") and batch.dim_value > 1:
        raise UnsupportedOpError(f"{path}: input {inp.name!r} has a static batch of "
                                 f"{batch.dim_value}; edgecomp runs batch 1 (export with a "
                                 "dynamic or unit batch)")
    batch.Clear()
    batch.dim_value = 1
    shape = [1]
    for i, d in enumerate(dims[1:], start=1):
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise ModelImportError(f"{path}: input {inp.name!r} dim {i} is dynamic "
                                   f"({d.dim_param or '?'}); only the batch may be dynamic")
        shape.append(int(d.dim_value))
    return tuple(shape)


def _shape_of(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    dims = []
    for d in tt.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def inferred_shapes(model: onnx.ModelProto, path: str) -> dict[str, tuple[int, ...] | None]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:
        raise ModelImportError(f"{path}: ONNX shape inference failed: {exc}") from exc
    g = inferred.graph
    return {vi.name: _shape_of(vi) for vi in [*g.input, *g.value_info, *g.output]}


@dataclass
class OnnxView:
    """Index of a batch-fixed ONNX graph, shared by the checker and the converter."""
    model: onnx.ModelProto
    path: str
    opset: int
    input_name: str
    input_shape: tuple[int, ...]
    nodes: list[onnx.NodeProto]
    names: list[str]                               # display name per node (unique)
    initializers: dict[str, TensorProto]
    producer: dict[str, int] = field(default_factory=dict)       # tensor -> node index
    consumers: dict[str, list[int]] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    static: set[str] = field(default_factory=set)
    shapes: dict[str, tuple[int, ...] | None] = field(default_factory=dict)

    def where(self, i: int) -> str:
        """How errors name node i: op, node name, model."""
        return f"{self.nodes[i].op_type} node {self.names[i]!r} in {self.path}"

    def used(self, tensor: str) -> bool:
        return bool(tensor) and (bool(self.consumers.get(tensor)) or tensor in self.outputs)


def build_view(source: Source) -> OnnxView:
    model, path = source.model, source.path
    input_shape = fix_batch(model, path)
    g = model.graph
    view = OnnxView(model=model, path=path, opset=default_opset(model),
                    input_name=graph_input(model, path).name, input_shape=input_shape,
                    nodes=list(g.node), names=_unique_names(g.node),
                    initializers={t.name: t for t in g.initializer},
                    outputs=[o.name for o in g.output])
    defined = {view.input_name, *view.initializers}
    for i, node in enumerate(view.nodes):
        for t in node.input:
            if t and t not in defined:
                raise ModelImportError(f"{view.where(i)} reads {t!r} before it is produced "
                                       "(graph not topologically sorted)")
            if t:
                view.consumers.setdefault(t, []).append(i)
        for t in node.output:
            if t:
                view.producer[t] = i
                defined.add(t)
    view.static = _static_tensors(view)
    view.shapes = inferred_shapes(model, path)
    return view


def _unique_names(nodes) -> list[str]:
    names, seen = [], set()
    for i, n in enumerate(nodes):
        name = n.name or f"{n.op_type}_{i}"
        while name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        names.append(name)
    return names


def _static_tensors(view: OnnxView) -> set[str]:
    """Tensors whose value is known at import time (constant folding will compute them)."""
    static = set(view.initializers)
    for node in view.nodes:
        ins = [t for t in node.input if t]
        if node.domain not in DEFAULT_DOMAINS:
            continue
        if (node.op_type == "Constant" or node.op_type in SHAPE_OPS
                or (node.op_type in FOLDERS and ins and all(t in static for t in ins))):
            static.update(t for t in node.output if t)
    return static
