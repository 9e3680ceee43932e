"""Running a model with lossy activations: encode + decode every boundary tensor.

This runs on the numpy integer reference executor (``edgecomp.exec_int``), not the float one:
the codec sees exactly the int8 bytes an accelerator would move to memory, and every other
step is the bit-exact integer semantics the C runtime implements, so the accuracy measured here
is the accuracy the deployed int8 model would have with the codec in its memory path. (The C
runtime has no hook between layers, and a float run would measure a different model.)
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..exec_int import KERNELS, dequantize
from ..packed.model import QModel
from .codecs import Codec


def apply_codec(model: QModel, t: int, v: np.ndarray, codec: Codec) -> np.ndarray:
    if codec.lossless:
        return v
    return codec.decode(codec.encode(v, model.tensors[t].zero_point))


def run_lossy(model: QModel, x: np.ndarray, codecs: dict[int, Codec]) -> dict[int, np.ndarray]:
    """Run one int8 input; tensor t in ``codecs`` is replaced by decode(encode(t)) as soon as it
    is produced. Returns every tensor."""
    values: dict[int, np.ndarray] = {model.inputs[0]: x}
    for node in model.nodes:
        out = node.outputs[0]
        y = KERNELS[node.op](model, node, *(values[i] for i in node.inputs))
        values[out] = apply_codec(model, out, y, codecs[out]) if out in codecs else y
    return values


def rerun_from(model: QModel, exact: dict[int, np.ndarray], t: int,
               replacement: np.ndarray) -> dict[int, np.ndarray]:
    """Re-run only the nodes that depend on tensor t, with t replaced (a one-layer lossy run
    that reuses the exact values of everything else)."""
    values = dict(exact)
    values[t] = replacement
    dirty = {t}
    for node in model.nodes:
        if node.outputs[0] != t and any(i in dirty for i in node.inputs):
            values[node.outputs[0]] = KERNELS[node.op](model, node,
                                                      *(values[i] for i in node.inputs))
            dirty.add(node.outputs[0])
    return values


def score_tensor(model: QModel) -> int:
    """The tensor whose error measures a lossy run: the logits before a final SOFTMAX, else
    the output."""
    out = model.outputs[0]
    last = next((n for n in model.nodes if n.outputs[0] == out), None)
    return last.inputs[0] if last is not None and last.op == "SOFTMAX" else out


def nmse(model: QModel, t: int, ref: list[np.ndarray], approx: list[np.ndarray]) -> float:
    """Normalized squared error of tensor t in real units, over a set of images."""
    r = np.concatenate([dequantize(model.tensors[t], v).reshape(-1) for v in ref])
    a = np.concatenate([dequantize(model.tensors[t], v).reshape(-1) for v in approx])
    energy = float((r.astype(np.float64) ** 2).sum())
    err = float(((r.astype(np.float64) - a) ** 2).sum())
    return err / energy if energy else err


def batch_outputs(model: QModel, qimages: np.ndarray,
                  run: Callable[[np.ndarray], dict[int, np.ndarray]]) -> np.ndarray:
    out = model.outputs[0]
    return np.concatenate([run(qimages[i:i + 1])[out].reshape(1, -1)
                           for i in range(len(qimages))])
