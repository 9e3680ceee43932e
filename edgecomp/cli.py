"""`edgecomp` command line: a thin shell over the library.

Every command turns edgecomp's own errors into one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path

from .cli_storage import add_storage_args, storage_kwargs
from .errors import EdgecompError

# Modules that add their own subcommands with register(subparsers).
COMMAND_MODULES = [m for m in ("edgecomp.cli_fpga", "edgecomp.cli_deploy", "edgecomp.cli_analyze",
                              "edgecomp.cli_demo_camera", "edgecomp.cli_bench")
                   if importlib.util.find_spec(m) is not None]


def _add_compress(sub) -> None:
    p = sub.add_parser("compress", help="compress an ONNX model into a packed int8 .ecm")
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--calib", type=Path, help="folder of calibration images (not needed for "
                   "an int8/uint8 .tflite, which brings its own quantization)")
    p.add_argument("--calib-limit", type=int, default=500,
                   help="use at most this many calibration images, evenly spaced over the "
                   "folder (default 500: the least-squares refit of a wide layer needs them)")
    p.add_argument("--calibration", choices=("minmax", "percentile"), default="minmax")
    p.add_argument("--percentile", type=float, default=99.99)
    p.add_argument("--quant", choices=("affine", "dfp"), default="affine")
    _add_pruning(p)
    add_storage_args(p)
    p.add_argument("--preprocess", type=Path, help="JSON with the input preprocessing")
    p.add_argument("--labels", type=Path, help="labels file, one class per line")
    p.add_argument("--val", type=Path, help="labeled images: report float vs int8 accuracy "
                   "(and the sensitivity analysis metric)")
    p.add_argument("--test", type=Path, help="held-out labeled images: report the accuracy "
                   "before and after here too (nothing is chosen on them)")
    p.set_defaults(func=cmd_compress)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")


def _add_pruning(p) -> None:
    g = p.add_argument_group("pruning (see edgecomp/passes/pruning.py)")
    g.add_argument("--prune", type=float, default=0.0,
                   help="target sparsity of every Conv/Gemm, e.g. 0.8")
    g.add_argument("--granularity", metavar="G",
                   help="fine (default) | vector | kernel | filter | block (4 input channels "
                   "at one kernel position) | block8x4 (8 output x 4 input channels at one "
                   "kernel position) | N:M such as 2:4")
    g.add_argument("--threshold-rule", metavar="RULE",
                   help="instead of --prune: std:RATIO (threshold = std(W) x RATIO) or abs:T")
    g.add_argument("--norm", choices=("l2", "l1"), default="l2",
                   help="group saliency norm for coarse granularities")
    g.add_argument("--sensitivity", nargs="?", const="sparsity", choices=("sparsity", "std"),
                   help="sweep each layer alone (sparsities, or std ratios) and choose "
                   "per-layer pruning within the budget; writes the recipe")
    g.add_argument("--sweep", type=_floats, help="sweep points, e.g. 0.3,0.5,0.7")
    g.add_argument("--max-drop", type=float,
                   help="budget: max drop of the metric for the whole model (default 0.01)")
    g.add_argument("--drop-margin", type=float, default=1.0, metavar="SE",
                   help="hold the max drop with this many standard errors of the measured drop "
                   "to spare (default 1; 0 trusts the drop measured on the validation images)")
    g.add_argument("--target-size", type=int, metavar="BYTES",
                   help="budget: weight bytes of the pruned layers")
    g.add_argument("--recipe", type=Path, help="pruning recipe (TOML) to replay; with "
                   "--sensitivity, where to write it (default OUTPUT.recipe.toml)")
    g.add_argument("--reconstruct", action="store_true",
                   help="refit surviving weights by least squares on the calibration images")
    g.add_argument("--ridge", type=float, default=1e-3, help="reconstruction ridge (relative)")
    g.add_argument("--report", type=Path, metavar="DIR",
                   help="write compression.json (this report), pruning.json and the "
                   "sensitivity curves (JSON, PNG) here")


def cmd_compress(a) -> int:
    from .compress import CompressOptions, compress_to_file
    from .datasets import read_labels
    from .pipeline_report import compress_report, compress_text

    pre = None
    if a.preprocess:
        try:
            pre = json.loads(a.preprocess.read_text())
        except (OSError, ValueError) as e:
            raise EdgecompError(f"--preprocess {a.preprocess}: {e}") from None
        pre = pre.get("input", pre)
    for option, folder in (("--val", a.val), ("--test", a.test)):
        # checked before any work: a missing folder must not cost a finished compression,
        # nor replace an existing output file
        if folder is not None and not folder.is_dir():
            raise EdgecompError(f"{option} {folder}: image folder not found")
    sensitivity = a.sensitivity or a.max_drop is not None or a.target_size is not None
    recipe = a.recipe or (a.output.with_suffix(".recipe.toml") if sensitivity else None)
    opts = CompressOptions(calib_dir=a.calib, calib_limit=a.calib_limit,
                           calibration=a.calibration, percentile=a.percentile,
                           quant_mode=a.quant, prune=a.prune, **storage_kwargs(a),
                           granularity=a.granularity, prune_rule=a.threshold_rule,
                           prune_norm=a.norm, sensitivity=a.sensitivity or False, sweep=a.sweep,
                           max_drop=a.max_drop, drop_margin=a.drop_margin,
                           target_size=a.target_size, recipe=recipe,
                           reconstruct=a.reconstruct, ridge=a.ridge, val_dir=a.val,
                           report_dir=a.report, preprocess=pre,
                           labels=read_labels(a.labels) if a.labels else None)
    result = compress_to_file(a.model, a.output, opts)
    report = compress_report(result, a.model, a.output, {"val": a.val, "test": a.test})
    print(compress_text(report, a.output))
    if a.report:
        a.report.mkdir(parents=True, exist_ok=True)
        (a.report / "compression.json").write_text(json.dumps(report, indent=1) + "\n")
    if result.pruning is not None:
        from .passes.pruning import summary_text

        print("\n" + summary_text(result.pruning))
        if sensitivity:
            print(f"wrote recipe {recipe}")
        if a.report:
            print(f"wrote pruning report to {a.report}/")
    if a.report:
        print(f"wrote compression report {a.report / 'compression.json'}")
    return 0


def cmd_inspect(a) -> int:
    from .packed.reader import load_ecm
    from .report import inspect_model, inspect_text

    model = load_ecm(a.model)
    info = inspect_model(model, a.model.stat().st_size, data=a.model.read_bytes())
    print(json.dumps(info, indent=1) if a.json else inspect_text(info))
    return 0


def cmd_run(a) -> int:
    from .run_image import classify_image

    for line in classify_image(a.model, a.image, a.top, reference=a.reference):
        print(line)
    return 0


def cmd_eval(a) -> int:
    from .pipeline_report import evaluate_packed

    print(evaluate_packed(a.model, a.images, a.limit))
    return 0


def cmd_demo(a) -> int:
    from .demo_main import run_demo

    return run_demo(a.out, a.prune)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgecomp", description="Compress CNNs into packed sparse int8 models and run "
        "them on a small C runtime.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_compress(sub)
    p = sub.add_parser("inspect", help="per-layer table of a packed model")
    p.add_argument("model", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("run", help="classify one image on the C runtime (top-k with labels)")
    p.add_argument("model", type=Path)
    p.add_argument("image", type=Path)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--reference", action="store_true",
                   help="also run the numpy integer reference and check it is bit-identical")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("eval", help="accuracy of a packed model on a labeled image folder")
    p.add_argument("model", type=Path)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--limit", type=int)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("demo", help="the main job: compress the bundled model, measure it, "
                       "run it on the C runtime")
    p.add_argument("--out", type=Path, default=Path("out/demo"))
    p.add_argument("--prune", type=float, default=0.5)
    p.set_defaults(func=cmd_demo)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EdgecompError as e:
        print(f"edgecomp {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"edgecomp {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edgecomp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
