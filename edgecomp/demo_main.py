"""The main job (`edgecomp demo`): compress the bundled digits CNN, measure it, run it in C.

It prints what it did and writes ``<out>/summary.json``; the figures come from this run, never
from a stored file.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .compress import CompressOptions, compress_to_file, import_model
from .datasets import bundled_digits, load_labeled_folder, read_labels
from .errors import RuntimeFailure
from .evaluate import float_outputs, int_reference_outputs, scores
from .exec_int import quantize_input
from .packed.reader import load_ecm
from .report import inspect_model, inspect_text, table


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


SMALLEST = "int8 sensitivity recipe, 5-bit sharing, Huffman"


def _variants(b, prune: float) -> list[tuple[str, str, str, dict]]:
    """(name, file, label of its float row, compress options) of each compressed variant."""
    pct = int(prune * 100)
    return [
        ("int8 dense", "digits_cnn.ecm", "", {}),
        # Refit by least squares on the calibration images (no labels, no training loop):
        # one-shot pruning alone loses much of the accuracy (docs/compression.md).
        (f"int8 pruned {pct}%", f"digits_cnn_pruned{pct}.ecm", f"float32 pruned {pct}% + refit",
         {"prune": prune, "reconstruct": True}),
        # Issue #3's recipe: per-layer sparsities chosen by the sensitivity analysis on the
        # validation split (the file as written within 1 point, with one standard error to
        # spare), then sharing and Huffman coding.
        (SMALLEST, "digits_cnn_small.ecm", "float32 recipe-pruned + refit + shared",
         {"val_dir": b.val_dir, "sensitivity": True, "max_drop": 0.01, "reconstruct": True,
          "share_bits": 5, "huffman": True}),
    ]


def run_demo(out_dir: Path, prune: float = 0.5) -> int:
    from .runtime import Runtime

    out_dir.mkdir(parents=True, exist_ok=True)
    b = bundled_digits()
    labels = read_labels(b.labels)
    print(f"edgecomp demo: bundled model {b.onnx.name} ({b.onnx.stat().st_size} bytes), "
          f"calibration {b.calib_dir}, held-out {b.test_dir}\n")
    images, y, _ = load_labeled_folder(b.test_dir, labels, b.preprocess)

    source_bytes = b.onnx.stat().st_size
    rows = [("float32 (numpy, = onnx)", source_bytes, "1.0x", "-",
             _pct(scores(float_outputs(import_model(b.onnx), images), y).top1), "-", "-")]
    summary = {"model": b.onnx.name, "source_bytes": source_bytes,
               "test_images": int(len(images)), "variants": {}}
    for name, file_name, float_name, kw in _variants(b, prune):
        path = out_dir / file_name
        opts = CompressOptions(calib_dir=b.calib_dir, labels=labels, preprocess=b.preprocess,
                               show_progress=False, **kw)
        t0 = time.perf_counter()
        result = compress_to_file(b.onnx, path, opts)
        seconds = time.perf_counter() - t0
        model = result.qmodel
        f = scores(float_outputs(result.float_graph, images), y)
        ref = int_reference_outputs(model, images)
        rt = Runtime(path)
        q = quantize_input(model, images)
        c_out, times = [], []
        for i in range(len(q)):
            t1 = time.perf_counter_ns()
            c_out.append(rt.run(q[i:i + 1]))
            times.append(time.perf_counter_ns() - t1)
        c_out = np.concatenate(c_out)
        mismatches = int((c_out != ref).reshape(len(ref), -1).any(axis=1).sum())
        c = scores(c_out.astype(np.float32), y)
        size = path.stat().st_size
        info = inspect_model(model, size)
        if float_name:
            rows.append((float_name, "-", "-", "-", _pct(f.top1), "-", "-"))
        rows.append((name + " (C runtime)", size, f"{source_bytes / size:.1f}x",
                     f"{info['totals']['sparsity'] * 100:.1f}%", _pct(c.top1),
                     f"{np.median(times) / 1000:.1f}", f"{mismatches}/{len(ref)}"))
        summary["variants"][name] = {
            "file": str(path), "bytes": size, "smaller_than_source": source_bytes / size,
            "compress_seconds": seconds, "float_top1": f.top1, "int8_top1": c.top1,
            "int8_top5": c.top5, "c_vs_numpy_mismatching_images": mismatches,
            "c_median_latency_us": float(np.median(times) / 1000),
            "weight_sparsity": info["totals"]["sparsity"], "totals": info["totals"]}
        if name == "int8 dense":
            print(inspect_text(info) + "\n")
        if mismatches:
            raise RuntimeFailure(f"{name}: the C runtime differs from the numpy integer "
                                 f"reference on {mismatches} images")

    print(table(("model", "bytes", "vs onnx", "sparsity", "top-1 (held-out)",
                 "C latency us (median)", "C != numpy ref"), rows))
    dense = summary["variants"]["int8 dense"]
    drop = 100 * (dense["float_top1"] - dense["int8_top1"])
    print(f"\nint8 vs float top-1: {drop:+.2f} points lost ({len(images)} held-out images); "
          "C runtime bit-identical to the numpy integer reference on every image.")
    small = summary["variants"][SMALLEST]
    print(f"{SMALLEST}: {small['bytes']} bytes, {small['smaller_than_source']:.1f}x smaller "
          f"than the ONNX file, {100 * (dense['float_top1'] - small['int8_top1']):+.2f} points "
          f"(recipe chosen on {b.val_dir.name}/, measured on {b.test_dir.name}/).")
    example = images[:1]
    rt = Runtime(out_dir / "digits_cnn.ecm")
    probs = (rt.run(quantize_input(load_ecm(out_dir / "digits_cnn.ecm"), example)).astype(np.float32).reshape(-1)
             + 128) / 256
    top = np.argsort(-probs, kind="stable")[:3]
    print(f"first held-out image, true label {labels[y[0]]}: top-3 " +
          ", ".join(f"{labels[k]} ({probs[k]:.2f})" for k in top))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"\nwrote {', '.join(str(out_dir / v[1]) for v in _variants(b, prune))}, "
          f"{out_dir}/summary.json")
    return 0
