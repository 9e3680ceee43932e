"""The main job (`edgecomp demo`): compress the bundled digits CNN, measure it, run it in C.

It prints what it did and writes ``<out>/summary.json``; the figures come from this run, never
from a stored file.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .compress import CompressOptions, compress_to_file
from .datasets import bundled_digits, load_labeled_folder, read_labels
from .errors import RuntimeFailure
from .evaluate import float_outputs, int_reference_outputs, scores
from .exec_int import quantize_input
from .report import inspect_model, inspect_text, table


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def run_demo(out_dir: Path, prune: float = 0.5) -> int:
    from .runtime import Runtime

    out_dir.mkdir(parents=True, exist_ok=True)
    b = bundled_digits()
    labels = read_labels(b.labels)
    print(f"edgecomp demo: bundled model {b.onnx.name} ({b.onnx.stat().st_size} bytes), "
          f"calibration {b.calib_dir}, held-out {b.test_dir}\n")
    images, y, _ = load_labeled_folder(b.test_dir, labels, b.preprocess)

    rows, summary = [], {"model": b.onnx.name, "test_images": int(len(images)), "variants": {}}
    # The pruned variant is refit by least squares on the calibration images (no labels, no
    # training loop): one-shot pruning alone loses most of the accuracy of this small model.
    for name, sparsity in (("int8 dense", 0.0), (f"int8 pruned {int(prune * 100)}%", prune)):
        path = out_dir / ("digits_cnn.ecm" if sparsity == 0 else
                          f"digits_cnn_pruned{int(prune * 100)}.ecm")
        opts = CompressOptions(calib_dir=b.calib_dir, prune=sparsity, labels=labels,
                               reconstruct=sparsity > 0, preprocess=b.preprocess,
                               show_progress=False)
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
        info = inspect_model(model, path.stat().st_size)
        if sparsity == 0:
            rows.append(("float32 (numpy, = onnx)", b.onnx.stat().st_size, "-", _pct(f.top1),
                         "-", "-"))
        else:
            rows.append((f"float32 pruned {int(prune * 100)}% + refit", "-", "-", _pct(f.top1),
                         "-", "-"))
        rows.append((name + " (C runtime)", path.stat().st_size,
                     f"{info['totals']['sparsity'] * 100:.1f}%", _pct(c.top1),
                     f"{np.median(times) / 1000:.1f}", f"{mismatches}/{len(ref)}"))
        summary["variants"][name] = {
            "file": str(path), "bytes": path.stat().st_size, "compress_seconds": seconds,
            "float_top1": f.top1, "int8_top1": c.top1, "int8_top5": c.top5,
            "c_vs_numpy_mismatching_images": mismatches,
            "c_median_latency_us": float(np.median(times) / 1000),
            "weight_sparsity": info["totals"]["sparsity"], "totals": info["totals"]}
        if sparsity == 0:
            print(inspect_text(info) + "\n")
        if mismatches:
            raise RuntimeFailure(f"{name}: the C runtime differs from the numpy integer "
                                 f"reference on {mismatches} images")

    print(table(("model", "bytes", "sparsity", "top-1 (held-out)", "C latency us (median)",
                 "C != numpy ref"), rows))
    dense = summary["variants"]["int8 dense"]
    drop = 100 * (dense["float_top1"] - dense["int8_top1"])
    print(f"\nint8 vs float top-1: {drop:+.2f} points lost ({len(images)} held-out images); "
          "C runtime bit-identical to the numpy integer reference on every image.")
    example = images[:1]
    rt = Runtime(out_dir / "digits_cnn.ecm")
    probs = (rt.run(quantize_input(result.qmodel, example)).astype(np.float32).reshape(-1)
             + 128) / 256
    top = np.argsort(-probs, kind="stable")[:3]
    print(f"first held-out image, true label {labels[y[0]]}: top-3 " +
          ", ".join(f"{labels[k]} ({probs[k]:.2f})" for k in top))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"\nwrote {out_dir}/digits_cnn.ecm, {out_dir}/summary.json")
    return 0
