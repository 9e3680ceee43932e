"""Golden cases for the C runtime: <out>/<case>/{model.ecm,input.bin,expected.bin}.

Synthetic QModels that exercise every op and param form of docs/format.md (groups, dilation,
asymmetric pads, ceil-mode pools, both count_include_pad modes, requantizing CONCAT, ADD with
different scales, dense and rel8 weights with padding pairs, a dynamic fixed point model).
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


CASES = {
    "cnn_dense": lambda: cnn("dense", 1),
    "cnn_sparse": lambda: cnn("sparse_rel8", 1),
    "cnn_sparse_other_weights": lambda: cnn("sparse_rel8", 2),
    "cnn_dfp_sparse": lambda: cnn("sparse_rel8", 3, dfp=True),
    "wide_fc_dense": lambda: wide_fc("dense", 4),
    "wide_fc_sparse": lambda: wide_fc("sparse_rel8", 4),
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
