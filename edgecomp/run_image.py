"""Classify one image with a packed model on the C runtime (what `edgecomp run` prints)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .datasets import load_image
from .errors import EdgecompError, RuntimeFailure
from .exec_int import dequantize, quantize_input, run_int
from .packed.reader import load_ecm


def classify_image(model_path: Path, image: Path, top: int = 5,
                   reference: bool = False) -> list[str]:
    from .runtime import Runtime

    model = load_ecm(model_path)
    pre = model.metadata.get("input")
    if not pre:
        raise EdgecompError(f"{model_path}: no input preprocessing in its metadata")
    x = quantize_input(model, load_image(image, pre))
    if tuple(x.shape) != tuple(model.input.shape):
        raise EdgecompError(f"{image} preprocesses to {x.shape}, the model takes "
                            f"{model.input.shape}")
    rt = Runtime(model_path)
    q = rt.run(x)
    lines = []
    if reference:
        ref = run_int(model, x)[model.outputs[0]]
        if not np.array_equal(ref, q):
            raise RuntimeFailure("C runtime output differs from the numpy integer reference "
                                 f"at {int(np.flatnonzero(ref != q)[0])} positions: a bug")
        lines.append("C runtime output is bit-identical to the numpy integer reference")
    scores = dequantize(model.output, q).reshape(-1)
    is_prob = model.nodes[-1].op == "SOFTMAX"
    order = np.argsort(-scores, kind="stable")[:max(1, top)]
    lines.append(f"{image.name}: top-{len(order)} ({'probability' if is_prob else 'score'})")
    for rank, c in enumerate(order, 1):
        label = model.labels[c] if c < len(model.labels) else f"class {c}"
        lines.append(f"  {rank}. {label:30s} {scores[c]:.4f}")
    return lines
