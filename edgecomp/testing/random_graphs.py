"""Random and op-focused ONNX CNN models for tests (float vs onnxruntime, integer vs C runtime).

Stable API (other test suites build on it):

``random_onnx_model(seed, *, opset=13, max_blocks=4, max_channels=16, max_size=16,
dynamic_batch=None) -> onnx.ModelProto``
    A valid single-input, single-output ONNX CNN, deterministic in its arguments. The input is
    ``[1 or "N", C, H, W]`` (C <= 4, odd and even H, W in 5..max_size). A body of 1..max_blocks
    blocks drawn from ``BLOCK_KINDS`` (conv with BN and Relu/Clip, dilated, grouped, depthwise,
    each auto_pad mode, max/average pools with asymmetric pads, ceil_mode and
    count_include_pad, residual Add, channel or spatial Concat, Dropout, Identity) is followed
    by one of ``HEAD_KINDS`` (GlobalAveragePool or Flatten/Reshape, including the exporter's
    Shape->Gather->Unsqueeze->Concat->Reshape pattern, then Gemm / MatMul(+Add) /
    Gemm+BatchNormalization, optional Relu + second Gemm, optional Softmax; or no head, leaving
    an NCHW output). Model ``seed`` always contains ``BLOCK_KINDS[seed % len(BLOCK_KINDS)]``
    and ``HEAD_KINDS[seed % len(HEAD_KINDS)]``, so any ``len(BLOCK_KINDS)`` consecutive seeds
    hold every block and head kind. Rank-4 tensors stay within max_channels x max_size x
    max_size (convs never grow their input); weights are N(0, 1/fan_in), so activations stay O(1).

``op_case_models() -> list[OpCase]``
    One small model per op / attribute combination (``OpCase.name`` is unique and stable,
    ``OpCase.ops`` lists the ONNX ops it focuses on).

``sample_input(model, seed=0, batch=1) -> np.ndarray``
    Standard-normal float32 input of the model's input shape (dynamic batch -> ``batch``).

Every model here imports with ``edgecomp.importers.import_onnx``; ``SUPPORTED_ONNX_OPS`` lists
the ONNX ops they use as computation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SUPPORTED_ONNX_OPS = ("Conv", "Gemm", "MatMul", "Relu", "Clip", "MaxPool", "AveragePool",
                      "GlobalAveragePool", "Flatten", "Reshape", "Add", "Concat", "Softmax",
                      "Dropout", "Identity", "BatchNormalization")
BLOCK_KINDS = ("conv", "conv_bn", "dilated", "grouped", "depthwise", "same_upper", "same_lower",
               "valid", "maxpool", "avgpool", "residual", "concat", "dropout", "identity")
_AUTO_PADS = {"same_upper": "SAME_UPPER", "same_lower": "SAME_LOWER", "valid": "VALID"}
HEAD_KINDS = ("gap_gemm", "flatten_gemm", "matmul_bias", "shape_arith", "gemm_bn", "none")


@dataclass(frozen=True)
class OpCase:
    name: str
    model: onnx.ModelProto
    ops: tuple[str, ...]


class _Net:
    """Accumulates nodes and initializers; every method returns (tensor name, shape)."""

    def __init__(self, rng: np.random.Generator, opset: int) -> None:
        self.rng, self.opset = rng, opset
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        name = self._name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], n_out: int = 1, **attrs) -> str:
        name = self._name(op.lower())
        outs = [f"{name}_out"] + [f"{name}_out{k}" for k in range(1, n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0]

    def weights(self, shape, fan_in: int) -> np.ndarray:
        return (self.rng.standard_normal(shape) / math.sqrt(fan_in)).astype(np.float32)

    # -- layers ---------------------------------------------------------------------------
    def conv(self, x, shape, co, k=(3, 3), stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1),
             group=1, bias=True, auto_pad=None):
        _, c, h, w = shape
        kh, kw = k
        wname = self.const("w", self.weights((co, c // group, kh, kw), c // group * kh * kw))
        ins = [x, wname] + ([self.const("b", self.rng.normal(0, 0.1, co).astype(np.float32))]
                            if bias else [])
        attrs = dict(kernel_shape=[kh, kw], strides=list(stride), dilations=list(dil),
                     group=group)
        keff = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out = (-(-h // stride[0]), -(-w // stride[1]))
        elif auto_pad == "VALID":
            out = ((h - keff[0]) // stride[0] + 1, (w - keff[1]) // stride[1] + 1)
        else:
            out = ((h + pads[0] + pads[2] - keff[0]) // stride[0] + 1,
                   (w + pads[1] + pads[3] - keff[1]) // stride[1] + 1)
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            attrs["pads"] = list(pads)
        return self.node("Conv", ins, **attrs), (1, co, *out)

    def bn(self, x, shape):
        c = shape[1]
        r = self.rng
        params = [r.uniform(0.5, 1.5, c), r.normal(0, 0.2, c), r.normal(0, 0.2, c),
                  r.uniform(0.5, 2.0, c)]
        names = [self.const(p, v.astype(np.float32)) for p, v in
                 zip(("gamma", "beta", "mean", "var"), params)]
        return self.node("BatchNormalization", [x, *names], epsilon=1e-3), shape

    def clip(self, x, shape, lo, hi):
        if self.opset < 11:
            attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
            return self.node("Clip", [x], **attrs), shape
        ins = [x, "" if lo is None else self.const("lo", np.float32(lo))]
        if hi is not None:
            ins.append(self.const("hi", np.float32(hi)))
        return self.node("Clip", ins), shape

    def activation(self, x, shape, allow_none=True):
        kinds = ["relu", "relu6", "clip"] + (["none"] if allow_none else [])
        kind = self.rng.choice(kinds)
        if kind == "relu":
            return self.node("Relu", [x]), shape
        if kind == "relu6":
            return self.clip(x, shape, 0.0, 6.0)
        if kind == "clip":
            lo = float(np.round(self.rng.uniform(-1.0, 0.0), 2))
            return self.clip(x, shape, lo, float(np.round(self.rng.uniform(0.5, 3.0), 2)))
        return x, shape

    def pool(self, op, x, shape, k, stride, pads, ceil_mode=0, cip=0, auto_pad=None):
        _, c, h, w = shape
        attrs = dict(kernel_shape=list(k), strides=list(stride))
        if auto_pad:
            attrs["auto_pad"] = auto_pad
            out = (-(-h // stride[0]), -(-w // stride[1]))
        else:
            attrs.update(pads=list(pads), ceil_mode=ceil_mode)
            out = (_pool_out(h, k[0], stride[0], pads[0], pads[2], ceil_mode),
                   _pool_out(w, k[1], stride[1], pads[1], pads[3], ceil_mode))
        if op == "AveragePool":
            attrs["count_include_pad"] = cip
        return self.node(op, [x], **attrs), (1, c, *out)

    def dropout(self, x, shape):
        if self.opset >= 12:
            return self.node("Dropout", [x, self.const("ratio", np.float32(0.3))]), shape
        return self.node("Dropout", [x], ratio=0.3), shape

    def softmax(self, x, shape):
        axis = -1 if self.opset >= 13 else 1  # both mean the last axis of a [1, N] tensor
        return self.node("Softmax", [x], axis=axis), shape

    def model(self, x_name, x_shape, y, y_shape, name) -> onnx.ModelProto:
        inp = helper.make_tensor_value_info(x_name, TensorProto.FLOAT, list(x_shape))
        y_dims = [x_shape[0], *y_shape[1:]] if len(y_shape) else []
        out = helper.make_tensor_value_info(y, TensorProto.FLOAT, y_dims)
        graph = helper.make_graph(self.nodes, name, [inp], [out], self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                              producer_name="edgecomp.testing.random_graphs")
        m.ir_version = min(m.ir_version, 8)  # loadable by older onnxruntime builds too
        onnx.checker.check_model(m)
        return m


def _pool_out(n, k, s, p0, p1, ceil_mode):
    if not ceil_mode:
        return (n + p0 + p1 - k) // s + 1
    out = -(-(n + p0 + p1 - k) // s) + 1
    return out - 1 if (out - 1) * s >= n + p0 else out


# -- random body blocks -----------------------------------------------------------------------
def _rand_kernel(r, h, w, dil=1):
    """A kernel (kh, kw) that fits the input with at most (keff - 1) padding."""
    ks = [k for k in (1, 3, 5) if dil * (k - 1) + 1 <= 2 * min(h, w)]
    kh = int(r.choice(ks))
    kw = kh if r.random() < 0.7 else int(r.choice(ks))
    return kh, kw


def _rand_pads(r, keff):
    """Often asymmetric pads; begin + end <= keff - 1 so a layer never grows its input."""
    begin = [int(r.integers(0, k)) for k in keff]
    end = [int(r.integers(0, k - b)) for k, b in zip(keff, begin)]
    return (begin[0], begin[1], end[0], end[1])


def _rand_conv(net: _Net, x, shape, kind, max_c):
    r = net.rng
    _, c, h, w = shape
    dil = 2 if kind == "dilated" else 1
    k = _rand_kernel(r, h, w, dil)
    keff = (dil * (k[0] - 1) + 1, dil * (k[1] - 1) + 1)
    stride = (int(r.integers(1, 3)), int(r.integers(1, 3)))
    group = 1
    if kind == "grouped":
        divisors = [g for g in range(2, c + 1) if c % g == 0]
        group = int(r.choice(divisors)) if divisors else 1
    if kind == "depthwise":
        group = c
        co = c * int(r.integers(1, max(1, max_c // c) + 1)) if c * 2 <= max_c else c
    else:
        co = group * int(r.integers(1, max(1, max_c // group) + 1))
    auto_pad = _AUTO_PADS.get(kind)
    if auto_pad is None and dil == 1 and r.random() < 0.15:  # ORT: no SAME with dilation
        auto_pad = str(r.choice(list(_AUTO_PADS.values())))
    if auto_pad == "VALID" and (keff[0] > h or keff[1] > w):
        k, keff, dil = (1, 1), (1, 1), 1  # VALID needs the kernel to fit the input
    pads = _rand_pads(r, keff)
    # Keep at least one output row/column.
    pads = (pads[0] + max(0, keff[0] - h - pads[0] - pads[2]), pads[1], pads[2],
            pads[3] + max(0, keff[1] - w - pads[1] - pads[3]))
    y, s = net.conv(x, shape, co, k, stride, pads, (dil, dil), group,
                    bias=bool(r.random() < 0.7), auto_pad=auto_pad)
    if kind == "conv_bn":
        y, s = net.bn(y, s)
    return net.activation(y, s)


def _rand_pool(net: _Net, x, shape, op):
    r = net.rng
    _, c, h, w = shape
    k = tuple(int(r.integers(1, min(3, n) + 1)) for n in (h, w))
    stride = tuple(int(r.integers(1, 3)) for _ in range(2))
    if r.random() < 0.15 and min(k[0] - stride[0], k[1] - stride[1]) >= 0:
        # SAME needs kernel >= stride: onnxruntime rejects the negative padding otherwise.
        return net.pool(op, x, shape, k, stride, None,
                        auto_pad=str(r.choice(["SAME_UPPER", "SAME_LOWER"])))
    pads = _rand_pads(r, k)
    ceil_mode = int(r.random() < 0.5)
    if ceil_mode and any(_pool_out(n, kk, ss, p0, p1, 1) != -(-(n + p0 + p1 - kk) // ss) + 1
                         for n, kk, ss, p0, p1 in ((h, k[0], stride[0], pads[0], pads[2]),
                                                   (w, k[1], stride[1], pads[1], pads[3]))):
        # ONNX shape inference ignores the "last window starts in the end padding" rule that
        # onnxruntime applies; a model relying on it fails ORT's load-time checks further down.
        ceil_mode = 0
    cip = int(r.random() < 0.5)
    return net.pool(op, x, shape, k, stride, pads, ceil_mode, cip)


def _residual(net: _Net, x, shape, max_c):
    r = net.rng
    c = shape[1]
    depthwise = r.random() < 0.3
    k = 3 if min(shape[2:]) >= 2 else 1
    y, s = net.conv(x, shape, c, (k, k), pads=(k // 2,) * 4, group=c if depthwise else 1,
                    bias=not depthwise)
    if r.random() < 0.5:
        y, s = net.bn(y, s)
    y, s = net.node("Relu", [y]), s
    y, s = net.conv(y, s, c, (1, 1))
    out = net.node("Add", [x, y] if r.random() < 0.5 else [y, x])
    return net.activation(out, shape)


def _concat(net: _Net, x, shape, max_c, max_size):
    r = net.rng
    _, c, h, w = shape
    axes = [a for a in (2, 3) if 2 * shape[a] <= max_size]
    if axes and r.random() < 0.25:  # spatial concat: same channels, along H or W
        axis = int(r.choice(axes)) - (4 if r.random() < 0.5 else 0)  # negative axis too
        a, sa = net.conv(x, shape, c, (1, 1))
        b, _ = net.activation(x, shape, allow_none=False)
        out = list(sa)
        out[axis % 4] *= 2
        return net.node("Concat", [a, b], axis=axis), tuple(out)
    c1 = int(r.integers(1, max_c // 2 + 1))
    a, _ = net.conv(x, shape, c1, (1, 1))
    branches, total = [a], c1
    if min(h, w) >= 2 and r.random() < 0.7:
        c2 = int(r.integers(1, max_c - total + 1))
        b, _ = net.conv(x, shape, c2, (3, 3), pads=(1, 1, 1, 1))
        branches.append(net.activation(b, (1, c2, h, w))[0])
        total += c2
    if total + c <= max_c:  # the input itself through a 3x3 max pool
        branches.append(net.pool("MaxPool", x, shape, (3, 3), (1, 1), (1, 1, 1, 1))[0])
        total += c
    if len(branches) == 1:
        c2 = int(r.integers(1, max_c - total + 1))
        branches.append(net.conv(x, shape, c2, (1, 1))[0])
        total += c2
    order = list(r.permutation(len(branches)))
    return net.node("Concat", [branches[j] for j in order], axis=1), (1, total, h, w)


def _block(net: _Net, kind, x, shape, max_c, max_size):
    if kind in ("conv", "conv_bn", "dilated", "grouped", "depthwise", *_AUTO_PADS):
        return _rand_conv(net, x, shape, kind, max_c)
    if kind == "maxpool":
        return _rand_pool(net, x, shape, "MaxPool")
    if kind == "avgpool":
        return _rand_pool(net, x, shape, "AveragePool")
    if kind == "residual":
        return _residual(net, x, shape, max_c)
    if kind == "concat":
        return _concat(net, x, shape, max_c, max_size)
    if kind == "dropout":
        return net.dropout(x, shape)
    return net.node("Identity", [x]), shape


# -- heads ------------------------------------------------------------------------------------
def _flatten(net: _Net, x, shape, kind):
    k = int(np.prod(shape))
    if kind == "shape_arith":  # what torch exports for x.view(x.size(0), -1)
        s = net.node("Shape", [x])
        n = net.node("Gather", [s, net.const("idx", np.array(0, np.int64))], axis=0)
        if net.opset >= 13:
            u = net.node("Unsqueeze", [n, net.const("axes", np.array([0], np.int64))])
        else:
            u = net.node("Unsqueeze", [n], axes=[0])
        target = net.node("Concat", [u, net.const("minus1", np.array([-1], np.int64))], axis=0)
        return net.node("Reshape", [x, target]), (1, k)
    choice = net.rng.integers(0, 3)
    if choice == 0:
        return net.node("Flatten", [x], axis=1), (1, k)
    target = [1, -1] if choice == 1 else [0, -1]
    return net.node("Reshape", [x, net.const("shape", np.array(target, np.int64))]), (1, k)


def _fc(net: _Net, x, shape, n, style):
    k = shape[1]
    w = net.weights((k, n), k)
    b = net.rng.normal(0, 0.1, n).astype(np.float32)
    if style == "matmul":
        y = net.node("MatMul", [x, net.const("w", w)])
        if net.rng.random() < 0.8:
            y = net.node("Add", [y, net.const("b", b)] if net.rng.random() < 0.5
                         else [net.const("b", b.reshape(1, n)), y])
        return y, (1, n)
    if net.rng.random() < 0.5:
        return net.node("Gemm", [x, net.const("w", np.ascontiguousarray(w.T)),
                                 net.const("b", b)], transB=1), (1, n)
    alpha, beta = float(net.rng.uniform(0.5, 1.5)), float(net.rng.uniform(0.5, 1.5))
    return net.node("Gemm", [x, net.const("w", w), net.const("b", b.reshape(1, n))],
                    alpha=alpha, beta=beta), (1, n)


def _head(net: _Net, kind, x, shape):
    r = net.rng
    if kind == "none":
        return x, shape
    if kind == "gap_gemm" or (kind != "flatten_gemm" and r.random() < 0.5):
        x = net.node("GlobalAveragePool", [x])
        shape = (1, shape[1], 1, 1)
    x, shape = _flatten(net, x, shape, kind)
    n = int(r.integers(2, 11))
    if r.random() < 0.3:  # a hidden layer first
        hidden = int(r.integers(2, 17))
        x, shape = _fc(net, x, shape, hidden, "matmul" if kind == "matmul_bias" else "gemm")
        if kind == "gemm_bn":
            x, shape = net.bn(x, shape)
        x, shape = net.activation(x, shape)
    x, shape = _fc(net, x, shape, n, "matmul" if kind == "matmul_bias" else "gemm")
    if kind == "gemm_bn":
        x, shape = net.bn(x, shape)
    if r.random() < 0.5:
        x, shape = net.softmax(x, shape)
    return x, shape


def random_onnx_model(seed: int, *, opset: int = 13, max_blocks: int = 4,
                      max_channels: int = 16, max_size: int = 16,
                      dynamic_batch: bool | None = None) -> onnx.ModelProto:
    """A random valid ONNX CNN (see the module docstring); same arguments, same model."""
    if max_channels < 4 or max_size < 5 or max_blocks < 1:
        raise ValueError("random_onnx_model needs max_channels >= 4, max_size >= 5 and "
                         f"max_blocks >= 1 (got {max_channels}, {max_size}, {max_blocks})")
    r = np.random.default_rng(seed)
    net = _Net(r, opset)
    c = int(r.integers(1, 5))
    h, w = (int(r.integers(5, max_size + 1)) for _ in range(2))
    dynamic = bool(r.random() < 0.5) if dynamic_batch is None else dynamic_batch
    x_name = "input"
    kinds = [BLOCK_KINDS[seed % len(BLOCK_KINDS)]]
    kinds += [str(k) for k in r.choice(BLOCK_KINDS, int(r.integers(0, max_blocks)))]
    r.shuffle(kinds)
    x, shape = x_name, (1, c, h, w)
    for kind in kinds:
        x, shape = _block(net, kind, x, shape, max_channels, max_size)
    y, y_shape = _head(net, HEAD_KINDS[seed % len(HEAD_KINDS)], x, shape)
    if all(n.op_type in ("Identity", "Dropout") for n in net.nodes):  # compute something
        y = net.node("Relu", [y])
    return net.model(x_name, ["N" if dynamic else 1, c, h, w], y, y_shape, f"random_{seed}")


def sample_input(model: onnx.ModelProto, seed: int = 0, batch: int = 1) -> np.ndarray:
    """Standard-normal float32 input for ``model`` (a dynamic batch becomes ``batch``)."""
    inits = {t.name for t in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    dims = [d.dim_value if d.HasField("dim_value") else batch
            for d in inp.type.tensor_type.shape.dim]
    return np.random.default_rng(seed).standard_normal(dims).astype(np.float32)


def op_case_models() -> list[OpCase]:
    """One-op-focused models (see ``edgecomp.testing.op_cases``)."""
    from .op_cases import op_case_models as build  # late import: op_cases builds on this module
    return build()
