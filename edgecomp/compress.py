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
from .packed.writer import save_ecm
from .passes.fuse import fuse_activations
from .passes import pruning as pruning_stage
from . import storage
from .quant import calibrate, quantize


@dataclass
class CompressOptions:
    calib_dir: Path | None = None
    calib_limit: int = 500                 # evenly spaced subset of the folder when larger
    calibration: str = "minmax"            # or "percentile"
    percentile: float = 99.99
    quant_mode: str = "affine"             # or "dfp"
    # Pruning (edgecomp/passes/pruning.py says how these combine).
    prune: float | dict[str, float] = 0.0  # target sparsity per layer (or {layer: target})
    granularity: str | None = None         # fine | vector | kernel | filter | N:M (default fine)
    prune_rule: str | None = None          # instead of prune: "std:1.2" or "abs:0.05"
    prune_norm: str = "l2"                 # group saliency: l2 | l1
    sensitivity: bool | str = False        # True/"sparsity" or "std": sweep, choose per layer
    sweep: tuple[float, ...] | None = None # sweep points (sparsities or std ratios)
    max_drop: float | None = None          # budget: max metric drop of the whole model
    drop_margin: float = 1.0               # ... held with this many standard errors to spare
    target_size: int | None = None         # budget: weight bytes of the pruned layers
    recipe: Path | None = None             # replay this recipe (written to it by sensitivity)
    reconstruct: bool = False              # least-squares refit of the surviving weights
    ridge: float = 1e-3
    val_dir: Path | None = None            # validation images for the sensitivity metric
    val_data: tuple[np.ndarray, np.ndarray | None] | None = None  # or ready-made (x, labels)
    report_dir: Path | None = None         # pruning.json, sensitivity.json / .png
    # Storage (edgecomp/storage.py): k-means sharing, weight bit widths, encodings.
    share_bits: int | str | dict[str, int] | None = None  # 4, or "conv=6,fc=4,<layer>=5"
    share_scope: str = "channel"           # cluster in per-channel or per-layer scale units
    weight_bits: int | str | dict[str, int] | None = None  # 8, or "conv=8,fc=6,<layer>=4"
    encoding: str = "auto"                 # auto | dense | rel8 | rel4 | bitmap | block | shared
    huffman: bool = False                  # Huffman code each weight blob when smaller
    metadata: str = "full"                 # or "minimal": only what running the file needs
    preprocess: dict[str, Any] | None = None
    labels: list[str] | None = None
    show_progress: bool = True


@dataclass
class CompressResult:
    qmodel: QModel
    float_graph: Graph                      # after folding, fusion, pruning and sharing
    passes: list[dict[str, Any]] = field(default_factory=list)
    pruning: pruning_stage.PruningOutcome | None = None


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
    if suffix == ".tflite":
        from .importers import import_tflite
        return import_tflite(path)
    raise EdgecompError(f"{path}: unknown model type {suffix!r} (edgecomp reads .onnx and "
                        ".tflite)")


def _given_quantization(graph: Graph) -> bool:
    """A quantized source (TFLite int8/uint8) that quantizes every tensor itself: no
    calibration is needed, its own scales and zero points are kept."""
    return bool(graph.metadata.get("quantization_given")) and all(
        t.scale is not None for t in graph.tensors.values())


