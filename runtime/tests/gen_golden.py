"""Golden cases for the C runtime: <out>/<case>/{model.ecm,input.bin,expected.bin}.

Synthetic QModels that exercise every op and param form of docs/format.md (groups, dilation,
asymmetric pads, ceil-mode pools, both count_include_pad modes, requantizing CONCAT, ADD with
different scales, dense and rel8 weights with padding pairs, a dynamic fixed point model, and
every weight encoding decoded at load: rel4, bitmap, block, shared codes and Huffman).
The file comes from edgecomp.packed.write_ecm and the expected bytes from
edgecomp.exec_int.run_int, so the C runtime is checked against the Python spec.

    python runtime/tests/gen_golden.py OUT_DIR
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edgecomp.exec_int import run_int  # noqa: E402
from edgecomp.packed import QModel, QNode, QTensor, write_ecm  # noqa: E402
from edgecomp.quant.fixed_point import encode_multiplier, encode_ratio  # noqa: E402


class Builder:
    """Appends tensors and nodes; picks requantization so outputs spread over int8."""

    def __init__(self, seed: int, encoding: str, dfp: bool = False):
        self.rng = np.random.default_rng(seed)
        self.encoding = encoding
        self.dfp = dfp
        self.tensors: list[QTensor] = []
        self.nodes: list[QNode] = []

    def scale(self) -> float:
        s = float(self.rng.uniform(0.01, 0.2))
        return 2.0 ** round(math.log2(s)) if self.dfp else float(np.float32(s))

    def zp(self) -> int:
        return 0 if self.dfp else int(self.rng.integers(-20, 20))

    def tensor(self, name, shape, scale=None, zp=None) -> int:
        self.tensors.append(QTensor(name, tuple(shape), self.scale() if scale is None else scale,
                                    self.zp() if zp is None else zp))
        return len(self.tensors) - 1

    def t(self, i) -> QTensor:
        return self.tensors[i]

    def _weights(self, c_out, k, sparsity):
        w = self.rng.integers(-127, 128, (c_out, k)).astype(np.int8)
        w[self.rng.random(w.shape) < sparsity] = 0
        return w

    def _requant(self, w, x, y, act):
        """bias and (M, n) per channel so that y spreads over about +-50."""
        c_out = w.shape[0]
        spread = np.sqrt((w.astype(np.float64) ** 2).sum(axis=1)) * 60 + 1
        mult = np.zeros(c_out, np.int32)
        shift = np.zeros(c_out, np.int32)
        for c in range(c_out):
            m = 50.0 / spread[c]
            if self.dfp:
                m = 2.0 ** round(math.log2(m))
            mult[c], shift[c] = encode_multiplier(m)
        bias = self.rng.integers(-3000, 3000, c_out).astype(np.int32)
        zy = self.t(y).zero_point
        lo, hi = {"none": (-128, 127), "relu": (max(-128, zy), 127),
                  "relu6": (max(-128, zy), min(127, zy + 40))}[act]
        return bias, mult, shift, lo, hi

    def conv(self, name, x, c_out, k, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), groups=1,
             act="none", sparsity=0.6):
        n, c, h, w_ = self.t(x).shape
        kh, kw = k
        ho = (h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
        wo = (w_ + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
        y = self.tensor(name, (1, c_out, ho, wo))
        w = self._weights(c_out, c // groups * kh * kw, sparsity)
        bias, mult, shift, lo, hi = self._requant(w, x, y, act)
        self.nodes.append(QNode("CONV", name, [x], [y],
                                [kh, kw, *stride, pads[0], pads[1], pads[2], pads[3], *dil, groups,
                                 lo, hi], weights=w, weight_encoding=self.encoding, bias=bias,
                                multiplier=mult, shift=shift))
        return y

    def fc(self, name, x, c_out, act="none", sparsity=0.6):
        k = int(np.prod(self.t(x).shape[1:]))
        y = self.tensor(name, (1, c_out))
        w = self._weights(c_out, k, sparsity)
        bias, mult, shift, lo, hi = self._requant(w, x, y, act)
        self.nodes.append(QNode("FC", name, [x], [y], [lo, hi], weights=w,
                                weight_encoding=self.encoding, bias=bias, multiplier=mult,
                                shift=shift))
        return y

    def _pool_shape(self, x, k, s, pads, ceil):
        n, c, h, w = self.t(x).shape
        out = []
        for size, kk, ss, p0, p1 in ((h, k[0], s[0], pads[0], pads[2]),
                                     (w, k[1], s[1], pads[1], pads[3])):
            span = size + p0 + p1 - kk
            o = (-(-span // ss) if ceil else span // ss) + 1
            if ceil and (o - 1) * ss - p0 >= size:  # last window would start past the input
                o -= 1
            out.append(o)
        return (1, c, *out)

    def maxpool(self, name, x, k, s, pads=(0, 0, 0, 0), ceil=False):
        xt = self.t(x)
        y = self.tensor(name, self._pool_shape(x, k, s, pads, ceil), xt.scale, xt.zero_point)
        self.nodes.append(QNode("MAXPOOL", name, [x], [y], [*k, *s, *pads]))
        return y

    def _ratio(self, r):
        return encode_ratio(r, 30)  # a power-of-two ratio (dfp) gives M = 2^k

    def avgpool(self, name, x, k, s, pads=(0, 0, 0, 0), ceil=False, include_pad=0):
        y = self.tensor(name, self._pool_shape(x, k, s, pads, ceil))
        m, sh = self._ratio(self.t(x).scale / self.t(y).scale)
        self.nodes.append(QNode("AVGPOOL", name, [x], [y], [*k, *s, *pads, include_pad, m, sh]))
        return y

    def gap(self, name, x):
        c = self.t(x).shape[1]
        y = self.tensor(name, (1, c, 1, 1))
        m, s = self._ratio(self.t(x).scale / self.t(y).scale)
        self.nodes.append(QNode("GLOBALAVGPOOL", name, [x], [y], [m, s]))
        return y

    def add(self, name, a, b, act="none"):
        y = self.tensor(name, self.t(a).shape)
        ra, rb = self.t(a).scale / self.t(y).scale, self.t(b).scale / self.t(y).scale
        _, s = encode_ratio(max(ra, rb), 62)
        zy = self.t(y).zero_point
        lo, hi = (max(-128, zy), 127) if act == "relu" else (-128, 127)
        self.nodes.append(QNode("ADD", name, [a, b], [y],
                                [round(ra * 2 ** s), round(rb * 2 ** s), s, lo, hi]))
        return y

    def concat(self, name, xs, axis=1):
        shape = list(self.t(xs[0]).shape)
        shape[axis] = sum(self.t(x).shape[axis] for x in xs)
        y = self.tensor(name, shape)
        params = [axis]
        for x in xs:
            params += list(encode_ratio(self.t(x).scale / self.t(y).scale, 62))
        self.nodes.append(QNode("CONCAT", name, list(xs), [y], params))
        return y

    def clamp(self, name, x, lo, hi):
        xt = self.t(x)
        y = self.tensor(name, xt.shape, xt.scale, xt.zero_point)
        self.nodes.append(QNode("CLAMP", name, [x], [y], [lo, hi]))
        return y

    def reshape(self, name, x, shape):
        xt = self.t(x)
        y = self.tensor(name, shape, xt.scale, xt.zero_point)
        self.nodes.append(QNode("RESHAPE", name, [x], [y], []))
        return y

    def softmax(self, name, x):
        y = self.tensor(name, self.t(x).shape, 1 / 256, -128)
        table = np.round(2.0 ** 20 * np.exp(-np.arange(256) * self.t(x).scale)).astype(np.int32)
        self.nodes.append(QNode("SOFTMAX", name, [x], [y], [], exp_table=table))
        return y

    # -- format 1.1 ops ---------------------------------------------------------------------
    def lut(self, name, x, fn):
        """y = T[x + 128], T = quantized fn of the dequantized input."""
        xt = self.t(x)
        y = self.tensor(name, xt.shape)
        yt = self.t(y)
        real = fn(xt.scale * (np.arange(-128, 128) - xt.zero_point))
        table = np.clip(np.round(real / yt.scale) + yt.zero_point, -128, 127).astype(np.int8)
        self.nodes.append(QNode("LUT", name, [x], [y], [], table=table))
        return y

    def mul(self, name, a, b, act="none"):
        y = self.tensor(name, self.t(a).shape)
        m, s = encode_multiplier(self.t(a).scale * self.t(b).scale / self.t(y).scale * 8)
        zy = self.t(y).zero_point
        lo, hi = (max(-128, zy), 127) if act == "relu" else (-128, 127)
        self.nodes.append(QNode("MUL", name, [a, b], [y], [m, s, lo, hi]))
        return y

    def expand(self, name, x, shape):
        xt = self.t(x)
        y = self.tensor(name, shape, xt.scale, xt.zero_point)
        self.nodes.append(QNode("EXPAND", name, [x], [y], []))
        return y

    def pad(self, name, x, begin, end, value):
        xt = self.t(x)
        shape = tuple(d + a + b for d, a, b in zip(xt.shape, begin, end))
        y = self.tensor(name, shape, xt.scale, xt.zero_point)
        fill = [0] * (4 - len(begin))
        self.nodes.append(QNode("PAD", name, [x], [y],
                                [*begin, *fill, *end, *fill, value]))
        return y

    def lrn(self, name, x, size, acc_shift=3, count=600):
        y = self.tensor(name, self.t(x).shape)
        acc = (np.arange(count) << acc_shift) * self.t(x).scale ** 2
        real = self.t(x).scale / self.t(y).scale * (1.0 + 0.5 * acc / size) ** -0.75
        _, s = encode_ratio(float(real.max()), 62)
        table = np.round(real * 2.0 ** s).astype(np.int32)
        self.nodes.append(QNode("LRN", name, [x], [y], [size, acc_shift, s], table=table))
        return y

    def resize(self, name, x, out_hw, bilinear):
        xt = self.t(x)
        _, c, h, w = xt.shape
        entries = []
        for n_in, n_out in ((h, out_hw[0]), (w, out_hw[1])):
            src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
            i0 = np.floor(src).astype(np.int64)
            i1 = np.minimum(i0 + 1, n_in - 1)
            wt = np.round((src - i0) * 1024).astype(np.int64) if bilinear else np.zeros_like(i0)
            if not bilinear:
                i0 = np.minimum(np.floor((np.arange(n_out) + 0.5) * n_in / n_out), n_in - 1)
            entries.append(np.stack([i0, i1, wt], axis=1).ravel())
        table = np.concatenate(entries).astype(np.int32)
        if bilinear:
            y = self.tensor(name, (1, c, *out_hw))
            m, s = encode_ratio(xt.scale / self.t(y).scale / 2 ** 20, 62)
            params = [1, m, s]
        else:
            y = self.tensor(name, (1, c, *out_hw), xt.scale, xt.zero_point)
            params = [0, 0, 1]
        self.nodes.append(QNode("RESIZE", name, [x], [y], params, table=table))
        return y

    def transpose(self, name, x, perm):
        xt = self.t(x)
        y = self.tensor(name, tuple(xt.shape[a] for a in perm), xt.scale, xt.zero_point)
        self.nodes.append(QNode("TRANSPOSE", name, [x], [y],
                                list(perm) + list(range(len(perm), 4))))
        return y

    def model(self, inputs, outputs, labels=()) -> QModel:
        return QModel(self.tensors, self.nodes, inputs, outputs, list(labels),
                      {"producer": "runtime/tests/gen_golden.py"}, dynamic_fixed_point=self.dfp)


def cnn(encoding: str, seed: int, dfp: bool = False) -> QModel:
    """A small CNN with every op and most param forms."""
    b = Builder(seed, encoding, dfp)
    x = b.tensor("input", (1, 3, 11, 11))
    c1 = b.conv("conv1", x, 8, (3, 3), pads=(1, 1, 1, 1), act="relu")
    c2 = b.conv("conv2_s2_asym", c1, 8, (3, 3), stride=(2, 2), pads=(1, 0, 1, 0), act="relu6")
    dw = b.conv("dw", c2, 8, (3, 3), pads=(1, 1, 1, 1), groups=8, sparsity=0.3)
    g2 = b.conv("grouped", dw, 8, (1, 3), pads=(0, 1, 0, 1), groups=2)
    dil = b.conv("dilated", g2, 8, (3, 3), pads=(2, 2, 2, 2), dil=(2, 2), act="relu")
    res = b.add("residual", dil, c2, act="relu")
    mp = b.maxpool("maxpool_ceil", res, (3, 3), (2, 2), pads=(1, 1, 0, 0), ceil=True)
    ap = b.avgpool("avgpool_pad", res, (3, 3), (2, 2), pads=(1, 1, 1, 1), include_pad=0)
    ap2 = b.avgpool("avgpool_incl", res, (2, 2), (2, 2), ceil=True, include_pad=1)
    ap2c = b.clamp("clip", ap2, -60, 90)
    cat = b.concat("concat", [mp, ap, ap2c])
    pw = b.conv("pointwise", cat, 16, (1, 1), sparsity=0.9)
    g = b.gap("gap", pw)
    flat = b.reshape("flatten", g, (1, 16))
    fc = b.fc("fc", flat, 10)
    prob = b.softmax("softmax", fc)
    return b.model([x], [prob, fc], labels=[f"class {i}" for i in range(10)])


def wide_fc(encoding: str, seed: int) -> QModel:
    """Long rows at 97% sparsity: gaps over 255 need padding pairs."""
    b = Builder(seed, encoding)
    x = b.tensor("input", (1, 2000))
    h = b.fc("fc1", x, 24, act="relu", sparsity=0.97)
    y = b.fc("fc2", h, 8, sparsity=0.5)
    cat = b.concat("concat_features", [h, y], axis=1)
    rows = b.reshape("rows", cat, (4, 8))
    return b.model([x], [b.softmax("softmax_rows", rows)])


def ops_1_1(seed: int) -> QModel:
    """Every op of format 1.1: squeeze-excite (GAP, LUT sigmoid, EXPAND, MUL), hard-swish LUT,
    PAD, LRN, nearest and bilinear RESIZE, TRANSPOSE to an SSD-style [1, N, 4] head."""
    b = Builder(seed, "sparse_rel8")
    x = b.tensor("input", (1, 6, 7, 9))
    c1 = b.conv("conv1", x, 8, (3, 3), pads=(1, 1, 1, 1))
    hs = b.lut("hardswish", c1, lambda v: v * np.clip(v + 3, 0, 6) / 6)
    g = b.gap("se_pool", hs)
    sig = b.lut("se_sigmoid", g, lambda v: 1 / (1 + np.exp(-v)))
    gate = b.expand("se_expand", sig, (1, 8, 7, 9))
    se = b.mul("se_mul", hs, gate, act="relu")
    p = b.pad("pad", se, (0, 1, 2, 0), (0, 0, 1, 3), -7)
    n = b.lrn("lrn", p, 5)
    up = b.resize("up_bilinear", n, (13, 17), bilinear=True)
    dn = b.resize("down_nearest", up, (5, 4), bilinear=False)
    head = b.conv("head", dn, 8, (1, 1), sparsity=0.3)
    t = b.transpose("to_nhwc", head, (0, 2, 3, 1))
    boxes = b.reshape("boxes", t, (1, 40, 4))
    return b.model([x], [boxes])


# Weight encodings decoded at load (docs/format.md 3.3-3.8), cycled over a model's layers.
ENCODINGS = ["rel4", "bitmap", "block", "shared+rel4", "huffman+sparse_rel8", "shared+bitmap",
             "huffman+shared+block", "huffman+dense", "shared+dense", "huffman+rel4",
             "huffman+bitmap", "shared+sparse_rel8", "block", "huffman+shared+rel4"]


def with_encodings(model: QModel, encodings: list[str], levels: int = 0) -> QModel:
    """Give the weighted layers the encodings in turn ("block": blocks of a kernel row, or of 8
    for FC); ``levels`` first snaps the non-zero weights to that many values, as k-means weight
    sharing leaves them, so shared codes are narrow."""
    grid = np.round(np.linspace(-120, 120, levels)) if levels else None
    weighted = [n for n in model.nodes if n.weights is not None]
    for i, node in enumerate(weighted):
        enc = encodings[i % len(encodings)]
        if enc.endswith("block"):
            k = node.weights.shape[1]
            b = node.params[1] if node.op == "CONV" else 8
            enc += f":{b if k % b == 0 else k}"
        if grid is not None:
            w = node.weights
            snapped = grid[np.abs(w[..., None] - grid).argmin(axis=-1)].astype(np.int8)
            node.weights = np.where(w != 0, snapped, 0).astype(np.int8)
        node.weight_encoding = enc
    return model


CASES = {
    "cnn_dense": lambda: cnn("dense", 1),
    "cnn_sparse": lambda: cnn("sparse_rel8", 1),
    "cnn_sparse_other_weights": lambda: cnn("sparse_rel8", 2),
    "cnn_dfp_sparse": lambda: cnn("sparse_rel8", 3, dfp=True),
    "wide_fc_dense": lambda: wide_fc("dense", 4),
    "wide_fc_sparse": lambda: wide_fc("sparse_rel8", 4),
    "ops_1_1": lambda: ops_1_1(5),
    "ops_1_1_other": lambda: ops_1_1(6),
    "cnn_encodings": lambda: with_encodings(cnn("dense", 7), ENCODINGS),
    "cnn_encodings_shared": lambda: with_encodings(cnn("dense", 8, dfp=True), ENCODINGS[5:],
                                                   levels=15),
    "wide_fc_encodings": lambda: with_encodings(wide_fc("dense", 9),
                                                ["rel4", "huffman+shared+rel4"], levels=7),
}


def inputs_for(model: QModel, rng) -> dict[str, np.ndarray]:
    shape = model.input.shape
    return {
        "random": rng.integers(-128, 128, shape).astype(np.int8),
        "saturated": np.where(rng.random(shape) < 0.5, -128, 127).astype(np.int8),
        "zero_point": np.full(shape, model.input.zero_point, np.int8),
    }


def main(out: Path) -> int:
    rng = np.random.default_rng(1234)
    count = 0
    for name, make in CASES.items():
        model = make()
        data = write_ecm(model)
        for kind, x in inputs_for(model, rng).items():
            case = out / f"{name}_{kind}"
            case.mkdir(parents=True, exist_ok=True)
            (case / "model.ecm").write_bytes(data)
            (case / "input.bin").write_bytes(x.tobytes())
            y = run_int(model, x)[model.outputs[0]]
            (case / "expected.bin").write_bytes(np.ascontiguousarray(y).tobytes())
            count += 1
    print(f"wrote {count} golden cases to {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
