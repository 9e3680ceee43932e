"""Post-training quantization: float IR + activation ranges -> QModel (docs/format.md 5).

Modes: "affine" (per-tensor asymmetric int8 activations, per-channel symmetric int8 weights) and
"dfp" (dynamic fixed point: every scale a power of two, zero points 0, so every requantization
is a rounding shift).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import QuantizationError, UnsupportedOpError
from ..ir import Graph, Node, TensorInfo
from ..packed.model import QModel, QNode, QTensor
from .fixed_point import (affine_params, dfp_params, encode_multiplier, encode_ratio,
                          pow2_scale)

# output keeps the input's scale / zp
_PASSTHROUGH = ("MaxPool", "Reshape", "Relu", "Clip", "Expand", "Pad", "Transpose")
_LUT_OPS = ("Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu", "Affine")


def quantize_weights(w: np.ndarray, mode: str, bits: int = 8, per_layer: bool = False,
                     scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """[C_out, ...] float -> (int8 [C_out, K], scale [C_out]); symmetric per output channel,
    or one scale for the whole layer (``per_layer``), or the given ``scale`` (weight sharing
    chose its centroids on that grid: passes/share.py)."""
    w2 = w.reshape(w.shape[0], -1).astype(np.float64)
    qmax = (1 << (bits - 1)) - 1
    if scale is None:
        max_abs = np.abs(w2).max(axis=1)
        if per_layer:
            max_abs = np.full_like(max_abs, max_abs.max(initial=0.0))
        if mode == "dfp":
            scale = np.array([pow2_scale(m, qmax) for m in max_abs])
        else:
            scale = np.where(max_abs > 0, max_abs / qmax, 1.0)
    scale = np.asarray(scale).astype(np.float32).astype(np.float64)
    q = np.clip(np.round(w2 / scale[:, None]), -qmax, qmax).astype(np.int8)
    return q, scale


def bias_safe_scales(bias_f: np.ndarray, sx: float, k: int, mode: str) -> np.ndarray:
    """Smallest weight scale per row that keeps the int32 accumulator safe: |bias / (sx * sw)|
    + 255 * 127 * K must stay below 2^31 (docs/format.md 5); a power of two in dfp mode."""
    room = 2 ** 31 - 1 - 255 * 127 * k - 1024   # 1024: margin for the rounding of bias and sw
    if room <= 0:
        return np.zeros_like(bias_f)
    floor = np.abs(bias_f) / (sx * room)
    if mode == "dfp":
        floor = np.where(floor > 0, 2.0 ** np.ceil(np.log2(np.where(floor > 0, floor, 1.0))),
                         0.0)
    return floor


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
                 mode: str = "affine", weight_bits: dict[str, int] | None = None,
                 weight_scales: "dict[str, np.ndarray] | None" = None) -> None:
        if mode not in ("affine", "dfp"):
            raise QuantizationError(f"unknown quantization mode {mode!r} (affine or dfp)")
        self.ranges, self.mode = dict(ranges), mode
        self.g = lower_broadcasts(graph, self.ranges)
        # A quantized source model (TFLite) brings its own activation quantization.
        self.given = bool(graph.metadata.get("quantization_given"))
        self.weight_bits = weight_bits or {}
        self.weight_scales = weight_scales or {}  # passes/share.py: the codebooks' grid
        self.tensors: list[QTensor] = []
        self.index: dict[str, int] = {}

    def _add_tensor(self, name: str, scale: float, zp: int) -> int:
        self.index[name] = len(self.tensors)
        self.tensors.append(QTensor(name, tuple(self.g.shape(name)), scale, zp))
        return self.index[name]

    def _from_range(self, name: str) -> int:
        info = self.g.tensors[name]
        if self.given and info.scale is not None:
            return self._add_tensor(name, float(info.scale), int(info.zero_point))
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
        if node.op in _PASSTHROUGH or (node.op == "Resize"
                                       and node.attrs.get("mode", "nearest") == "nearest"):
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
        given = node.attrs.get("given") if self.given else None
        if given is not None:
            wq, sw = quantize_with_scales(w, given["weight_scale"])
        else:
            wq, sw = quantize_weights(w, self.mode, bits,
                                      scale=self.weight_scales.get(node.name))
        b = node.attrs.get("bias")
        bias_f = self.g.constants[b].astype(np.float64) if b else np.zeros(w.shape[0])
        if given is None:
            floor = bias_safe_scales(bias_f, x.scale, w.reshape(w.shape[0], -1).shape[1],
                                     self.mode)
            if np.any(sw < floor):
                # A row whose weights are tiny next to its bias (pruning and refitting can
                # leave such rows) would get a bias beyond int32: coarsen that row's scale.
                wq, sw = quantize_weights(w, self.mode, bits, scale=np.maximum(sw, floor))
        bias = np.round(bias_f / (x.scale * sw))
        if given is not None and given.get("bias_q") is not None and b and np.array_equal(
                self.g.constants[b], given["bias_f"]):
            bias = np.asarray(given["bias_q"], np.float64)  # the source's own int32 bias
        k = wq.shape[1]
        if np.any(np.abs(bias) + 255 * 127 * k >= 2 ** 31):
            raise QuantizationError(f"node {node.name!r}: int32 accumulator could overflow "
                                    f"(K = {k}, max |bias| = {np.abs(bias).max():.3g})")
        if given is not None and given.get("f32_product"):
            # TFLite's per-tensor rule: the scale product is rounded to float32 first
            real = [float(np.float32(x.scale) * np.float32(s)) / y.scale for s in sw]
        else:
            real = [x.scale * s / y.scale for s in sw]
        ms = [encode_multiplier(r, f"node {node.name!r}") for r in real]
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
        alpha = float(node.attrs.get("alpha", 1.0))
        ra, rb = alpha * a.scale / y.scale, alpha * b.scale / y.scale
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
        beta = float(node.attrs.get("beta", 1.0))
        q.exp_table = np.round(2.0 ** 20 * np.exp(-np.arange(256) * x.scale * beta)
                               ).astype(np.int32)
        return q

    def _q_Reshape(self, node: Node) -> QNode:
        return QNode("RESHAPE", node.name, [], [], [])


    # -- ops of format 1.1 ---------------------------------------------------------------------
    def _q_Mul(self, node: Node) -> QNode:
        a, b = (self.t(i) for i in node.inputs)
        y = self.t(node.outputs[0])
        m, s = encode_multiplier(a.scale * b.scale / y.scale, f"node {node.name!r}")
        lo, hi = activation_clamp(node.attrs.get("activation"), y)
        return QNode("MUL", node.name, [], [], [m, s, lo, hi])

    def _q_Expand(self, node: Node) -> QNode:
        return QNode("EXPAND", node.name, [], [], [])

    def _q_Transpose(self, node: Node) -> QNode:
        perm = list(node.attrs["perm"])
        return QNode("TRANSPOSE", node.name, [], [], perm + list(range(len(perm), 4)))

    def _q_Requantize(self, node: Node) -> QNode:
        x, y = self.t(node.inputs[0]), self.t(node.outputs[0])
        # a one-input CONCAT is exactly a requantization (docs/format.md 5)
        return QNode("CONCAT", node.name, [], [],
                     [0, *encode_ratio(x.scale / y.scale, 62, f"node {node.name!r}")])

    def _q_Pad(self, node: Node) -> QNode:
        x = self.t(node.inputs[0])
        a = node.attrs
        fill = [0] * (4 - len(a["begin"]))
        value = _quantize_value(float(np.clip(a.get("value", 0.0), -1e30, 1e30)), x)
        return QNode("PAD", node.name, [], [], [*a["begin"], *fill, *a["end"], *fill, value])

    def _lut(self, node: Node) -> QNode:
        from ..exec_float import ELEMENTWISE, apply_activation

        x, y = self.t(node.inputs[0]), self.t(node.outputs[0])
        real = ELEMENTWISE[node.op](x.scale * (np.arange(-128, 128.0) - x.zero_point),
                                    node.attrs)
        real = apply_activation(real, node.attrs.get("activation"), f"node {node.name!r}")
        q = np.asarray(real, np.float64) / y.scale
        q = np.sign(q) * np.floor(np.abs(q) + 0.5) + y.zero_point  # round half away (TFLite)
        return QNode("LUT", node.name, [], [], [],
                     table=np.clip(q, -128, 127).astype(np.int8))

    def _q_LRN(self, node: Node) -> QNode:
        x, y = self.t(node.inputs[0]), self.t(node.outputs[0])
        a = node.attrs
        size = int(a["size"])
        max_acc = min(size, self.g.shape(node.inputs[0])[1]) * 255 ** 2
        shift = 0
        while (max_acc >> shift) + 1 > 4096:  # at most 4096 buckets of the squared sum
            shift += 1
        t = np.arange((max_acc >> shift) + 1, dtype=np.float64)
        mid = t * 2.0 ** shift + (2.0 ** shift - 1) / 2
        real = x.scale / y.scale * (a.get("k", 1.0) + a.get("alpha", 1e-4) / size
                                    * x.scale ** 2 * mid) ** -a.get("beta", 0.75)
        _, s = encode_ratio(float(real.max()), 62, f"node {node.name!r}")
        return QNode("LRN", node.name, [], [], [size, shift, s],
                     table=np.round(real * 2.0 ** s).astype(np.int32))

    def _q_Resize(self, node: Node) -> QNode:
        from ..packed.model import RESIZE_ONE
        from ..resize import taps

        x, y = self.t(node.inputs[0]), self.t(node.outputs[0])
        a = node.attrs
        mode = a.get("mode", "nearest")
        scales = a.get("scales") or (None, None)
        parts = []
        for axis in (2, 3):
            i0, i1, frac = taps(x.shape[axis], y.shape[axis], mode, a.get("coord", "half_pixel"),
                                a.get("nearest_mode", "round_prefer_floor"), scales[axis - 2])
            parts.append(np.stack([i0, i1, np.round(frac * RESIZE_ONE)], axis=1).ravel())
        table = np.concatenate(parts).astype(np.int32)
        if mode == "nearest":
            return QNode("RESIZE", node.name, [], [], [0, 0, 1], table=table)
        m, s = encode_ratio(x.scale / y.scale / 2.0 ** 20, 62, f"node {node.name!r}")
        return QNode("RESIZE", node.name, [], [], [1, m, s], table=table)


for _op in _LUT_OPS:
    setattr(Quantizer, "_q_" + _op, Quantizer._lut)


def quantize_with_scales(w: np.ndarray, scales) -> tuple[np.ndarray, np.ndarray]:
    """Quantize [C_out, ...] float weights with given per-channel scales (a quantized source
    model's own): its integer weights come back exactly."""
    w2 = w.reshape(w.shape[0], -1).astype(np.float64)
    scale = np.asarray(scales, np.float64).reshape(-1)
    if scale.size != w2.shape[0]:
        raise QuantizationError(f"{scale.size} weight scales for {w2.shape[0]} output channels")
    q = np.clip(np.round(w2 / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def lower_broadcasts(graph: Graph, ranges: dict) -> Graph:
    """Add / Mul of different shapes -> an Expand of the smaller input first (docs/format.md:
    ADD and MUL take equal shapes). Returns ``graph`` itself when nothing needs lowering."""
    todo = [n for n in graph.nodes if n.op in ("Add", "Mul")
            and any(graph.shape(t) != graph.shape(n.outputs[0]) for t in n.inputs)]
    if not todo:
        return graph
    g = graph.copy()
    nodes = []
    for node in g.nodes:
        if node.op in ("Add", "Mul"):
            out_shape = g.shape(node.outputs[0])
            for k, t in enumerate(node.inputs):
                if g.shape(t) == out_shape:
                    continue
                name = f"{node.name}.expand{k}"
                if len(g.shape(t)) != len(out_shape):
                    raise QuantizationError(f"node {node.name!r}: input {t!r} {g.shape(t)} has "
                                            f"another rank than the output {out_shape}")
                g.tensors[name] = TensorInfo(name, out_shape, scale=g.tensors[t].scale,
                                             zero_point=g.tensors[t].zero_point)
                if t in ranges:
                    ranges[name] = ranges[t]
                nodes.append(Node("Expand", name, [t], [name], {}, list(node.source)))
                node.inputs[k] = name
        nodes.append(node)
    g.nodes = nodes
    return g


def quantize(graph: Graph, ranges: dict[str, tuple[float, float]], mode: str = "affine",
             weight_bits: dict[str, int] | None = None,
             weight_scales: "dict[str, np.ndarray] | None" = None) -> QModel:
    return Quantizer(graph, ranges, mode, weight_bits, weight_scales).run()
