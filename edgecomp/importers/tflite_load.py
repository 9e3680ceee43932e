"""Reading a .tflite flatbuffer (the ``tflite`` package's generated schema code) into a view.

``load_tflite`` returns a ``TfView``: tensors (shape, dtype, constant data, quantization),
operators (op name, input/output tensor names, decoded builtin options) and the graph's inputs
and outputs. Its ``nodes`` / ``names`` / ``consumers`` / ``where`` mirror the ONNX view, so the
shared converter helpers in ``onnx_ops`` work on TFLite graphs too. Tensor names are made
unique (TFLite allows duplicates); an absent optional input is "".
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelImportError

# tflite.TensorType -> numpy
DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
          7: np.int16, 9: np.int8, 10: np.float64}
QUANTIZED = (np.uint8, np.int8)


@dataclass
class TfTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type
    data: np.ndarray | None                 # constant tensors (a non-empty buffer)
    scale: np.ndarray | None = None         # quantization, per tensor or per channel
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale is not None and self.scale.size > 0 and self.dtype in QUANTIZED


@dataclass
class TfNode:
    op_type: str                            # builtin op name, e.g. "CONV_2D"
    input: list[str]
    output: list[str]
    options: dict
    name: str = ""


@dataclass
class TfView:
    path: str
    sha256: str
    version: int
    description: str
    tensors: dict[str, TfTensor]
    nodes: list[TfNode]
    names: list[str]
    inputs: list[str]
    outputs: list[str]
    consumers: dict[str, list[int]] = field(default_factory=dict)
    input_name: str = ""
    opset: int = 13  # the shared ONNX helpers read it; TFLite semantics match opset >= 13

    def where(self, i: int) -> str:
        return f"{self.nodes[i].op_type} node {self.names[i]!r} in {self.path}"

    def used(self, tensor: str) -> bool:
        return bool(tensor) and (bool(self.consumers.get(tensor)) or tensor in self.outputs)


def _op_names() -> dict[int, str]:
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def _options_names() -> dict[int, str]:
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}


def _decode_options(op, names: dict[int, str]) -> dict:
    """Builtin options as {FieldName: value} (vectors as numpy arrays)."""
    import tflite

    kind = op.BuiltinOptionsType()
    table = op.BuiltinOptions()
    if not kind or table is None:
        return {}
    cls = getattr(tflite, names.get(kind, ""), None)
    if cls is None:
        return {}
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    out = {}
    for attr in dir(obj):
        if (not attr[:1].isupper() or attr == "Init" or attr.startswith("GetRootAs")
                or attr.endswith(("AsNumpy", "Length", "IsNone", "BufferHasIdentifier"))):
            continue
        fn = getattr(obj, attr)
        try:
            out[attr] = fn()
        except TypeError:  # a vector field: read it whole
            as_np = getattr(obj, attr + "AsNumpy", None)
            if as_np is not None:
                v = as_np()
                out[attr] = np.asarray(v) if not isinstance(v, int) else np.zeros(0, np.int32)
    return out


def _buffer(model, data: bytes, index: int, t_name: str, path: str) -> bytes | None:
    buf = model.Buffers(index)
    if buf is None:
        return None
    if buf.Offset() > 1:  # models over 2 GB keep buffers after the flatbuffer
        off, size = buf.Offset(), buf.Size()
        if off + size > len(data):
            raise ModelImportError(f"{path}: buffer of tensor {t_name!r} lies outside the file")
        return data[off:off + size]
    if buf.DataLength() == 0:
        return None
    return buf.DataAsNumpy().tobytes()


def load_tflite(src: "str | os.PathLike | bytes") -> TfView:
    import tflite

    if isinstance(src, (bytes, bytearray)):
        data, path = bytes(src), "<in-memory .tflite>"
    else:
        path = os.fspath(src)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ModelImportError(f"{path}: cannot read TFLite model: {exc}") from exc
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelImportError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        return _view(model, data, path)
    except ModelImportError:
        raise
    except Exception as exc:  # a corrupt flatbuffer fails somewhere inside the generated code
        raise ModelImportError(f"{path}: corrupt TFLite flatbuffer ({type(exc).__name__}: "
                               f"{exc})") from exc


def _view(model, data: bytes, path: str) -> TfView:
    if model.SubgraphsLength() < 1:
        raise ModelImportError(f"{path}: the model has no subgraph")
    g = model.Subgraphs(0)
    op_names, opt_names = _op_names(), _options_names()
    tensors: list[TfTensor] = []
    seen: set[str] = set()
    for k in range(g.TensorsLength()):
        t = g.Tensors(k)
        name = (t.Name() or b"").decode("utf-8", "replace") or f"tensor_{k}"
        while name in seen:
            name = f"{name}_{k}"
        seen.add(name)
        dtype = DTYPES.get(t.Type())
        if dtype is None:
            raise ModelImportError(f"{path}: tensor {name!r} has unsupported type {t.Type()}")
        shape = tuple(int(d) for d in (t.ShapeAsNumpy() if t.ShapeLength() else []))
        raw = _buffer(model, data, t.Buffer(), name, path)
        arr = None
        if raw is not None:
            arr = np.frombuffer(raw, dtype=dtype)
            if arr.size != int(np.prod(shape, dtype=np.int64)):
                raise ModelImportError(f"{path}: tensor {name!r} has {arr.size} values for "
                                       f"shape {shape}")
            arr = arr.reshape(shape).copy()
        tt = TfTensor(k, name, shape, dtype, arr)
        q = t.Quantization()
        if q is not None and q.ScaleLength():
            tt.scale = np.asarray(q.ScaleAsNumpy(), np.float32)
            tt.zero_point = (np.asarray(q.ZeroPointAsNumpy(), np.int64) if q.ZeroPointLength()
                             else np.zeros(tt.scale.size, np.int64))
            tt.quantized_dimension = int(q.QuantizedDimension())
        tensors.append(tt)
    by_index = [t.name for t in tensors]
    nodes, names = [], []
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        op_type = op_names.get(builtin, f"BUILTIN_{builtin}")
        if op_type == "CUSTOM":
            op_type = "CUSTOM:" + (code.CustomCode() or b"?").decode("utf-8", "replace")
        ins = [by_index[j] if 0 <= j < len(tensors) else "" for j in
               (op.InputsAsNumpy() if op.InputsLength() else [])]
        outs = [by_index[j] for j in (op.OutputsAsNumpy() if op.OutputsLength() else [])]
        node = TfNode(op_type, ins, outs, _decode_options(op, opt_names))
        nodes.append(node)
        # short and unique: op, position, and the first (MLIR joins them with ';') output name
        short = outs[0].split(";")[0] if outs else ""
        names.append(f"{op_type.lower()}_{k}:{short[-48:]}")
    inputs = [by_index[j] for j in g.InputsAsNumpy()] if g.InputsLength() else []
    outputs = [by_index[j] for j in g.OutputsAsNumpy()] if g.OutputsLength() else []
    view = TfView(path, hashlib.sha256(data).hexdigest(), int(model.Version()),
                  (model.Description() or b"").decode("utf-8", "replace"),
                  {t.name: t for t in tensors}, nodes, names, inputs, outputs)
    for k, node in enumerate(nodes):
        node.name = names[k]
        for t in node.input:
            if t:
                view.consumers.setdefault(t, []).append(k)
    if model.SubgraphsLength() > 1:
        view.description += f" ({model.SubgraphsLength() - 1} more subgraphs ignored)"
    return view
