"""A small graph IR: tensors with shapes and dtypes, nodes in topological order.

Layout is NCHW with batch 1 (rank-4 activations) or [1, C] (rank-2). Constants (weights, biases)
live in ``Graph.constants`` as float32 numpy arrays; activations have a ``TensorInfo``. Op names
are edgecomp's own (see ``OPS``), not ONNX's: the importer maps onto them.

IR ops and their attributes:

- ``Conv``: inputs [x]; attrs weight (const name, [Co, C/g, kh, kw]), bias (const name or None),
  strides, pads (top, left, bottom, right), dilations, group, activation (None|'relu'|'relu6'
  |('clip', lo, hi)).
- ``Gemm``: inputs [x of shape [1, K]]; attrs weight ([Co, K]), bias, activation.
- ``Relu``, ``Clip`` (attrs min, max), ``MaxPool`` / ``AveragePool`` (kernel, strides, pads,
  ceil_mode, count_include_pad), ``GlobalAveragePool``, ``Add`` (attrs activation), ``Concat``
  (attrs axis), ``Softmax`` (last axis), ``Reshape`` (output shape on the tensor).
- Added with format 1.1: ``Mul`` and ``Add`` of two activations with numpy broadcasting (Add
  has an optional ``alpha``: ``alpha * (a + b)``, ONNX Mean), ``Expand`` (broadcast to the
  output's shape), ``Affine`` (``x * scale + offset``, attrs scale / offset: python floats),
  elementwise ``Sigmoid``, ``HardSigmoid`` (alpha, beta), ``HardSwish``, ``Tanh``,
  ``LeakyRelu`` (alpha), ``Pad`` (attrs begin, end: per dim; value: float), ``LRN`` (size,
  alpha, beta, k: ONNX's bias), ``Resize`` (mode 'nearest' | 'linear', coord, nearest_mode: see
  ``edgecomp.resize``), ``Transpose`` (perm), ``Requantize`` (identity in float; a quantized
  source model changes scale there), and ``Softmax`` takes an optional ``beta``.

A node may carry ``attrs["given"]`` (quantized source models, e.g. TFLite): the source's
per-output-channel weight scales and integer bias, which the quantizer then uses instead of its
own; ``TensorInfo.scale`` / ``zero_point`` then hold the source's activation quantization.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import GraphError

OPS = ("Conv", "Gemm", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "Add",
       "Concat", "Softmax", "Reshape",
       "Mul", "Expand", "Affine", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu",
       "Pad", "LRN", "Resize", "Transpose", "Requantize")


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    # Quantization parameters, filled by the quantizer (per-tensor, affine).
    scale: float | None = None
    zero_point: int | None = None


@dataclass
class Node:
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    # Names of the source-model nodes this node stands for (after folding and fusion).
    source: list[str] = field(default_factory=list)


@dataclass
class Graph:
    name: str
    inputs: list[str]
    outputs: list[str]
    tensors: dict[str, TensorInfo]
    nodes: list[Node]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def producer(self, tensor: str) -> Node | None:
        for node in self.nodes:
            if tensor in node.outputs:
                return node
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self.tensors[tensor].shape

    def copy(self) -> "Graph":
        return Graph(
            name=self.name, inputs=list(self.inputs), outputs=list(self.outputs),
            tensors={k: dataclasses.replace(v) for k, v in self.tensors.items()},
            nodes=[dataclasses.replace(n, inputs=list(n.inputs), outputs=list(n.outputs),
                                       attrs=dict(n.attrs), source=list(n.source))
                   for n in self.nodes],
            constants={k: v.copy() for k, v in self.constants.items()},
            metadata=dict(self.metadata))

    def validate(self) -> None:
        """Topological order, single producer per tensor, known ops, shapes present."""
        defined = set(self.inputs)
        for node in self.nodes:
            if node.op not in OPS:
                raise GraphError(f"node {node.name!r}: unknown IR op {node.op!r}")
            for t in node.inputs:
                if t not in defined:
                    raise GraphError(f"node {node.name!r} ({node.op}) reads tensor {t!r} "
                                     "before it is produced (graph not topologically ordered)")
            for t in node.outputs:
                if t in defined:
                    raise GraphError(f"tensor {t!r} is produced twice (node {node.name!r})")
                if t not in self.tensors:
                    raise GraphError(f"node {node.name!r}: output {t!r} has no shape")
                defined.add(t)
            for key in ("weight", "bias"):
                c = node.attrs.get(key)
                if c is not None and c not in self.constants:
                    raise GraphError(f"node {node.name!r}: missing constant {c!r}")
        for t in self.outputs:
            if t not in defined:
                raise GraphError(f"graph output {t!r} is never produced")

    def summary(self) -> str:
        lines = [f"graph {self.name}: {len(self.nodes)} nodes, input {self.inputs} "
                 f"{[self.shape(i) for i in self.inputs]}"]
        for n in self.nodes:
            lines.append(f"  {n.op:18s} {n.name:30s} -> {self.shape(n.outputs[0])}")
        return "\n".join(lines)
