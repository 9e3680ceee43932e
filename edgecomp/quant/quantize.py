"""Post-training quantization: float IR + activation ranges -> QModel (docs/format.md 5).

Modes: "affine" (per-tensor asymmetric int8 activations, per-channel symmetric int8 weights) and
"dfp" (dynamic fixed point: every scale a power of two, zero points 0, so every requantization
is a rounding shift).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import QuantizationError, UnsupportedOpError
from ..ir import Graph, Node
from ..packed.model import QModel, QNode, QTensor
from .fixed_point import (affine_params, dfp_params, encode_multiplier, encode_ratio,
                          pow2_scale)

_PASSTHROUGH = ("MaxPool", "Reshape", "Relu", "Clip")  # output keeps the input's scale / zp


def quantize_weights(w: np.ndarray, mode: str, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """[C_out, ...] float -> (int8 [C_out, K], scale [C_out]); symmetric per output channel."""
    w2 = w.reshape(w.shape[0], -1).astype(np.float64)
    qmax = (1 << (bits - 1)) - 1
    max_abs = np.abs(w2).max(axis=1)
    if mode == "dfp":
        scale = np.array([pow2_scale(m, qmax) for m in max_abs])
    else:
        scale = np.where(max_abs > 0, max_abs / qmax, 1.0)
    scale = scale.astype(np.float32).astype(np.float64)
    q = np.clip(np.round(w2 / scale[:, None]), -qmax, qmax).astype(np.int8)
    return q, scale


def _quantize_value(v: float, t: QTensor) -> int:
    return int(np.clip(round(v / t.scale) + t.zero_point, -128, 127))


def activation_clamp(act, t: QTensor) -> tuple[int, int]:
    if act is None:
        return -128, 127
    if act == "relu":
        return max(-128, t.zero_point), 127
    if act == "relu6":
        return max(-128, t.zero_point), _quantize_value(6.0, t)
    if isinstance(act, (tuple, list)) and act[0] == "clip":
        lo = -128 if act[1] is None or act[1] == -math.inf else _quantize_value(act[1], t)
        hi = 127 if act[2] is None or act[2] == math.inf else _quantize_value(act[2], t)
        return lo, hi
    raise UnsupportedOpError(f"unknown fused activation {act!r}")


class Quantizer:
    def __init__(self, graph: Graph, ranges: dict[str, tuple[float, float]],
                 mode: str = "affine", weight_bits: dict[str, int] | None = None) -> None:
        if mode not in ("affine", "dfp"):
            raise QuantizationError(f"unknown quantization mode {mode!r} (affine or dfp)")
        self.g, self.ranges, self.mode = graph, ranges, mode
        self.weight_bits = weight_bits or {}
        self.tensors: list[QTensor] = []
        self.index: dict[str, int] = {}

    def _add_tensor(self, name: str, scale: float, zp: int) -> int:
        self.index[name] = len(self.tensors)
        self.tensors.append(QTensor(name, tuple(self.g.shape(name)), scale, zp))
        return self.index[name]

    def _from_range(self, name: str) -> int:
        if name not in self.ranges:
            raise QuantizationError(f"tensor {name!r} has no calibration range")
        lo, hi = self.ranges[name]
        params = dfp_params(lo, hi) if self.mode == "dfp" else affine_params(lo, hi)
        return self._add_tensor(name, *params)

    def t(self, name: str) -> QTensor:
        return self.tensors[self.index[name]]

    def run(self) -> QModel:
        g = self.g
        g.validate()
        for name in g.inputs:
            self._from_range(name)
        nodes = [self._node(n) for n in g.nodes]
        return QModel(self.tensors, nodes, [self.index[i] for i in g.inputs],
                      [self.index[o] for o in g.outputs],
                      dynamic_fixed_point=self.mode == "dfp")

    def _node(self, node: Node) -> QNode:
        out = node.outputs[0]
        if node.op in _PASSTHROUGH:
            x = self.t(node.inputs[0])
            self._add_tensor(out, x.scale, x.zero_point)
        elif node.op == "Softmax":
            self._add_tensor(out, 1.0 / 256.0, -128)
        else:
            self._from_range(out)
        handler = getattr(self, "_q_" + node.op, None)
        if handler is None:
            raise UnsupportedOpError(f"node {node.name!r}: op {node.op} cannot be quantized")
        q = handler(node)
        q.inputs = [self.index[i] for i in node.inputs]
        q.outputs = [self.index[out]]
        return q

    def _weighted(self, node: Node, op: str, params_before: list[int]) -> QNode:
        x, y = self.t(node.inputs[0]), self.t(node.outputs[0])
        w = self.g.constants[node.attrs["weight"]]
        bits = self.weight_bits.get(node.name, self.weight_bits.get(op.lower(), 8))
        wq, sw = quantize_weights(w, self.mode, bits)
        b = node.attrs.get("bias")
        bias_f = self.g.constants[b].astype(np.float64) if b else np.zeros(w.shape[0])
        bias = np.round(bias_f / (x.scale * sw))
        k = wq.shape[1]
        if np.any(np.abs(bias) + 255 * 127 * k >= 2 ** 31):
            raise QuantizationError(f"node {node.name!r}: int32 accumulator could overflow "
                                    f"(K = {k}, max |bias| = {np.abs(bias).max():.3g})")
        ms = [encode_multiplier(x.scale * s / y.scale, f"node {node.name!r}") for s in sw]
        lo, hi = activation_clamp(node.attrs.get("activation"), y)
        q = QNode(op, node.name, [], [], params_before + [lo, hi])
        q.weights = wq
        q.bias = bias.astype(np.int32)
        q.multiplier = np.array([m for m, _ in ms], dtype=np.int32)
        q.shift = np.array([n for _, n in ms], dtype=np.int32)
        return q

    def _q_Conv(self, node: Node) -> QNode:
        a = node.attrs
        w = self.g.constants[a["weight"]]
        kh, kw = w.shape[2], w.shape[3]
        sh, sw = a.get("strides", (1, 1))
        pt, pl, pb, pr = a.get("pads", (0, 0, 0, 0))
        dh, dw = a.get("dilations", (1, 1))
        return self._weighted(node, "CONV",
                              [kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, a.get("group", 1)])

    def _q_Gemm(self, node: Node) -> QNode:
        return self._weighted(node, "FC", [])

    def _pool_params(self, node: Node) -> list[int]:
        a = node.attrs
        kh, kw = a["kernel"]
        sh, sw = a.get("strides", (1, 1))
        return [kh, kw, sh, sw, *a.get("pads", (0, 0, 0, 0))]

    def _q_MaxPool(self, node: Node) -> QNode:
        return QNode("MAXPOOL", node.name, [], [], self._pool_params(node))

    def _q_AveragePool(self, node: Node) -> QNode:
        x, y = self.t(node.inputs[0]), self.t(node.outputs[0])
        m, s = encode_ratio(x.scale / y.scale, 30, f"node {node.name!r}")
        return QNode("AVGPOOL", node.name, [], [],
                     self._pool_params(node) + [int(bool(node.attrs.get("count_include_pad")))
                                                , m, s])

    def _q_GlobalAveragePool(self, node: Node) -> QNode:
        x, y = self.t(node.inputs[0]), self.t(node.outputs[0])
        m, s = encode_ratio(x.scale / y.scale, 30, f"node {node.name!r}")
        return QNode("GLOBALAVGPOOL", node.name, [], [], [m, s])

    def _q_Add(self, node: Node) -> QNode:
        a, b = (self.t(i) for i in node.inputs)
        y = self.t(node.outputs[0])
        ra, rb = a.scale / y.scale, b.scale / y.scale
        _, s = encode_ratio(max(ra, rb), 62, f"node {node.name!r}")
        lo, hi = activation_clamp(node.attrs.get("activation"), y)
        return QNode("ADD", node.name, [], [],
                     [round(ra * 2.0 ** s), round(rb * 2.0 ** s), s, lo, hi])

    def _q_Concat(self, node: Node) -> QNode:
        y = self.t(node.outputs[0])
        axis = node.attrs.get("axis", 1) % len(y.shape)
        params = [axis]
        for i in node.inputs:
            m, s = encode_ratio(self.t(i).scale / y.scale, 62, f"node {node.name!r}")
            params += [m, s]
        return QNode("CONCAT", node.name, [], [], params)

    def _q_Relu(self, node: Node) -> QNode:
        x = self.t(node.inputs[0])
        return QNode("CLAMP", node.name, [], [], [max(-128, x.zero_point), 127])

    def _q_Clip(self, node: Node) -> QNode:
        x = self.t(node.inputs[0])
        lo, hi = activation_clamp(("clip", node.attrs.get("min"), node.attrs.get("max")), x)
        return QNode("CLAMP", node.name, [], [], [lo, hi])

    def _q_Softmax(self, node: Node) -> QNode:
        x = self.t(node.inputs[0])
        q = QNode("SOFTMAX", node.name, [], [], [])
        q.exp_table = np.round(2.0 ** 20 * np.exp(-np.arange(256) * x.scale)).astype(np.int32)
        return q

    def _q_Reshape(self, node: Node) -> QNode:
        return QNode("RESHAPE", node.name, [], [], [])


def quantize(graph: Graph, ranges: dict[str, tuple[float, float]], mode: str = "affine",
             weight_bits: dict[str, int] | None = None) -> QModel:
    return Quantizer(graph, ranges, mode, weight_bits).run()
