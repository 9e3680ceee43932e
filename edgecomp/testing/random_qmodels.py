"""Random valid QModels straight at the format level, for integer bit-exactness tests.

Unlike random ONNX graphs (which go through import and calibration and so produce "tame"
parameters), these draw every parameter from its whole legal range: zero points at -128/127,
shifts up to 62, tiny and huge multipliers, long zero gaps in sparse rows, asymmetric padding,
ceil-mode pools, concat on any axis. ``random_qmodel(seed)`` is deterministic.
"""
from __future__ import annotations

import numpy as np

from ..packed.checks import check_model, conv_out, pool_out_options
from ..packed.model import QModel, QNode, QTensor


class _Builder:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.tensors: list[QTensor] = []
        self.nodes: list[QNode] = []

    def tensor(self, shape, scale=None, zp=None) -> int:
        r = self.rng
        scale = float(np.float32(scale if scale is not None else 2.0 ** r.uniform(-8, 1)))
        zp = int(zp if zp is not None else r.choice([-128, 127, 0, int(r.integers(-128, 128))]))
        self.tensors.append(QTensor(f"t{len(self.tensors)}", tuple(int(s) for s in shape),
                                    scale, zp))
        return len(self.tensors) - 1

    def clamp_range(self) -> list[int]:
        r = self.rng
        if r.random() < 0.5:
            return [-128, 127]
        lo = int(r.integers(-128, 64))
        return [lo, int(r.integers(lo, 128))]

    def weights(self, c_out: int, k: int) -> tuple[np.ndarray, str]:
        r = self.rng
        w = r.integers(-127, 128, (c_out, k)).astype(np.int8)
        sparsity = float(r.choice([0.0, 0.5, 0.9, 0.99, 1.0]))
        w[r.random(w.shape) < sparsity] = 0
        if k > 300 and r.random() < 0.5:
            w[0, :] = 0
            w[0, k - 1] = 3  # one gap longer than 255: padding pairs
        return w, str(r.choice(["dense", "sparse_rel8"]))

    def requant(self, c_out: int) -> tuple[np.ndarray, np.ndarray]:
        r = self.rng
        shift = r.integers(1, 63, c_out)
        shift[r.random(c_out) < 0.5] = r.integers(8, 24)
        mult = r.integers(1 << 30, 1 << 31, c_out)
        mult[r.random(c_out) < 0.1] = 0
        return mult.astype(np.int32), shift.astype(np.int32)

    def conv(self, x: int) -> int:
        r = self.rng
        _, c, h, w = self.tensors[x].shape
        kh, kw = int(r.integers(1, 6)), int(r.integers(1, 6))
        sh, sw = int(r.integers(1, 4)), int(r.integers(1, 4))
        dh, dw = int(r.choice([1, 1, 2])), int(r.choice([1, 1, 2]))
        pads = [int(v) for v in r.integers(0, 3, 4)]
        ho = conv_out(h, kh, sh, pads[0], pads[2], dh)
        wo = conv_out(w, kw, sw, pads[1], pads[3], dw)
        if ho < 1 or wo < 1:
            kh = kw = sh = sw = dh = dw = 1
            pads = [0, 0, 0, 0]
            ho, wo = h, w
        groups = int(r.choice([g for g in (1, 2, 3, c) if c % g == 0]))
        c_out = groups * int(r.integers(1, 4)) if groups == c else groups * int(r.integers(1, 6))
        y = self.tensor((1, c_out, ho, wo))
        wts, enc = self.weights(c_out, c // groups * kh * kw)
        mult, shift = self.requant(c_out)
        self.nodes.append(QNode(
            "CONV", f"conv{len(self.nodes)}", [x], [y],
            [kh, kw, sh, sw, pads[0], pads[1], pads[2], pads[3], dh, dw, groups]
            + self.clamp_range(), weights=wts, weight_encoding=enc,
            bias=r.integers(-1 << 20, 1 << 20, c_out).astype(np.int32),
            multiplier=mult, shift=shift))
        return y

    def pool(self, x: int, op: str) -> int:
        r = self.rng
        _, c, h, w = self.tensors[x].shape
        kh, kw = int(r.integers(1, min(h, 4) + 1)), int(r.integers(1, min(w, 4) + 1))
        sh, sw = int(r.integers(1, 3)), int(r.integers(1, 3))
        pads = [int(r.integers(0, kh)), int(r.integers(0, kw)), int(r.integers(0, kh)),
                int(r.integers(0, kw))]
        ho = max(o for o in pool_out_options(h, kh, sh, pads[0], pads[2])
                 if (o - 1) * sh - pads[0] < h)
        wo = max(o for o in pool_out_options(w, kw, sw, pads[1], pads[3])
                 if (o - 1) * sw - pads[1] < w)
        if r.random() < 0.5:  # floor mode
            ho = (h + pads[0] + pads[2] - kh) // sh + 1
            wo = (w + pads[1] + pads[3] - kw) // sw + 1
        if op == "MAXPOOL":
            xt = self.tensors[x]
            y = self.tensor((1, c, ho, wo), xt.scale, xt.zero_point)
            self.nodes.append(QNode(op, f"maxpool{len(self.nodes)}", [x], [y],
                                    [kh, kw, sh, sw, *pads]))
        else:
            y = self.tensor((1, c, ho, wo))
            m, s = int(r.integers(1 << 29, 1 << 31)), int(r.integers(1, 31))
            self.nodes.append(QNode(op, f"avgpool{len(self.nodes)}", [x], [y],
                                    [kh, kw, sh, sw, *pads, int(r.integers(0, 2)), m, s]))
        return y

    def add(self, a: int, b: int) -> int:
        r = self.rng
        y = self.tensor(self.tensors[a].shape)
        s = int(r.integers(1, 40))
        self.nodes.append(QNode("ADD", f"add{len(self.nodes)}", [a, b], [y],
                                [int(r.integers(0, 1 << 31)), int(r.integers(0, 1 << 31)), s]
                                + self.clamp_range()))
        return y

    def concat(self, xs: list[int], axis: int) -> int:
        r = self.rng
        shape = list(self.tensors[xs[0]].shape)
        shape[axis] = sum(self.tensors[t].shape[axis] for t in xs)
        y = self.tensor(shape)
        params = [axis]
        for _ in xs:
            params += [int(r.integers(0, 1 << 31)), int(r.integers(1, 40))]
        self.nodes.append(QNode("CONCAT", f"concat{len(self.nodes)}", xs, [y], params))
        return y

    def clamp(self, x: int) -> int:
        xt = self.tensors[x]
        y = self.tensor(xt.shape, xt.scale, xt.zero_point)
        self.nodes.append(QNode("CLAMP", f"clamp{len(self.nodes)}", [x], [y],
                                self.clamp_range()))
        return y

    def reshape(self, x: int, shape) -> int:
        xt = self.tensors[x]
        y = self.tensor(shape, xt.scale, xt.zero_point)
        self.nodes.append(QNode("RESHAPE", f"reshape{len(self.nodes)}", [x], [y], []))
        return y

    def head(self, x: int) -> int:
        r = self.rng
        _, c, h, w = self.tensors[x].shape
        if r.random() < 0.5:
            g = self.tensor((1, c, 1, 1))
            self.nodes.append(QNode("GLOBALAVGPOOL", f"gap{len(self.nodes)}", [x], [g],
                                    [int(r.integers(1 << 29, 1 << 31)),
                                     int(r.integers(1, 31))]))
            x, k = g, c
        else:
            k = c * h * w
        flat = self.reshape(x, (1, k))
        n = int(r.integers(1, 12))
        y = self.tensor((1, n))
        wts, enc = self.weights(n, k)
        mult, shift = self.requant(n)
        self.nodes.append(QNode("FC", f"fc{len(self.nodes)}", [flat], [y], self.clamp_range(),
                                weights=wts, weight_encoding=enc,
                                bias=r.integers(-1 << 20, 1 << 20, n).astype(np.int32),
                                multiplier=mult, shift=shift))
        if r.random() < 0.7:
            p = self.tensor((1, n), 1 / 256, -128)
            table = np.round(2 ** 20 * np.exp(-np.arange(256) * self.tensors[y].scale))
            self.nodes.append(QNode("SOFTMAX", f"softmax{len(self.nodes)}", [y], [p], [],
                                    exp_table=table.astype(np.int32)))
            y = p
        return y


def random_qmodel(seed: int, max_layers: int = 6) -> QModel:
    """A random valid QModel covering every op; small enough for fast tests."""
    rng = np.random.default_rng(seed)
    b = _Builder(rng)
    c, h, w = int(rng.integers(1, 9)), int(rng.integers(1, 17)), int(rng.integers(1, 17))
    x = b.tensor((1, c, h, w))
    cur = x
    for _ in range(int(rng.integers(2, max_layers + 1))):
        kind = rng.choice(["conv", "conv", "maxpool", "avgpool", "add", "concat", "clamp"])
        if kind == "conv":
            cur = b.conv(cur)
        elif kind in ("maxpool", "avgpool"):
            cur = b.pool(cur, kind.upper())
        elif kind == "add":
            shape = b.tensors[cur].shape
            other = b.clamp(cur)
            cur = b.add(cur, other) if b.tensors[other].shape == shape else cur
        elif kind == "concat":
            other = b.pool(cur, "MAXPOOL")
            axis = 1 if b.tensors[other].shape[2:] == b.tensors[cur].shape[2:] else None
            if axis is not None:
                cur = b.concat([cur, other], axis)
            else:
                cur = b.concat([cur, b.clamp(cur)], int(rng.integers(1, 4)))
        else:
            cur = b.clamp(cur)
    out = b.head(cur)
    model = QModel(b.tensors, b.nodes, [x], [out], labels=[], metadata={"seed": seed})
    check_model(model)
    return model
