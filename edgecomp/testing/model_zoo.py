"""Architecture-faithful ONNX models of the families edgecomp's seeds compress, random weights.

    proto = resnet18(scale=0.25, width=0.25)      # onnx.ModelProto, input [1, 3, 56, 56]
    proto = FAMILIES["googlenet"](scale=0.3)

Every builder takes ``scale`` (input resolution = round(224 * scale) rounded to a multiple of
32, at least 32) and ``width`` (channel multiplier, at least 4 channels per layer), and
``num_classes`` / ``seed``. The layer structure is the published one: VGG-16 (13 conv + 3 FC),
ResNet-18 (basic blocks 2-2-2-2) and ResNet-50 (bottlenecks 3-4-6-3, 1x1 projection shortcuts),
MobileNet v1 (13 depthwise-separable blocks), v2 (17 inverted residuals, ReLU6), v3-small
(squeeze-excite with HardSigmoid, HardSwish), SqueezeNet 1.1 (fire modules, ceil-mode pools),
GoogLeNet (LRN, inception 3a-5b with 1x1 / 3x3 / 5x5 / pool branches), and an SSD-style
detector (MobileNet backbone, extra feature layers, an FPN-style nearest upsample + Add,
per-map class / box heads transposed to NHWC, reshaped to [1, anchors, k] and concatenated,
class softmax over the last axis; two outputs). BatchNormalization layers carry plausible
statistics so activations stay O(1) at any depth; weights are He-initialized.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


class Net:
    """Appends ONNX nodes; every method returns the output tensor name. Shapes are tracked
    so builders can size the next layer."""

    def __init__(self, name: str, in_shape, seed: int, opset: int = OPSET):
        self.name, self.opset = name, opset
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shapes = {"input": tuple(in_shape)}
        self.count = 0

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"

    def const(self, value, kind="c") -> str:
        name = self._name(kind)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op, ins, shape, **attrs) -> str:
        out = self._name(op.lower())
        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        self.shapes[out] = tuple(int(d) for d in shape)
        return out

    def conv(self, x, co, k, stride=1, pad=None, group=1, bn=True, act="relu", bias=None):
        n, c, h, w = self.shapes[x]
        kh, kw = (k, k) if isinstance(k, int) else k
        ph, pw = (kh // 2, kw // 2) if pad is None else (pad, pad)
        fan_in = c // group * kh * kw
        wt = (self.rng.standard_normal((co, c // group, kh, kw)) * np.sqrt(2.0 / fan_in))
        ins = [x, self.const(wt.astype(np.float32), "w")]
        if bias or (bias is None and not bn):
            # a small positive bias keeps tiny random layers from going all-zero after ReLU
            ins.append(self.const((0.05 + np.abs(self.rng.standard_normal(co)) * 0.1).astype(
                np.float32), "b"))
        ho, wo = (h + 2 * ph - kh) // stride + 1, (w + 2 * pw - kw) // stride + 1
        y = self.node("Conv", ins, (n, co, ho, wo), kernel_shape=[kh, kw],
                      strides=[stride, stride], pads=[ph, pw, ph, pw], group=group)
        if bn:
            y = self.bn(y)
        return self.act(y, act)

    def bn(self, x):
        c = self.shapes[x][1]
        r = self.rng
        params = [(1 + 0.1 * r.standard_normal(c)), 0.1 * r.standard_normal(c),
                  0.1 * r.standard_normal(c), 1 + 0.2 * r.random(c)]
        ins = [x] + [self.const(p.astype(np.float32), k) for p, k in zip(params, "gbmv")]
        return self.node("BatchNormalization", ins, self.shapes[x], epsilon=1e-5)

    def act(self, x, act):
        s = self.shapes[x]
        if act is None:
            return x
        if act == "relu":
            return self.node("Relu", [x], s)
        if act == "relu6":
            return self.node("Clip", [x, self.const(np.float32(0)), self.const(np.float32(6))], s)
        if act == "hardswish":
            return self.node("HardSwish", [x], s)
        if act == "sigmoid":
            return self.node("Sigmoid", [x], s)
        raise ValueError(act)

    def pool(self, op, x, k, stride, pad=0, ceil=0):
        n, c, h, w = self.shapes[x]

        def out(size):
            span = size + 2 * pad - k
            o = (-(-span // stride) if ceil else span // stride) + 1
            return o - 1 if ceil and (o - 1) * stride >= size + pad else o
        return self.node(op, [x], (n, c, out(h), out(w)), kernel_shape=[k, k],
                         strides=[stride, stride], pads=[pad] * 4, ceil_mode=ceil)

    def gap(self, x):
        n, c = self.shapes[x][:2]
        return self.node("GlobalAveragePool", [x], (n, c, 1, 1))

    def add(self, a, b):
        return self.node("Add", [a, b], self.shapes[a])

    def concat(self, xs, axis=1):
        shape = list(self.shapes[xs[0]])
        shape[axis] = sum(self.shapes[x][axis] for x in xs)
        return self.node("Concat", xs, shape, axis=axis)

    def flatten(self, x):
        s = self.shapes[x]
        return self.node("Flatten", [x], (s[0], int(np.prod(s[1:]))), axis=1)

    def reshape(self, x, shape):
        total = int(np.prod(self.shapes[x]))
        out = list(shape)
        if -1 in out:
            out[out.index(-1)] = total // -int(np.prod(out))
        return self.node("Reshape", [x, self.const(np.array(shape, np.int64), "shape")], out)

    def gemm(self, x, n_out, act=None):
        k = self.shapes[x][1]
        wt = self.rng.standard_normal((n_out, k)) * np.sqrt(2.0 / k)
        y = self.node("Gemm", [x, self.const(wt.astype(np.float32), "w"),
                               self.const((0.1 * self.rng.standard_normal(n_out)).astype(
                                   np.float32), "b")], (1, n_out), transB=1)
        return self.act(y, act)

    def dropout(self, x):
        return self.node("Dropout", [x], self.shapes[x])

    def softmax(self, x, axis=-1):
        return self.node("Softmax", [x], self.shapes[x], axis=axis)

    def model(self, outputs) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                           ["N", *self.shapes["input"][1:]])],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", *self.shapes[o][1:]])
             for o in outputs],
            self.inits)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="edgecomp.testing.model_zoo")
        onnx.checker.check_model(proto)
        return proto


def _res(scale: float) -> int:
    return max(32, int(round(224 * scale / 32)) * 32)


def _ch(c: int, width: float) -> int:
    return max(4, int(round(c * width)))


def vgg16(scale=1.0, width=1.0, num_classes=1000, seed=0):
    r = _res(scale)
    net = Net("vgg16", (1, 3, r, r), seed)
    x = "input"
    for n_convs, c in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
        for _ in range(n_convs):
            x = net.conv(x, _ch(c, width), 3, bn=False)
        x = net.pool("MaxPool", x, 2, 2)
    x = net.flatten(x)
    for _ in range(2):
        x = net.dropout(net.gemm(x, _ch(4096, width), act="relu"))
    return net.model([net.softmax(net.gemm(x, num_classes))])


def _resnet(name, blocks, bottleneck, scale, width, num_classes, seed):
    r = _res(scale)
    net = Net(name, (1, 3, r, r), seed)
    x = net.conv("input", _ch(64, width), 7, stride=2, pad=3)
    x = net.pool("MaxPool", x, 3, 2, pad=1)
    for stage, (n, c) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for b in range(n):
            stride = 2 if stage > 0 and b == 0 else 1
            c_in = net.shapes[x][1]
            c_out = _ch(c * 4 if bottleneck else c, width)
            if bottleneck:
                y = net.conv(x, _ch(c, width), 1)
                y = net.conv(y, _ch(c, width), 3, stride=stride)
                y = net.conv(y, c_out, 1, act=None)
            else:
                y = net.conv(x, c_out, 3, stride=stride)
                y = net.conv(y, c_out, 3, act=None)
            short = x if stride == 1 and c_in == c_out else net.conv(x, c_out, 1, stride=stride,
                                                                      act=None)
            x = net.act(net.add(y, short), "relu")
    x = net.flatten(net.gap(x))
    return net.model([net.gemm(x, num_classes)])


def resnet18(scale=1.0, width=1.0, num_classes=1000, seed=0):
    return _resnet("resnet18", (2, 2, 2, 2), False, scale, width, num_classes, seed)


def resnet50(scale=1.0, width=1.0, num_classes=1000, seed=0):
    return _resnet("resnet50", (3, 4, 6, 3), True, scale, width, num_classes, seed)


def mobilenet_v1(scale=1.0, width=1.0, num_classes=1000, seed=0):
    r = _res(scale)
    net = Net("mobilenet_v1", (1, 3, r, r), seed)
    x = net.conv("input", _ch(32, width), 3, stride=2, act="relu6")
    for c, s in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5,
                 (1024, 2), (1024, 1)):
        x = net.conv(x, net.shapes[x][1], 3, stride=s, group=net.shapes[x][1], act="relu6")
        x = net.conv(x, _ch(c, width), 1, act="relu6")
    x = net.reshape(net.gap(x), (1, -1))
    return net.model([net.softmax(net.gemm(x, num_classes))])


def mobilenet_v2(scale=1.0, width=1.0, num_classes=1000, seed=0):
    r = _res(scale)
    net = Net("mobilenet_v2", (1, 3, r, r), seed)
    x = net.conv("input", _ch(32, width), 3, stride=2, act="relu6")
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            c_in, c_out = net.shapes[x][1], _ch(c, width)
            y = net.conv(x, c_in * t, 1, act="relu6") if t != 1 else x
            y = net.conv(y, net.shapes[y][1], 3, stride=stride, group=net.shapes[y][1],
                         act="relu6")
            y = net.conv(y, c_out, 1, act=None)
            x = net.add(y, x) if stride == 1 and c_in == c_out else y
    x = net.conv(x, _ch(1280, width), 1, act="relu6")
    x = net.flatten(net.gap(x))
    return net.model([net.gemm(net.dropout(x), num_classes)])


def _squeeze_excite(net, x, reduce=4):
    c = net.shapes[x][1]
    s = net.node("ReduceMean", [x], (1, c, 1, 1), axes=[2, 3], keepdims=1)
    s = net.conv(s, max(4, c // reduce), 1, bn=False, act="relu")
    s = net.conv(s, c, 1, bn=False, act=None)
    gate = net.node("HardSigmoid", [s], net.shapes[s], alpha=1 / 6, beta=0.5)
    return net.node("Mul", [x, gate], net.shapes[x])


def mobilenet_v3_small(scale=1.0, width=1.0, num_classes=1000, seed=0):
    """MobileNet v3-small: squeeze-excite (ReduceMean, HardSigmoid, broadcasting Mul) and
    HardSwish (opset 14)."""
    r = _res(scale)
    net = Net("mobilenet_v3_small", (1, 3, r, r), seed, opset=14)
    x = net.conv("input", _ch(16, width), 3, stride=2, act="hardswish")
    for k, exp, c, se, act, s in ((3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2),
                                  (3, 88, 24, False, "relu", 1),
                                  (5, 96, 40, True, "hardswish", 2),
                                  (5, 240, 40, True, "hardswish", 1),
                                  (5, 120, 48, True, "hardswish", 1),
                                  (5, 288, 96, True, "hardswish", 2),
                                  (5, 576, 96, True, "hardswish", 1)):
        c_in, c_out, e = net.shapes[x][1], _ch(c, width), _ch(exp, width)
        y = net.conv(x, e, 1, act=act)
        y = net.conv(y, e, k, stride=s, group=e, act=act)
        if se:
            y = _squeeze_excite(net, y)
        y = net.conv(y, c_out, 1, act=None)
        x = net.add(y, x) if s == 1 and c_in == c_out else y
    x = net.conv(x, _ch(576, width), 1, act="hardswish")
    x = net.flatten(net.gap(x))
    x = net.dropout(net.act(net.gemm(x, _ch(1024, width)), "hardswish"))
    return net.model([net.gemm(x, num_classes)])


def squeezenet11(scale=1.0, width=1.0, num_classes=1000, seed=0):
    r = _res(scale)
    net = Net("squeezenet1.1", (1, 3, r, r), seed)
    x = net.conv("input", _ch(64, width), 3, stride=2, pad=0, bn=False)
    x = net.pool("MaxPool", x, 3, 2, ceil=1)

    def fire(x, s, e):
        sq = net.conv(x, _ch(s, width), 1, bn=False)
        return net.concat([net.conv(sq, _ch(e, width), 1, bn=False),
                           net.conv(sq, _ch(e, width), 3, bn=False)])
    x = fire(fire(x, 16, 64), 16, 64)
    x = net.pool("MaxPool", x, 3, 2, ceil=1)
    x = fire(fire(x, 32, 128), 32, 128)
    x = net.pool("MaxPool", x, 3, 2, ceil=1)
    for s, e in ((48, 192), (48, 192), (64, 256), (64, 256)):
        x = fire(x, s, e)
    x = net.conv(net.dropout(x), num_classes, 1, bn=False)
    return net.model([net.softmax(net.flatten(net.gap(x)))])


def googlenet(scale=1.0, width=1.0, num_classes=1000, seed=0):
    r = _res(scale)
    net = Net("googlenet", (1, 3, r, r), seed)
    x = net.conv("input", _ch(64, width), 7, stride=2, pad=3, bn=False)
    x = net.pool("MaxPool", x, 3, 2, ceil=1)
    x = net.node("LRN", [x], net.shapes[x], size=5, alpha=1e-4, beta=0.75, bias=1.0)
    x = net.conv(x, _ch(64, width), 1, bn=False)
    x = net.conv(x, _ch(192, width), 3, bn=False)
    x = net.node("LRN", [x], net.shapes[x], size=5, alpha=1e-4, beta=0.75, bias=1.0)
    x = net.pool("MaxPool", x, 3, 2, ceil=1)

    def inception(x, c1, c3r, c3, c5r, c5, cp):
        b1 = net.conv(x, _ch(c1, width), 1, bn=False)
        b2 = net.conv(net.conv(x, _ch(c3r, width), 1, bn=False), _ch(c3, width), 3, bn=False)
        b3 = net.conv(net.conv(x, _ch(c5r, width), 1, bn=False), _ch(c5, width), 5, bn=False)
        b4 = net.conv(net.pool("MaxPool", x, 3, 1, pad=1), _ch(cp, width), 1, bn=False)
        return net.concat([b1, b2, b3, b4])
    x = inception(x, 64, 96, 128, 16, 32, 32)
    x = inception(x, 128, 128, 192, 32, 96, 64)
    x = net.pool("MaxPool", x, 3, 2, ceil=1)
    for cfg in ((192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64),
                (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
                (256, 160, 320, 32, 128, 128)):
        x = inception(x, *cfg)
    x = net.pool("MaxPool", x, 3, 2, ceil=1)
    x = inception(x, 256, 160, 320, 32, 128, 128)
    x = inception(x, 384, 192, 384, 48, 128, 128)
    x = net.dropout(net.flatten(net.gap(x)))
    return net.model([net.softmax(net.gemm(x, num_classes))])


def ssd_mobilenet(scale=1.0, width=1.0, num_classes=21, seed=0, anchors=3):
    """SSD-style detector: two outputs, class scores [1, A, num_classes] (softmax over the last
    axis) and boxes [1, A, 4]."""
    r = _res(scale)
    net = Net("ssd_mobilenet", (1, 3, r, r), seed)
    x = net.conv("input", _ch(32, width), 3, stride=2, act="relu6")
    feats = []
    for c, s in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)):
        x = net.conv(x, net.shapes[x][1], 3, stride=s, group=net.shapes[x][1], act="relu6")
        x = net.conv(x, _ch(c, width), 1, act="relu6")
    feats.append(x)
    for c in (256, 128):  # extra feature layers, halving the map each time
        x = net.conv(net.conv(x, _ch(c // 2, width), 1, act="relu6"), _ch(c, width), 3,
                     stride=2, act="relu6")
        feats.append(x)
    # FPN-style top-down path: upsample the coarser map, add to the finer one
    top = net.conv(feats[1], net.shapes[feats[0]][1], 1, act=None)
    up = net.node("Resize", [top, "", net.const(np.array([1, 1, 2, 2], np.float32), "scales")],
                  (*net.shapes[top][:2], *net.shapes[feats[0]][2:]), mode="nearest")
    feats[0] = net.act(net.add(feats[0], up), "relu")
    scores, boxes = [], []
    for f in feats:
        for k, out in ((num_classes, scores), (4, boxes)):
            h = net.conv(f, anchors * k, 3, bn=False, act=None)
            h = net.node("Transpose", [h], (1, *net.shapes[h][2:], anchors * k),
                         perm=[0, 2, 3, 1])
            out.append(net.reshape(h, (1, -1, k)))
    cls = net.softmax(net.concat(scores, axis=1), axis=-1)
    return net.model([cls, net.concat(boxes, axis=1)])


FAMILIES = {
    "vgg16": vgg16, "resnet18": resnet18, "resnet50": resnet50, "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2, "mobilenet_v3_small": mobilenet_v3_small,
    "squeezenet11": squeezenet11, "googlenet": googlenet, "ssd_mobilenet": ssd_mobilenet,
}
