"""Architecture-faithful CNNs as ONNX (random He-initialised weights: right for speed, not for
accuracy): VGG-16, ResNet-18/50, MobileNet v1/v2, SqueezeNet 1.1 and a GoogLeNet-style
inception network. Conv + bias + ReLU (batch norm folded away, as the importer would), NCHW,
batch 1, opset 13.

    from benchmarks.models import build, MODELS
    proto = build("resnet18", size=224)          # onnx.ModelProto
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Net:
    """Accumulates nodes and initializers; layer methods return (tensor, channels, h, w)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def conv(self, x, c, h, w, co, k, stride=1, pad=None, group=1, act="relu"):
        pad = k // 2 if pad is None else pad
        fan_in = c // group * k * k
        wt = self.rng.standard_normal((co, c // group, k, k)) * math.sqrt(2.0 / fan_in)
        b = self.rng.normal(0, 0.05, co)
        y = self.name("conv")
        self.nodes.append(helper.make_node(
            "Conv", [x, self.const("w", wt), self.const("b", b)], [y], kernel_shape=[k, k],
            strides=[stride, stride], pads=[pad] * 4, group=group))
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        return self.act(y, act), co, ho, wo

    def act(self, x, act):
        if act is None:
            return x
        y = self.name(act)
        if act == "relu":
            self.nodes.append(helper.make_node("Relu", [x], [y]))
        else:  # relu6
            self.nodes.append(helper.make_node(
                "Clip", [x, self.const("lo", np.array(0.0)), self.const("hi", np.array(6.0))],
                [y]))
        return y

    def maxpool(self, x, c, h, w, k, stride, pad=0, ceil=0):
        y = self.name("pool")
        self.nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=[k, k],
                                           strides=[stride] * 2, pads=[pad] * 4,
                                           ceil_mode=ceil))
        f = math.ceil if ceil else math.floor
        return y, c, int(f((h + 2 * pad - k) / stride)) + 1, int(f((w + 2 * pad - k) / stride)) + 1

    def add(self, a, b, act="relu"):
        y = self.name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [y]))
        return self.act(y, act)

    def concat(self, xs):
        y = self.name("cat")
        self.nodes.append(helper.make_node("Concat", xs, [y], axis=1))
        return y

    def head(self, x, c, h, w, classes=1000, gap=True, hidden=()):
        if gap:
            g = self.name("gap")
            self.nodes.append(helper.make_node("GlobalAveragePool", [x], [g]))
            x, h, w = g, 1, 1
        f = self.name("flat")
        self.nodes.append(helper.make_node("Flatten", [x], [f]))
        x, k = f, c * h * w
        for i, n in enumerate(list(hidden) + [classes]):
            wt = self.rng.standard_normal((k, n)) * math.sqrt(2.0 / k)
            y = self.name("fc")
            self.nodes.append(helper.make_node(
                "Gemm", [x, self.const("w", wt), self.const("b", np.zeros(n))], [y]))
            x, k = (self.act(y, "relu") if i < len(hidden) else y), n
        return x

    def model(self, x_shape, out, classes=1000) -> onnx.ModelProto:
        g = helper.make_graph(
            self.nodes, "net", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                              list(x_shape))],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, classes])], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def vgg16(size=224):
    n = Net(16)
    x, c, h, w = "input", 3, size, size
    for co, reps in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(reps):
            x, c, h, w = n.conv(x, c, h, w, co, 3)
        x, c, h, w = n.maxpool(x, c, h, w, 2, 2)
    return n.model((1, 3, size, size), n.head(x, c, h, w, gap=False, hidden=(4096, 4096)))


def _basic(n, x, c, h, w, co, stride):
    y, _, ho, wo = n.conv(x, c, h, w, co, 3, stride)
    y, _, _, _ = n.conv(y, co, ho, wo, co, 3, 1, act=None)
    if stride != 1 or c != co:
        x, _, _, _ = n.conv(x, c, h, w, co, 1, stride, act=None)
    return n.add(y, x), co, ho, wo


def _bottleneck(n, x, c, h, w, mid, stride):
    co = 4 * mid
    y, _, _, _ = n.conv(x, c, h, w, mid, 1)
    y, _, ho, wo = n.conv(y, mid, h, w, mid, 3, stride)
    y, _, _, _ = n.conv(y, mid, ho, wo, co, 1, act=None)
    if stride != 1 or c != co:
        x, _, _, _ = n.conv(x, c, h, w, co, 1, stride, act=None)
    return n.add(y, x), co, ho, wo


def resnet(depth=18, size=224):
    n = Net(depth)
    x, c, h, w = n.conv("input", 3, size, size, 64, 7, 2, 3)
    x, c, h, w = n.maxpool(x, c, h, w, 3, 2, 1)
    reps = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth]
    for stage, (width, r) in enumerate(zip((64, 128, 256, 512), reps)):
        for i in range(r):
            stride = 2 if stage > 0 and i == 0 else 1
            if depth == 18:
                x, c, h, w = _basic(n, x, c, h, w, width, stride)
            else:
                x, c, h, w = _bottleneck(n, x, c, h, w, width, stride)
    return n.model((1, 3, size, size), n.head(x, c, h, w))


