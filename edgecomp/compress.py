"""The compression pipeline: import -> fuse -> prune -> calibrate -> quantize -> encode.

Each stage is its own module; this file only wires them and records what each one did.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .datasets import list_images, load_image, parse_preprocess, read_labels
from .errors import EdgecompError
from .ir import Graph
from .packed.checks import check_model
from .packed.model import QModel
from .packed.stats import choose_encoding
from .packed.writer import save_ecm
from .passes.fuse import fuse_activations
from .passes.prune import prune_magnitude
from .quant import calibrate, quantize


@dataclass
class CompressOptions:
    calib_dir: Path | None = None
    calib_limit: int = 200
    calibration: str = "minmax"            # or "percentile"
    percentile: float = 99.99
    quant_mode: str = "affine"             # or "dfp"
    prune: float | dict[str, float] = 0.0  # fine-grained magnitude pruning target
    encoding: str = "auto"                 # auto | dense | sparse_rel8
    preprocess: dict[str, Any] | None = None
    labels: list[str] | None = None
    show_progress: bool = True


@dataclass
class CompressResult:
    qmodel: QModel
    float_graph: Graph                      # after folding, fusion and pruning
    passes: list[dict[str, Any]] = field(default_factory=list)


def sidecar(model_path: Path) -> dict[str, Any]:
    """Preprocessing / labels stored next to a model as <name>.json (optional)."""
    path = model_path.with_suffix(".json")
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise EdgecompError(f"{path}: not valid JSON ({e})") from None
    if "labels" in meta and isinstance(meta["labels"], str):
        meta["labels"] = read_labels(path.parent / meta["labels"])
    return meta


def import_model(path: str | Path) -> Graph:
    path = Path(path)
    if not path.exists():
        raise EdgecompError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from .importers import import_onnx
        return import_onnx(path)
    raise EdgecompError(f"{path}: unknown model type {suffix!r} (edgecomp reads .onnx)")


def calibration_images(opts: CompressOptions, pre: dict[str, Any], shape) -> np.ndarray:
    if opts.calib_dir is None:
        raise EdgecompError("calibration images are required (--calib DIR)")
    paths = list_images(opts.calib_dir)[:opts.calib_limit]
    images = np.concatenate([load_image(p, pre) for p in paths])
    if tuple(images.shape[1:]) != tuple(shape[1:]):
        raise EdgecompError(f"calibration images preprocess to {images.shape[1:]}, the model "
                            f"input is {tuple(shape[1:])}: check the preprocessing")
    return images


def compress(model_path: str | Path, opts: CompressOptions,
             calibration_data: np.ndarray | None = None) -> CompressResult:
    """Compress a model file. Calibration images come from ``opts.calib_dir`` (preprocessed
    per the model's preprocessing) or, for library callers, ready-made ``calibration_data``."""
    model_path = Path(model_path)
    passes: list[dict[str, Any]] = []

    def timed(name: str, fn, **info):
        t0 = time.perf_counter()
        out = fn()
        passes.append({"pass": name, "seconds": round(time.perf_counter() - t0, 3), **info})
        return out

    graph = timed("import", lambda: import_model(model_path))
    passes[-1]["nodes"] = len(graph.nodes)
    graph = timed("fuse_activations", lambda: fuse_activations(graph))
    passes[-1]["nodes"] = len(graph.nodes)
    if opts.prune:
        achieved = timed("prune_magnitude", lambda: prune_magnitude(graph, opts.prune))
        passes[-1]["sparsity"] = achieved

    side = sidecar(model_path)
    pre = opts.preprocess or side.get("input")
    if pre is None and calibration_data is None:
        raise EdgecompError(f"no preprocessing known for {model_path}: give --preprocess JSON "
                            f"or put {model_path.with_suffix('.json').name} next to the model")
    if pre is not None:
        parse_preprocess(pre)
    labels = opts.labels if opts.labels is not None else side.get("labels", [])
    in_shape = graph.shape(graph.inputs[0])
    if calibration_data is None:
        images = timed("load_calibration", lambda: calibration_images(opts, pre, in_shape))
    else:
        images = np.asarray(calibration_data, dtype=np.float32)
        if tuple(images.shape[1:]) != tuple(in_shape[1:]):
            raise EdgecompError(f"calibration data has shape {images.shape}, the model input "
                                f"is {tuple(in_shape)}")
        passes.append({"pass": "load_calibration", "seconds": 0.0})
    passes[-1]["images"] = len(images)
    ranges = timed("calibrate", lambda: calibrate(graph, images, opts.calibration,
                                                  opts.percentile,
                                                  show_progress=opts.show_progress),
                   method=opts.calibration)
    qmodel = timed("quantize", lambda: quantize(graph, ranges, opts.quant_mode),
                   mode=opts.quant_mode)
    for node in qmodel.nodes:
        if node.weights is not None:
            node.weight_encoding = choose_encoding(node, opts.encoding)
    check_model(qmodel)
    qmodel.labels = list(labels)
    qmodel.metadata = {
        "format": "ecm", "producer": f"edgecomp {__version__}",
        "source": {"path": model_path.name, "format": model_path.suffix.lstrip("."),
                   "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
                   **{k: v for k, v in graph.metadata.items()
                      if isinstance(v, (str, int, float))}},
        "input": {**(pre or {}), "name": graph.inputs[0], "layout": "NCHW",
                  "shape": list(in_shape)},
        "quantization": {"mode": opts.quant_mode, "calibration": opts.calibration,
                         "images": int(len(images))},
        "layers": {n.name: {"source_nodes": list(n.source)} for n in graph.nodes},
        "passes": passes,
    }
    return CompressResult(qmodel, graph, passes)


def compress_to_file(model_path: str | Path, out_path: str | Path,
                     opts: CompressOptions) -> CompressResult:
    result = compress(model_path, opts)
    save_ecm(result.qmodel, out_path)
    return result
