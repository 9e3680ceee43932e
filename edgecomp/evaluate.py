"""Accuracy and agreement of the float graph, the integer reference and the C runtime."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .exec_float import run_float
from .exec_int import dequantize, quantize_input, run_int
from .ir import Graph
from .packed.model import QModel


@dataclass
class Scores:
    top1: float | None
    top5: float | None
    predictions: np.ndarray   # [N] argmax


def scores(logits: np.ndarray, labels: np.ndarray | None) -> Scores:
    logits = logits.reshape(len(logits), -1)
    pred = logits.argmax(axis=1)
    if labels is None:
        return Scores(None, None, pred)
    k = min(5, logits.shape[1])
    topk = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return Scores(float((pred == labels).mean()),
                  float((topk == labels[:, None]).any(axis=1).mean()), pred)


def float_outputs(graph: Graph, images: np.ndarray, batch: int = 64) -> np.ndarray:
    out = graph.outputs[0]
    return np.concatenate([run_float(graph, images[i:i + batch])[out]
                           for i in range(0, len(images), batch)])


def int_reference_outputs(model: QModel, images: np.ndarray) -> np.ndarray:
    """int8 outputs of the numpy integer executor, one image at a time."""
    q = quantize_input(model, images)
    out = model.outputs[0]
    return np.concatenate([run_int(model, q[i:i + 1])[out] for i in range(len(q))])


def runtime_outputs(runtime, model: QModel, images: np.ndarray) -> np.ndarray:
    q = quantize_input(model, images)
    return np.concatenate([runtime.run(q[i:i + 1]) for i in range(len(q))])


def snr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    noise = float(((ref - approx) ** 2).sum())
    return float("inf") if noise == 0 else 10 * np.log10(float((ref ** 2).sum()) / noise)


def dequantized(model: QModel, q: np.ndarray) -> np.ndarray:
    return dequantize(model.output, q)
