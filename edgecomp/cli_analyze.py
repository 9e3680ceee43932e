"""`edgecomp analyze`: activation sparsity, activation codecs and the accelerator's bus time.

register(subparsers) adds the command; the handler returns an exit code and raises
EdgecompError subclasses for user errors (edgecomp.cli prints them as one line, exit 2).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from .errors import EdgecompError

_SIZE = re.compile(r"^\s*(\d+)\s*([kKmM]?)(i?[bB])?\s*$")


def _size(text: str) -> int:
    """'512k', '1M', '65536' -> bytes (binary multiples)."""
    m = _SIZE.match(text)
    if not m or int(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive size: {text!r} (e.g. 65536, 256K, 1M)")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20}[m.group(2).lower()]


def _rate(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive rate: {text!r} (e.g. 2.5e9)")
    return v


def _sweep(text: str) -> tuple[int, ...]:
    if text.strip().lower() == "none":
        return ()
    try:
        ks = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        ks = (0,)
    if not ks or not all(1 <= k <= 64 for k in ks):
        raise argparse.ArgumentTypeError(f"--sweep wants DCT K values 1..64 separated by "
                                          f"commas, or none; got {text!r}")
    return ks


def register(sub) -> None:
    p = sub.add_parser(
        "analyze", help="activation sparsity, activation compression (RLE, sparsity map, DCT) "
        "and the accelerator's bus time, with plots and an HTML report",
        description="Run a packed model on images and report per layer: activation density "
        "and activation %% (seed 000), activation bytes under run-length, sparsity-map and "
        "DCT coding and the accuracy each costs (seed 002), and the accelerator model's "
        "transfer time with dense or sparse weights (seed 000 Table IV). See docs/analysis.md.")
    p.add_argument("model", type=Path, help="packed model (.ecm)")
    p.add_argument("--images", type=Path, required=True,
                   help="image folder; files named <label>_*.png give top-1 accuracy, other "
                   "names agreement with the exact int8 run")
    p.add_argument("--limit", type=int, help="use the first N images (name order)")
    p.add_argument("--codec", action="append", metavar="CODEC",
                   help="selected activation codec: rle, spm, dct:K (K of 64 DCT "
                   "coefficients kept per 8x8 tile) or adaptive:BYTES / adaptive:NN%% "
                   "(per-layer DCT masks under a byte budget per inference); repeatable; "
                   "default dct:15. raw, rle, spm and dct are always compared")
    p.add_argument("--sweep", type=_sweep, metavar="K,K,...",
                   help="DCT masks for accuracy vs compression rate and the adaptive "
                   "candidates (default 1,3,6,10,15,21,28,36,49,64; 'none' to skip)")
    p.add_argument("--link-rate", type=_rate, default=2.5e9, metavar="BIT/S",
                   help="DMA link rate in bit/s (default 2.5e9, seed 000)")
    p.add_argument("--weight-buffer", type=_size, default=256 << 10, metavar="BYTES",
                   help="on-chip weight buffer (default 256K)")
    p.add_argument("--feature-buffer", type=_size, default=512 << 10, metavar="BYTES",
                   help="on-chip feature buffer for an input and an output band "
                   "(default 512K)")
    p.add_argument("--mac-rate", type=_rate, metavar="MAC/S",
                   help="also bound each layer by MACs / rate (default: transfer time only)")
    p.add_argument("--no-fuse", action="store_true",
                   help="write every node's output to memory (default: pooling, clamp and "
                   "softmax are fused into the layer before them)")
    p.add_argument("--engine", choices=("auto", "runtime", "reference"), default="auto",
                   help="where the int8 tensors come from (default: the C runtime if built)")
    p.add_argument("--sensitivity-images", type=int, default=16, metavar="N",
                   help="images for the adaptive mode's sensitivity runs (default 16)")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write summary.txt, report.json, plots/*.png and report.html here")
    p.set_defaults(func=cmd_analyze)


def cmd_analyze(a) -> int:
    from .analysis.accel_model import AccelConfig
    from .analysis.pipeline import DEFAULT_SWEEP, AnalyzeOptions, analyze, parse_choice
    from .analysis.report import write_report
    from .analysis.report_text import render
    from .datasets import load_labeled_folder
    from .packed.reader import load_ecm

    codecs = tuple(a.codec or ("dct:15",))
    for c in codecs:  # fail on a bad codec before loading anything
        parse_choice(c)
    if a.sensitivity_images < 1:
        raise EdgecompError(f"--sensitivity-images must be >= 1, got {a.sensitivity_images}")
    model = load_ecm(a.model)
    pre = model.metadata.get("input")
    if not pre or "resize" not in pre:
        raise EdgecompError(f"{a.model}: no input preprocessing in its metadata, cannot load "
                            "images for it")
    images, labels, _ = load_labeled_folder(a.images, model.labels or None, pre, a.limit)
    opts = AnalyzeOptions(
        codecs=codecs, sweep=DEFAULT_SWEEP if a.sweep is None else a.sweep,
        accel=AccelConfig(link_rate=a.link_rate, weight_buffer=a.weight_buffer,
                          feature_buffer=a.feature_buffer, mac_rate=a.mac_rate or 0.0),
        engine=a.engine, fuse=not a.no_fuse, sensitivity_images=a.sensitivity_images)
    result = analyze(model, images, labels, opts, source=a.model)
    print(render(result))
    if a.report:
        paths = write_report(result, a.report)
        print(f"\nwrote {paths['summary']}, {paths['json']}, {len(paths) - 3} plots in "
              f"{a.report / 'plots'} and {paths['html']}")
    return 0
