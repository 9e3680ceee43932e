"""`edgecomp bench model.ecm [--threads N] [--vs onnxruntime] [--vs tflite]`: median latency
and peak memory of a packed model on the C runtime, side by side with ONNX Runtime (fp32 and
its own int8 quantization of the source model) and LiteRT (a .tflite), with ratios.

register(subparsers) adds the command (edgecomp.cli loads it); user errors raise EdgecompError.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from .errors import EdgecompError

VS = ("onnxruntime", "tflite")


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="latency and peak memory on the C runtime, vs ONNX Runtime / LiteRT",
        description="Each engine runs in a fresh process (peak RSS is its own), with the same "
        "thread count; latency is the median wall time of one run after warm-up runs. "
        "ONNX Runtime int8 is quantize_static (QDQ, per-channel s8 weights, u8 activations) "
        "of the source model, calibrated on random inputs: right for speed, not for accuracy.")
    p.add_argument("model", type=Path, help="packed model (.ecm)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=20, help="timed runs per engine")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--vs", action="append", choices=VS, default=[],
                   help="also run the source model on this engine (repeatable)")
    p.add_argument("--onnx", type=Path, help="source ONNX model (default: the file named in "
                   "the .ecm's metadata, next to the .ecm)")
    p.add_argument("--tflite", type=Path, help="TFLite model for --vs tflite (default: the "
                   "source named in the metadata when it is a .tflite)")
    p.add_argument("--layers", action="store_true", help="per-layer table of the C runtime")
    p.add_argument("--tune", type=int, default=0, metavar="N",
                   help="also run edgecomp with load-time kernel tuning: every candidate "
                   "kernel of each CONV / FC layer timed N + 1 times at session creation, the "
                   "fastest kept (same outputs); --layers then shows the tuned choice")
    p.add_argument("--reference", action="store_true",
                   help="also time the reference kernels (EDGERT_KERNELS_REFERENCE)")
    p.add_argument("--json", type=Path, help="write every measurement here")
    p.set_defaults(func=cmd_bench)


def _source(a, meta: dict, suffix: str, given: Path | None) -> Path:
    from .bench import find_source

    if given is not None:
        if not given.exists():
            raise EdgecompError(f"{given}: no such model file")
        return given
    found = find_source(a.model, meta, suffix)
    if found is None:
        name = (meta.get("source") or {}).get("path", "?")
        flag = "--onnx" if suffix == ".onnx" else "--tflite"
        raise EdgecompError(f"cannot find the source model ({name}) next to {a.model}: give "
                            f"it with {flag} PATH")
    return found


def _metadata(path: Path) -> dict:
    from .runtime import Runtime

    with Runtime(path) as rt:
        return dict(rt.metadata)


def cmd_bench(a) -> int:
    from .bench import layer_rows, measure_isolated, quantize_onnx_int8

    if not a.model.exists():
        raise EdgecompError(f"{a.model}: no such file")
    if a.threads < 1 or a.reps < 1 or a.warmup < 0:
        raise EdgecompError("--threads and --reps must be >= 1, --warmup >= 0")
    if not 0 <= a.tune <= 100:
        raise EdgecompError(f"--tune {a.tune}: give 0 (off) to 100 timed runs per kernel")
    meta = _metadata(a.model)
    kw = dict(threads=a.threads, reps=a.reps, warmup=a.warmup)
    rows = [("edgecomp", measure_isolated("edgecomp", a.model, **kw))]
    if a.tune:
        tuned = measure_isolated("edgecomp", a.model, tune_runs=a.tune, **kw)
        rows.append((f"edgecomp tuned ({tuned.extra['session_create_s']:.1f} s load)", tuned))
    if a.reference:
        rows.append(("edgecomp reference kernels",
                     measure_isolated("edgecomp", a.model, kernels="reference", **kw)))
    with tempfile.TemporaryDirectory(prefix="edgecomp-bench-") as tmp:
        if "onnxruntime" in a.vs:
            src = _source(a, meta, ".onnx", a.onnx)
            rows.append(("onnxruntime fp32", measure_isolated("onnxruntime", src, **kw)))
            q = quantize_onnx_int8(src, Path(tmp) / "int8.onnx")
            rows.append(("onnxruntime int8", measure_isolated("onnxruntime", q, **kw)))
        if "tflite" in a.vs:
            src = _source(a, meta, ".tflite", a.tflite)
            rows.append(("litert (tflite)", measure_isolated("litert", src, **kw)))
    ours = rows[0][1]
    print(f"{a.model}: {a.threads} thread(s), median of {a.reps} runs")
    print(f"{'engine':28s} {'median ms':>10s} {'p10-p90 ms':>15s} {'peak RSS MB':>12s} "
          f"{'edgecomp speedup':>17s} {'RSS ratio':>10s}")
    for name, m in rows:
        print(f"{name:28s} {m.median_ms:10.2f} {m.p10_ms:7.2f}-{m.p90_ms:<7.2f} "
              f"{m.peak_rss_mb:12.1f} {m.median_ms / ours.median_ms:16.2f}x "
              f"{ours.peak_rss_mb / m.peak_rss_mb:9.2f}x")
    e = ours.extra
    if e.get("dense_macs"):
        print(f"MACs: dense {e['dense_macs'] / 1e6:.1f}M, executed {e['executed_macs'] / 1e6:.1f}M "
              f"({100 * e['executed_macs'] / e['dense_macs']:.1f}%), skipped for zero weights "
              f"{e['skipped_zero_weight_macs'] / 1e6:.1f}M, for zero activations "
              f"{e['skipped_zero_activation_macs'] / 1e6:.1f}M, padding "
              f"{e['padding_macs'] / 1e6:.1f}M; kernels: "
              + ", ".join(f"{k} x{n}" for k, n in sorted(e["kernels"].items())))
    if a.layers:
        print(f"\n{'layer':24s} {'op':8s} {'kernel':32s} {'ms':>8s} {'MACs':>10s} {'exec %':>7s}")
        for r in layer_rows(a.model, threads=a.threads, tune_runs=a.tune):
            pct = 100 * r["executed_macs"] / r["dense_macs"] if r["dense_macs"] else 0.0
            print(f"{r['name'][:24]:24s} {r['op']:8s} {r['kernel'][:32]:32s} {r['ms']:8.3f} "
                  f"{r['dense_macs'] / 1e6:9.2f}M {pct:6.1f}%")
    if a.json:
        a.json.write_text(json.dumps([{"name": n, **m.as_dict()} for n, m in rows], indent=1))
    return 0
