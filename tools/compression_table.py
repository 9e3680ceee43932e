#!/usr/bin/env python3
"""Measure what each compression method buys, in bytes and accuracy: the tables of
docs/compression.md.

For each recipe (pruning, reconstruction, weight sharing, quantization) the model is compressed
once, its top-1 measured on the C runtime (bit-exact to the numpy reference), and its weights
written in every encoding (dense, rel8, rel4, bitmap, block, the writer's auto choice, and auto
with Huffman coding) to report the weight bytes and the whole file against the fp32 ONNX file.
A second table prunes to one sparsity at each granularity and splits the weight bytes into
index and value bytes (seed 004's finding).

    python tools/compression_table.py digits
    python tools/compression_table.py squeezenet --data ../shared/data --calib 32
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgecomp.compress import CompressOptions, compress, import_model  # noqa: E402
from edgecomp.datasets import (bundled_digits, load_labeled_folder, read_labels)  # noqa: E402
from edgecomp.evaluate import float_outputs, runtime_outputs, scores  # noqa: E402
from edgecomp.packed import write_ecm  # noqa: E402
from edgecomp.packed.encodings import LayerCodings  # noqa: E402
from edgecomp.packed.stats import choose_encoding, encoded_bytes, kernel_of  # noqa: E402
from edgecomp.runtime import Runtime  # noqa: E402

STORAGE = [("dense", "dense", False), ("rel8", "sparse_rel8", False), ("rel4", "rel4", False),
           ("bitmap", "bitmap", False), ("block", "block", False), ("auto", "auto", False),
           ("auto+huffman", "auto", True)]
SQUEEZENET_PRE = {"color": "rgb", "resize": [224, 224], "scale": 1 / 255,
                  "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def recipes(kind: str, labels) -> list[tuple[str, dict]]:
    prune = {"prune": 0.8, "granularity": "kernel"}
    rows = [("int8", {}),
            ("prune 0.8 kernel", prune),
            ("+ reconstruct", {**prune, "reconstruct": True}),
            ("+ reconstruct + share 5 bits", {**prune, "reconstruct": True, "share_bits": 5}),
            ("+ reconstruct + share 4 bits", {**prune, "reconstruct": True, "share_bits": 4})]
    if kind == "digits":
        rows += [("share 5 bits (no pruning)", {"share_bits": 5}),
                 ("share 4 bits, one scale per layer (no pruning)",
                  {"share_bits": 4, "share_scope": "layer"}),
                 ("share 4 bits (no pruning)", {"share_bits": 4}),
                 ("share 3 bits (no pruning)", {"share_bits": 3}),
                 ("share 3 bits, one scale per layer (no pruning)",
                  {"share_bits": 3, "share_scope": "layer"}),
                 ("dfp, conv 8 / fc 6 bits", {"quant_mode": "dfp",
                                              "weight_bits": "conv=8,fc=6"}),
                 ("sensitivity recipe (max drop 1 pt on val) + reconstruct",
                  {"max_drop": 0.01, "reconstruct": True, "labels": labels}),
                 ("sensitivity recipe (max drop 1 pt on val) + reconstruct + share 5 bits",
                  {"max_drop": 0.01, "reconstruct": True, "share_bits": 5, "labels": labels}),
                 ("same, no standard-error margin",
                  {"max_drop": 0.01, "drop_margin": 0.0, "reconstruct": True, "share_bits": 5,
                   "labels": labels}),
                 ("same, 100 calibration images",
                  {"max_drop": 0.01, "reconstruct": True, "share_bits": 5, "labels": labels,
                   "calib_limit": 100})]
    else:
        rows += [("share 6 bits (no pruning)", {"share_bits": 6}),
                 ("share 5 bits (no pruning)", {"share_bits": 5}),
                 ("share 5 bits, one scale per layer (no pruning)",
                  {"share_bits": 5, "share_scope": "layer"}),
                 ("share 4 bits (no pruning)", {"share_bits": 4}),
                 ("prune 0.5 fine + reconstruct", {"prune": 0.5, "reconstruct": True}),
                 ("prune 0.5 fine + reconstruct + share 6 bits",
                  {"prune": 0.5, "reconstruct": True, "share_bits": 6}),
                 ("prune 0.5 fine + reconstruct + share 5 bits",
                  {"prune": 0.5, "reconstruct": True, "share_bits": 5}),
                 ("prune 0.6 fine + reconstruct", {"prune": 0.6, "reconstruct": True}),
                 ("prune 0.6 fine + reconstruct + share 5 bits",
                  {"prune": 0.6, "reconstruct": True, "share_bits": 5}),
                 ("prune 0.6 fine + reconstruct + share 4 bits",
                  {"prune": 0.6, "reconstruct": True, "share_bits": 4})]
    return rows


def storage_sizes(model) -> dict[str, tuple[int, int]]:
    """{storage name: (weight bytes, file bytes)} with every layer re-encoded."""
    out = {}
    for name, policy, huff in STORAGE:
        for node in model.nodes:
            if node.weights is not None:
                node.weight_encoding = choose_encoding(node, policy, huff)
        data = write_ecm(model)
        weights = sum(encoded_bytes(n) for n in model.nodes if n.weights is not None)
        out[name] = (weights, len(data))
    return out


def granularity_table(base: dict, sparsity: float) -> list[dict]:
    """Equal sparsity at each granularity: index vs value bytes of each layout (values are the
    stored int8 weights, padding included; index is everything else), summed over the
    convolutions: seed 004's granularities are those of a conv kernel (for an FC layer vector
    and kernel are the same as fine)."""
    rows = []
    for g in ("fine", "vector", "kernel", "filter", "2:4" if sparsity == 0.5 else None):
        if g is None:
            continue
        prune = {} if ":" in g else {"prune": sparsity}  # N:M fixes its own sparsity
        model = compress(base["onnx"], CompressOptions(**base["opts"], **prune,
                                                       granularity=g)).qmodel
        row = {"granularity": g, "nonzeros": 0}
        for lay in ("sparse_rel8", "rel4", "bitmap", "block"):
            idx = val = 0
            for n in model.nodes:
                if n.weights is None or n.op != "CONV":
                    continue
                lc = LayerCodings(n.weights, kernel_of(n))
                c, _ = lc.best(lc.candidates(lay))
                s = lc.split(c)
                idx += s.index_bytes()
                val += len(s.values)
            row[lay] = (idx, val)
        row["nonzeros"] = sum(int(np.count_nonzero(n.weights)) for n in model.nodes
                              if n.weights is not None and n.op == "CONV")
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=("digits", "squeezenet"))
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--calib", type=int, default=32,
                    help="calibration images (squeezenet; the digits use all 100 of theirs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--only", help="run only the recipes whose name contains this text")
    ap.add_argument("--no-granularity", action="store_true",
                    help="skip the equal-sparsity granularity table")
    a = ap.parse_args()
    if a.model == "digits":
        b = bundled_digits()
        labels = read_labels(b.labels)
        # the sensitivity analysis chooses on val; every top-1 is measured on test
        onnx, pre, calib, val, test = b.onnx, b.preprocess, b.calib_dir, b.val_dir, b.test_dir
    else:
        onnx = a.data / "models" / "squeezenet1.1.onnx"
        labels = read_labels(a.data / "imagenet_labels.txt")
        pre, calib, val = SQUEEZENET_PRE, a.data / "imagenet-dev", a.data / "imagenet-dev"
        test = val
    images, truth, _ = load_labeled_folder(test, labels, pre)
    base = {"onnx": onnx, "opts": {"calib_dir": calib, "preprocess": pre, "val_dir": val,
                                   "show_progress": False,
                                   **({"calib_limit": a.calib} if a.model != "digits" else {})}}
    onnx_bytes = onnx.stat().st_size
    results = []
    source_top1 = scores(float_outputs(import_model(onnx), images), truth).top1
    print(f"{onnx.name}: {onnx_bytes} bytes; top-1 on {len(images)} images of {test}: "
          f"source float {100 * source_top1:.2f}%", flush=True)
    for name, kw in recipes(a.model, labels):
        if a.only and a.only not in name:
            continue
        t0 = time.time()
        result = compress(onnx, CompressOptions(**base["opts"], **kw))
        model = result.qmodel
        top1 = scores(runtime_outputs(Runtime(write_ecm(model), num_threads=a.threads), model,
                                      images).astype(np.float32), truth).top1
        sizes = storage_sizes(model)
        nnz = sum(int(np.count_nonzero(n.weights)) for n in model.nodes if n.weights is not None)
        params = sum(n.weights.size for n in model.nodes if n.weights is not None)
        row = {"recipe": name, "top1": top1, "nonzeros": nnz, "params": params,
               "sizes": sizes, "seconds": round(time.time() - t0, 1)}
        results.append(row)
        best_file = sizes["auto+huffman"][1]
        print(f"| {name} | {100 * top1:.1f} | {100 * (1 - nnz / params):.0f}% | "
              + " | ".join(str(sizes[s][0]) for s, _, _ in STORAGE)
              + f" | {best_file} | {onnx_bytes / best_file:.1f}x |", flush=True)
    gran = [] if a.no_granularity else granularity_table(base, 0.5 if a.model == "digits"
                                                         else 0.6)
    for row in gran:
        print(f"| {row['granularity']} | {row['nonzeros']} | "
              + " | ".join(f"{row[l][0]} + {row[l][1]}"
                           for l in ("sparse_rel8", "rel4", "bitmap", "block")) + " |",
              flush=True)
    if a.json:
        a.json.write_text(json.dumps({"onnx_bytes": onnx_bytes, "source_top1": source_top1,
                                      "recipes": results,
                                      "granularity": gran}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
