"""Text summaries of a compression run and of a packed model's accuracy."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .compress import CompressResult
from .datasets import load_labeled_folder
from .errors import EdgecompError
from .evaluate import float_outputs, int_reference_outputs, runtime_outputs, scores
from .packed.reader import load_ecm
from .report import inspect_model, inspect_text, table


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def compress_summary(result: CompressResult, out_path: Path, val_dir: Path | None) -> str:
    lines = [table(("pass", "seconds", "what"),
                   [(p["pass"], p["seconds"],
                     ", ".join(f"{k}={v}" for k, v in p.items()
                               if k not in ("pass", "seconds", "sparsity")))
                    for p in result.passes]), ""]
    info = inspect_model(result.qmodel, out_path.stat().st_size)
    lines.append(inspect_text(info))
    lines.append(f"wrote {out_path}")
    if val_dir is not None:
        lines.append("")
        lines.append(accuracy_table(result, val_dir))
    return "\n".join(lines)


def accuracy_table(result: CompressResult, val_dir: Path) -> str:
    model = result.qmodel
    images, labels, _ = load_labeled_folder(val_dir, model.labels or None,
                                            model.metadata["input"])
    f = scores(float_outputs(result.float_graph, images), labels)
    q = int_reference_outputs(model, images)
    i = scores(q.astype(np.float32), labels)
    agree = float((f.predictions == i.predictions).mean())
    return table(("executor", "images", "top-1", "top-5", "top-1 agreement with float"),
                 [("float (numpy)", len(images), _pct(f.top1), _pct(f.top5), "-"),
                  ("int8 (numpy reference)", len(images), _pct(i.top1), _pct(i.top5),
                   _pct(agree))])


def evaluate_packed(model_path: Path, images_dir: Path, limit: int | None) -> str:
    from .runtime import Runtime

    model = load_ecm(model_path)
    if "input" not in model.metadata:
        raise EdgecompError(f"{model_path}: no input preprocessing in its metadata")
    images, labels, _ = load_labeled_folder(images_dir, model.labels or None,
                                            model.metadata["input"], limit)
    out = runtime_outputs(Runtime(model_path), model, images)
    s = scores(out.astype(np.float32), labels)
    if labels is None:
        return f"{len(images)} images (unlabeled): predictions {np.bincount(s.predictions)}"
    return table(("model", "images", "top-1", "top-5"),
                 [(model_path.name + " (C runtime)", len(images), _pct(s.top1), _pct(s.top5))])
