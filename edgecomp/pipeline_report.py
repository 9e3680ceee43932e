"""Text summaries of a compression run and of a packed model's accuracy."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .compress import CompressResult
from .datasets import load_labeled_folder
from .errors import EdgecompError
from .evaluate import float_outputs, int_reference_outputs, runtime_outputs, scores
from .packed.reader import load_ecm
from .report import inspect_model, inspect_text, table


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def compress_report(result: CompressResult, source_path: Path, out_path: Path,
                    image_sets: dict[str, Path | None]) -> dict[str, Any]:
    """The compression report (JSON-ready): per layer and total weights, sections, the file
    against the source model file, and top-1 before (source float model) and after
    (compressed float graph, int8 reference) on each labeled image set given (``{"val": dir,
    "test": dir}``: val is what the sensitivity analysis chose on, test is held out)."""
    data = out_path.read_bytes()
    info = inspect_model(result.qmodel, len(data), data=data)
    source_bytes = source_path.stat().st_size
    info["source_file"] = {"path": str(source_path), "bytes": source_bytes}
    info["totals"]["smaller_than_source_file"] = source_bytes / len(data)
    info["passes"] = result.passes
    info["accuracy"] = {name: accuracy(result, source_path, d)
                        for name, d in image_sets.items() if d is not None}
    return info


def accuracy(result: CompressResult, source_path: Path, val_dir: Path) -> dict[str, Any]:
    from .compress import import_model

    model = result.qmodel
    images, labels, _ = load_labeled_folder(val_dir, model.labels or None,
                                            model.metadata["input"])
    before = scores(float_outputs(import_model(source_path), images), labels)
    after_float = scores(float_outputs(result.float_graph, images), labels)
    q = scores(int_reference_outputs(model, images).astype(np.float32), labels)

    def entry(s) -> dict[str, Any]:
        return {"top1": s.top1, "top5": s.top5,
                "top1_agreement_with_source": float((s.predictions == before.predictions).mean())}

    out = {"images": len(images), "dir": str(val_dir), "source_float": entry(before),
           "compressed_float": entry(after_float), "int8": entry(q)}
    if before.top1 is not None and q.top1 is not None:
        out["top1_drop_points"] = 100 * (before.top1 - q.top1)
    return out


def compress_text(info: dict[str, Any], out_path: Path) -> str:
    lines = [table(("pass", "seconds", "what"),
                   [(p["pass"], p["seconds"],
                     ", ".join(f"{k}={v}" for k, v in p.items()
                               if k not in ("pass", "seconds", "sparsity")))
                    for p in info["passes"]]), ""]
    lines.append(inspect_text(info))
    src, t = info["source_file"], info["totals"]
    lines.append(f"file {out_path}: {t['file_bytes']} bytes, "
                 f"{t['smaller_than_source_file']:.1f}x smaller than the source model file "
                 f"{Path(src['path']).name} ({src['bytes']} bytes)")
    for set_name, acc in info.get("accuracy", {}).items():
        rows = [(name, acc["images"], _pct(acc[key]["top1"]), _pct(acc[key]["top5"]),
                 _pct(acc[key]["top1_agreement_with_source"]))
                for name, key in (("source model, float (numpy)", "source_float"),
                                  ("compressed, float (numpy)", "compressed_float"),
                                  ("compressed, int8 (numpy reference)", "int8"))]
        lines += ["", f"{set_name} images ({acc['dir']}):",
                  table(("model", "images", "top-1", "top-5", "top-1 agreement with source"),
                        rows)]
        if "top1_drop_points" in acc:
            lines.append(f"top-1 drop on {set_name} (source float -> int8): "
                         f"{acc['top1_drop_points']:+.2f} points")
    return "\n".join(lines)


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