def mobilenet_v1(size=224):
    n = Net(1)
    x, c, h, w = n.conv("input", 3, size, size, 32, 3, 2)
    for co, s in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                  (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)):
        x, c, h, w = n.conv(x, c, h, w, c, 3, s, group=c)
        x, c, h, w = n.conv(x, c, h, w, co, 1)
    return n.model((1, 3, size, size), n.head(x, c, h, w))


def mobilenet_v2(size=224):
    n = Net(2)
    x, c, h, w = n.conv("input", 3, size, size, 32, 3, 2, act="relu6")
    for t, co, reps, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(reps):
            stride = s if i == 0 else 1
            y, e, hh, ww = (n.conv(x, c, h, w, c * t, 1, act="relu6") if t != 1
                            else (x, c, h, w))
            y, e, ho, wo = n.conv(y, e, hh, ww, e, 3, stride, group=e, act="relu6")
            y, _, _, _ = n.conv(y, e, ho, wo, co, 1, act=None)
            if stride == 1 and c == co:
                y = n.add(y, x, act=None)
            x, c, h, w = y, co, ho, wo
    x, c, h, w = n.conv(x, c, h, w, 1280, 1, act="relu6")
    return n.model((1, 3, size, size), n.head(x, c, h, w))


def squeezenet(size=224):
    n = Net(11)
    x, c, h, w = n.conv("input", 3, size, size, 64, 3, 2, 0)
    x, c, h, w = n.maxpool(x, c, h, w, 3, 2, ceil=1)

    def fire(x, c, h, w, s, e):
        y, _, _, _ = n.conv(x, c, h, w, s, 1)
        a, _, _, _ = n.conv(y, s, h, w, e, 1)
        b, _, _, _ = n.conv(y, s, h, w, e, 3)
        return n.concat([a, b]), 2 * e, h, w

    for i, (s, e) in enumerate(((16, 64), (16, 64), (32, 128), (32, 128), (48, 192),
                                (48, 192), (64, 256), (64, 256))):
        x, c, h, w = fire(x, c, h, w, s, e)
        if i in (1, 3):
            x, c, h, w = n.maxpool(x, c, h, w, 3, 2, ceil=1)
    x, c, h, w = n.conv(x, c, h, w, 1000, 1)
    g = n.name("gap")
    n.nodes.append(helper.make_node("GlobalAveragePool", [x], [g]))
    f = n.name("flat")
    n.nodes.append(helper.make_node("Flatten", [g], [f]))
    return n.model((1, 3, size, size), f)


def inception(size=224):
    """GoogLeNet's stem and its inception 3a, 3b, (pool), 4a, 4b modules."""
    n = Net(22)
    x, c, h, w = n.conv("input", 3, size, size, 64, 7, 2, 3)
    x, c, h, w = n.maxpool(x, c, h, w, 3, 2, 1)
    x, c, h, w = n.conv(x, c, h, w, 64, 1)
    x, c, h, w = n.conv(x, c, h, w, 192, 3)
    x, c, h, w = n.maxpool(x, c, h, w, 3, 2, 1)

    def block(x, c, h, w, o1, r3, o3, r5, o5, pp):
        a, _, _, _ = n.conv(x, c, h, w, o1, 1)
        b, _, _, _ = n.conv(x, c, h, w, r3, 1)
        b, _, _, _ = n.conv(b, r3, h, w, o3, 3)
        d, _, _, _ = n.conv(x, c, h, w, r5, 1)
        d, _, _, _ = n.conv(d, r5, h, w, o5, 5)
        p, _, _, _ = n.maxpool(x, c, h, w, 3, 1, 1)
        p, _, _, _ = n.conv(p, c, h, w, pp, 1)
        return n.concat([a, b, d, p]), o1 + o3 + o5 + pp, h, w

    x, c, h, w = block(x, c, h, w, 64, 96, 128, 16, 32, 32)
    x, c, h, w = block(x, c, h, w, 128, 128, 192, 32, 96, 64)
    x, c, h, w = n.maxpool(x, c, h, w, 3, 2, 1)
    x, c, h, w = block(x, c, h, w, 192, 96, 208, 16, 48, 64)
    x, c, h, w = block(x, c, h, w, 160, 112, 224, 24, 64, 64)
    return n.model((1, 3, size, size), n.head(x, c, h, w))


MODELS = {
    "vgg16": vgg16,
    "resnet18": lambda size=224: resnet(18, size),
    "resnet50": lambda size=224: resnet(50, size),
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "squeezenet": squeezenet,
    "inception": inception,
}


def build(name: str, size: int = 224) -> onnx.ModelProto:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}: {', '.join(MODELS)}")
    return MODELS[name](size)


def macs(proto: onnx.ModelProto) -> int:
    """Dense MACs of the Conv and Gemm nodes (shapes by onnx shape inference)."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    inits = {i.name: list(i.dims) for i in proto.graph.initializer}
    total = 0
    for node in proto.graph.node:
        if node.op_type == "Conv":
            o = shapes[node.output[0]]
            wshape = inits[node.input[1]]
            total += int(np.prod(o)) * int(np.prod(wshape[1:]))
        elif node.op_type == "Gemm":
            total += int(np.prod(inits[node.input[1]]))
    return total