def calibration_images(opts: CompressOptions, pre: dict[str, Any], shape) -> np.ndarray:
    if opts.calib_dir is None:
        raise EdgecompError("calibration images are required (--calib DIR)")
    if opts.calib_limit < 1:
        raise EdgecompError(f"--calib-limit must be at least 1, got {opts.calib_limit}")
    paths = list_images(opts.calib_dir)
    if len(paths) > opts.calib_limit:
        # evenly spaced over the folder, not its first names: files named by class (as the
        # bundled "<label>_<index>.png") would otherwise calibrate on the first classes only
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, opts.calib_limit).round()
                 .astype(int)]
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

    side = sidecar(model_path)
    pre = opts.preprocess or side.get("input")
    given = _given_quantization(graph) and not pruning_stage.requested(opts)
    if pre is None and calibration_data is None and not given:
        raise EdgecompError(f"no preprocessing known for {model_path}: give --preprocess JSON "
                            f"or put {model_path.with_suffix('.json').name} next to the model")
    if pre is not None:
        parse_preprocess(pre)
    labels = opts.labels if opts.labels is not None else side.get("labels", [])
    in_shape = graph.shape(graph.inputs[0])
    if given and calibration_data is None and opts.calib_dir is None:
        images = np.zeros((0, *in_shape[1:]), np.float32)  # the model brings its quantization
        passes.append({"pass": "load_calibration", "seconds": 0.0})
    elif calibration_data is None:
        images = timed("load_calibration", lambda: calibration_images(opts, pre, in_shape))
    else:
        images = np.asarray(calibration_data, dtype=np.float32)
        if tuple(images.shape[1:]) != tuple(in_shape[1:]):
            raise EdgecompError(f"calibration data has shape {images.shape}, the model input "
                                f"is {tuple(in_shape)}")
        passes.append({"pass": "load_calibration", "seconds": 0.0})
    passes[-1]["images"] = len(images)
    pruned = None
    if pruning_stage.requested(opts):
        pruned = pruning_stage.run_pruning(graph, opts, images, pre, labels, model_path.name,
                                           lambda g, x: _deliverable_outputs(g, x, opts,
                                                                             images, given))
        passes.extend(pruned.passes)
        graph = pruned.graph
    wbits = storage.weight_bits(graph, opts.weight_bits)
    shared = {}
    if opts.share_bits not in (None, "", 0, {}):
        shared = timed("share_weights", lambda: storage.share(graph, opts.share_bits,
                                                              opts.quant_mode, wbits,
                                                              opts.share_scope),
                       scope=opts.share_scope)
        passes[-1]["layers"] = len(shared)
    if given:
        ranges = {}
        passes.append({"pass": "calibrate", "seconds": 0.0, "method": "given by the model"})
    else:
        ranges = timed("calibrate", lambda: calibrate(graph, images, opts.calibration,
                                                      opts.percentile,
                                                      show_progress=opts.show_progress),
                       method=opts.calibration)
    qmodel = timed("quantize", lambda: quantize(graph, ranges, opts.quant_mode, wbits,
                                                storage.weight_scales(shared)),
                   mode=opts.quant_mode, **({"weight_bits": wbits} if wbits else {}))
    encoded = timed("encode", lambda: storage.encode(qmodel, opts.encoding, opts.huffman,
                                                     opts.show_progress))
    passes[-1].update(encoded)
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
                         "images": int(len(images)),
                         **({"weight_bits": wbits} if wbits else {})},
        **({"sharing": storage.sharing_metadata(shared)} if shared else {}),
        "layers": {n.name: {"source_nodes": list(n.source)} for n in graph.nodes},
        # what ran, without its timings: the same inputs give a byte-identical file (the
        # timings are in CompressResult.passes and the compression report)
        "passes": [{k: v for k, v in p.items() if k != "seconds"} for p in passes],
        **({"pruning": pruning_stage.metadata(pruned)} if pruned else {}),
    }
    if given:  # a quantized source (TFLite): its own scales, no calibration
        qmodel.metadata["quantization"] = {
            "mode": "given", "calibration": "none (the source model's own scales)", "images": 0,
            "requantized_weight_channels": graph.metadata.get("requantized_weight_channels", 0)}
    qmodel.metadata = metadata_kept(qmodel.metadata, opts.metadata)
    return CompressResult(qmodel, graph, passes, pruned)


MINIMAL_METADATA = ("format", "producer", "input")


def metadata_kept(meta: dict[str, Any], level: str) -> dict[str, Any]:
    """``full``: everything (provenance: source, layers, passes, pruning, sharing); ``minimal``:
    what running the file needs (the input preprocessing) and the source's hash, for boards
    where the METADATA section's bytes count (docs/compression.md)."""
    if level == "full":
        return meta
    if level != "minimal":
        raise EdgecompError(f"unknown metadata level {level!r}: use full or minimal")
    kept = {k: meta[k] for k in MINIMAL_METADATA if k in meta}
    if "source" in meta:
        kept["source"] = {"sha256": meta["source"].get("sha256")}
    kept["quantization"] = {"mode": meta.get("quantization", {}).get("mode")}
    return kept


def _deliverable_outputs(graph: Graph, x: np.ndarray, opts: CompressOptions,
                         calib: np.ndarray, given: bool) -> np.ndarray:
    """Outputs (dequantized) on ``x`` of the model the rest of compress() makes from a pruned
    float graph: weight sharing, calibration, quantization, run by the integer reference."""
    from .evaluate import int_reference_outputs
    from .exec_int import dequantize

    graph = graph.copy()  # sharing rewrites the weights in place
    wbits = storage.weight_bits(graph, opts.weight_bits)
    shared = {}
    if opts.share_bits not in (None, "", 0, {}):
        shared = storage.share(graph, opts.share_bits, opts.quant_mode, wbits, opts.share_scope)
    ranges = {} if given else calibrate(graph, calib, opts.calibration, opts.percentile,
                                        show_progress=False)
    qmodel = quantize(graph, ranges, opts.quant_mode, wbits, storage.weight_scales(shared))
    try:  # the C runtime is bit-exact with the integer reference and far faster
        from .evaluate import runtime_outputs
        from .packed.writer import write_ecm
        from .runtime import Runtime

        out = runtime_outputs(Runtime(write_ecm(qmodel)), qmodel, x)
    except ImportError:  # a source tree without the compiled extension
        out = int_reference_outputs(qmodel, x)
    return dequantize(qmodel.output, out)


def compress_to_file(model_path: str | Path, out_path: str | Path,
                     opts: CompressOptions) -> CompressResult:
    result = compress(model_path, opts)
    save_ecm(result.qmodel, out_path)
    return result
