"""The state of one ONNX -> IR conversion: known constant values, activation shapes, IR nodes.

Converters (``onnx_ops``) read inputs through ``act`` / ``value`` and add IR nodes with ``emit``;
removed ops (Identity, Dropout) become aliases, and folded ops (BatchNormalization, bias Add)
rewrite the producing IR node with ``retarget``. ``finish`` resolves graph outputs and drops
nodes that no output depends on.
"""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from .. import ir
from ..errors import ModelImportError
from .onnx_load import OnnxView


class Builder:
    def __init__(self, view: OnnxView) -> None:
        self.v = view
        self.values: dict[str, np.ndarray] = {
            name: numpy_helper.to_array(t) for name, t in view.initializers.items()}
        self.shapes: dict[str, tuple[int, ...]] = {view.input_name: view.input_shape}
        self.alias: dict[str, str] = {}
        self.nodes: list[ir.Node] = []
        self.constants: dict[str, np.ndarray] = {}
        self.producer: dict[str, ir.Node] = {}
        self._ir_names: set[str] = set()

    # -- reading inputs -------------------------------------------------------------------
    def resolve(self, t: str) -> str:
        while t in self.alias:
            t = self.alias[t]
        return t

    def is_value(self, t: str) -> bool:
        return self.resolve(t) in self.values

    def act(self, t: str, i: int) -> str:
        """The (alias-resolved) name of activation tensor ``t``, read by node ``i``."""
        r = self.resolve(t)
        if r not in self.shapes:
            raise ModelImportError(f"{self.v.where(i)}: input {t!r} is not an activation "
                                   "edgecomp computes")
        return r

    def value(self, t: str, i: int, label: str) -> np.ndarray:
        r = self.resolve(t)
        if r not in self.values:
            raise ModelImportError(f"{self.v.where(i)}: {label} {t!r} is not a constant")
        return self.values[r]

    def optional_value(self, node, k: int, i: int, label: str) -> np.ndarray | None:
        if len(node.input) > k and node.input[k]:
            return self.value(node.input[k], i, label)
        return None

    # -- writing the IR -------------------------------------------------------------------
    def ir_name(self, i: int) -> str:
        name = self.v.names[i]
        while name in self._ir_names:
            name = f"{name}_"
        self._ir_names.add(name)
        return name

    def add_constant(self, name: str, value: np.ndarray) -> str:
        self.constants[name] = np.ascontiguousarray(value, dtype=np.float32)
        return name

    def emit(self, i: int, op: str, inputs: list[str], shape: tuple[int, ...],
             attrs: dict | None = None, name: str | None = None) -> ir.Node:
        onnx_node = self.v.nodes[i]
        out = onnx_node.output[0]
        if not 1 <= len(shape) <= 4 or any(d < 1 for d in shape):
            raise ModelImportError(f"{self.v.where(i)}: output {out!r} would have shape "
                                   f"{tuple(shape)}; edgecomp tensors have rank 1..4, dims >= 1")
        node = ir.Node(op=op, name=name or self.ir_name(i), inputs=list(inputs), outputs=[out],
                       attrs=dict(attrs or {}), source=[self.v.names[i]])
        self.nodes.append(node)
        self.shapes[out] = tuple(int(d) for d in shape)
        self.producer[out] = node
        return node

    def retarget(self, node: ir.Node, old: str, new: str, i: int) -> None:
        """``node`` now also stands for ONNX node ``i``, whose output ``new`` replaces ``old``."""
        node.outputs[node.outputs.index(old)] = new
        node.source.append(self.v.names[i])
        self.shapes[new] = self.shapes.pop(old)
        self.producer[new] = self.producer.pop(old)

    # -- finishing --------------------------------------------------------------------------
    def finish(self) -> tuple[list[str], list[ir.Node]]:
        """Graph outputs (ONNX names kept where Identity/Dropout were removed) and live nodes."""
        outputs = []
        for o in self.v.outputs:
            r = self.resolve(o)
            if r == self.v.input_name:
                raise ModelImportError(f"{self.v.path}: graph output {o!r} is the graph input "
                                       "passed through Identity/Dropout; nothing to compute")
            if r not in self.shapes:
                raise ModelImportError(f"{self.v.path}: graph output {o!r} is not computed by "
                                       "any supported node")
            if r != o:
                if r in self.v.outputs or r in outputs:
                    raise ModelImportError(f"{self.v.path}: graph outputs {o!r} and {r!r} are "
                                           "the same tensor; edgecomp needs distinct outputs")
                self._rename(r, o)
            outputs.append(o)
        return outputs, self._live(outputs)

    def _rename(self, old: str, new: str) -> None:
        for n in self.nodes:
            n.inputs = [new if t == old else t for t in n.inputs]
            n.outputs = [new if t == old else t for t in n.outputs]
        self.shapes[new] = self.shapes.pop(old)

    def _live(self, outputs: list[str]) -> list[ir.Node]:
        needed, live = set(outputs), []
        for n in reversed(self.nodes):
            if any(t in needed for t in n.outputs):
                live.append(n)
                needed.update(n.inputs)
        return live[::-1]
