"""Zero-skipping speed, side by side in one run: edgecomp's C runtime at several sparsities and
granularities vs ONNX Runtime fp32 and int8 (its own quantize_static, per-channel) and, where a
.tflite of the model exists, LiteRT. Architecture-faithful models (benchmarks/models.py, random
weights); compression through the real pipeline (edgecomp.compress).

    python benchmarks/run_speed.py                       # every model, ~30 min
    python benchmarks/run_speed.py --quick               # resnet18, mobilenet_v2, squeezenet
    python benchmarks/run_speed.py --models resnet50 --threads 2 --reps 30
    python benchmarks/run_speed.py --real ../shared/data # + SqueezeNet 1.1 and MobileNet v2 (TFLite)

Writes OUT/results.json, OUT/results.md, OUT/latency.png and OUT/speedup.png (generated and
compressed models are cached in --cache, outside the repository). Every engine
configuration runs in its own process (peak RSS is its own) and is measured in --rounds rounds
in shuffled order, so that drifting load on a shared machine hits all of them alike; the median
over all runs is reported. Not part of CI.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

from edgecomp._build_runtime import ensure_inplace_current  # noqa: E402

ensure_inplace_current()  # the engines below import edgecomp from this tree
from benchmarks.models import MODELS, build, macs  # noqa: E402
from edgecomp.bench import measure_isolated, quantize_onnx_int8  # noqa: E402
from edgecomp.compress import CompressOptions, compress  # noqa: E402
from edgecomp.packed import save_ecm  # noqa: E402

QUICK = ("resnet18", "mobilenet_v2", "squeezenet")


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = next(l.split(":", 1)[1].strip() for l in text.splitlines()
                     if l.startswith("model name"))
        flags = next(l.split(":", 1)[1].split() for l in text.splitlines()
                     if l.startswith("flags"))
        isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
        return f"{model} ({', '.join(isa)})"
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def compress_to(src: Path, dst: Path, prune: float, granularity: str | None, size: int) -> Path:
    if dst.exists():
        return dst
    images = np.random.default_rng(0).standard_normal((4, 3, size, size)).astype(np.float32)
    opts = CompressOptions(prune=prune, granularity=granularity if prune else None,
                           show_progress=False)
    t = time.time()
    save_ecm(compress(src, opts, calibration_data=images).qmodel, dst)
    print(f"  compressed {dst.name} in {time.time() - t:.0f} s", flush=True)
    return dst


def configs_for(name: str, args, out: Path) -> list[dict]:
    """The engine configurations of one model: (label, engine, path, sparsity, granularity)."""
    mdir = args.cache
    mdir.mkdir(parents=True, exist_ok=True)
    src = mdir / f"{name}_{args.size}.onnx"
    if not src.exists():
        onnx.save(build(name, args.size), src)
    q8 = mdir / f"{name}_{args.size}_ort_int8.onnx"
    if not q8.exists():
        quantize_onnx_int8(src, q8)
    cfgs = [dict(label="onnxruntime fp32", engine="onnxruntime", path=src),
            dict(label="onnxruntime int8", engine="onnxruntime", path=q8)]
    for s in args.sparsities:
        for g in (args.granularities if s else [None]):
            ecm = compress_to(src, mdir / f"{name}_{args.size}_{g or 'dense'}_{s:g}.ecm", s, g,
                              args.size)
            label = f"edgecomp {g} {int(round(100 * s))}%" if s else "edgecomp dense"
            cfgs.append(dict(label=label, engine="edgecomp", path=ecm, sparsity=s,
                             granularity=g or "dense"))
    if args.reference:
        dense = next(c for c in cfgs if c.get("granularity") == "dense")
        cfgs.append(dict(dense, label="edgecomp dense, reference kernels", kernels="reference"))
    return cfgs


def real_configs(data: Path, args, out: Path) -> dict[str, list[dict]]:
    """The real models of ../shared/data: SqueezeNet 1.1 (ONNX) and MobileNet v2 (uint8
    TFLite: edgecomp keeps its quantization, LiteRT runs the same file)."""
    mdir = args.cache
    mdir.mkdir(parents=True, exist_ok=True)
    res: dict[str, list[dict]] = {}
    sq = data / "models" / "squeezenet1.1.onnx"
    if sq.exists():
        q8 = mdir / "squeezenet1.1_ort_int8.onnx"
        if not q8.exists():
            quantize_onnx_int8(sq, q8)
        cfgs = [dict(label="onnxruntime fp32", engine="onnxruntime", path=sq),
                dict(label="onnxruntime int8", engine="onnxruntime", path=q8)]
        for s in (0.0, 0.5, 0.9):
            ecm = compress_to(sq, mdir / f"squeezenet1.1_fine_{s:g}.ecm", s, "fine", 224)
            cfgs.append(dict(label=f"edgecomp fine {int(100 * s)}%" if s else "edgecomp dense",
                             engine="edgecomp", path=ecm, sparsity=s,
                             granularity="fine" if s else "dense"))
        res["squeezenet1.1 (real weights)"] = cfgs
    mv = data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    if mv.exists():
        ecm = mdir / "mobilenet_v2_quant_tflite.ecm"
        if not ecm.exists():
            save_ecm(compress(mv, CompressOptions(show_progress=False)).qmodel, ecm)
        res["mobilenet_v2 1.0 quant (TFLite)"] = [
            dict(label="litert uint8", engine="litert", path=mv),
            dict(label="edgecomp dense", engine="edgecomp", path=ecm, sparsity=0.0,
                 granularity="dense")]
    return res


def run_all(models: dict[str, list[dict]], args) -> None:
    """Measure every configuration, args.rounds times in shuffled order."""
    jobs = [(m, c) for m, cfgs in models.items() for c in cfgs]
    for c in (c for _, c in jobs):
        c["runs"] = []
    rng = random.Random(0)
    for r in range(args.rounds):
        rng.shuffle(jobs)
        for i, (m, c) in enumerate(jobs):
            res = measure_isolated(c["engine"], c["path"], threads=args.threads,
                                   reps=max(1, args.reps // args.rounds), warmup=2,
                                   kernels=c.get("kernels", "default"))
            c["runs"].append(res.as_dict())
            print(f"  round {r + 1}/{args.rounds} [{i + 1}/{len(jobs)}] {m}: {c['label']}: "
                  f"{res.median_ms:.2f} ms, peak RSS {res.peak_rss_mb:.0f} MB", flush=True)


def summarize(name: str, cfgs: list[dict], dense_macs: int | None) -> list[dict]:
    rows = []
    by_label = {}
    for c in cfgs:
        times = [r["median_ms"] for r in c["runs"]]
        row = {"model": name, "config": c["label"], "engine": c["engine"],
               "sparsity": c.get("sparsity"), "granularity": c.get("granularity"),
               "median_ms": float(np.median(times)), "round_medians_ms": times,
               "peak_rss_mb": max(r["peak_rss_mb"] for r in c["runs"]),
               "file_bytes": Path(c["path"]).stat().st_size}
        extra = c["runs"][-1]["extra"]
        if c["engine"] == "edgecomp" and extra.get("dense_macs"):
            row["executed_pct"] = 100 * extra["executed_macs"] / extra["dense_macs"]
            row["kernels"] = extra["kernels"]
        rows.append(row)
        by_label[c["label"]] = row
    i8, f32 = by_label.get("onnxruntime int8"), by_label.get("onnxruntime fp32")
    lite = by_label.get("litert uint8")
    dense = by_label.get("edgecomp dense")
    for row in rows:
        for key, base in (("vs_ort_int8", i8), ("vs_ort_fp32", f32), ("vs_litert", lite)):
            if base:
                row[key] = base["median_ms"] / row["median_ms"]   # > 1: faster than base
        if base := i8 or lite:
            row["rss_vs_base"] = row["peak_rss_mb"] / base["peak_rss_mb"]
        if dense and row["engine"] == "edgecomp":
            row["vs_own_dense"] = dense["median_ms"] / row["median_ms"]
            if row["sparsity"]:
                row["ideal_vs_dense"] = 1 / (1 - row["sparsity"])
        if dense_macs:
            row["dense_gmacs"] = dense_macs / 1e9
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    out = [f"# edgecomp zero-skipping speed ({meta['date']})", "",
           f"CPU: {meta['cpu']}; {meta['threads']} thread(s); median of {meta['reps']} runs in "
           f"{meta['rounds']} shuffled rounds; onnxruntime {meta['onnxruntime']}.", "",
           "Ratios > 1 mean edgecomp (the row) is faster than the baseline column; 'vs own "
           "dense' is the speedup over edgecomp's dense model against the ideal 1/(1-s); "
           "'exec %' is the share of dense MACs the kernels executed.", ""]
    for model in dict.fromkeys(r["model"] for r in rows):
        mr = [r for r in rows if r["model"] == model]
        gm = mr[0].get("dense_gmacs")
        out += [f"## {model}" + (f" ({gm:.2f} GMAC)" if gm else ""), "",
                "| config | median ms | vs ORT int8 | vs ORT fp32 | vs own dense (ideal) | "
                "exec % | peak RSS MB | RSS / base |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in mr:
            f = (lambda k, fmt="{:.2f}x": fmt.format(r[k]) if r.get(k) else "")
            ideal = f" ({r['ideal_vs_dense']:.0f}x)" if r.get("ideal_vs_dense") else ""
            vs_int8 = f("vs_ort_int8") or f("vs_litert")
            out.append(f"| {r['config']} | {r['median_ms']:.2f} | {vs_int8} | "
                       f"{f('vs_ort_fp32')} | {f('vs_own_dense')}{ideal} | "
                       f"{f('executed_pct', '{:.1f}')} | {r['peak_rss_mb']:.0f} | "
                       f"{f('rss_vs_base')} |")
        out.append("")
    return "\n".join(out)


def plots(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(len(models), 1, figsize=(10, 2.6 * len(models)), squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        mr = [r for r in rows if r["model"] == model]
        colors = ["#888" if r["engine"] != "edgecomp" else
                  ("#1f77b4" if r["granularity"] in ("fine", "dense") else "#ff7f0e") for r in mr]
        ax.barh([r["config"] for r in mr], [r["median_ms"] for r in mr], color=colors)
        ax.set_title(model, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.invert_yaxis()
    axes[-1, 0].set_xlabel("median latency, ms (lower is better)")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    sp = sorted({r["sparsity"] for r in rows if r.get("sparsity")})
    if sp:
        ax.plot([0] + sp, [1] + [1 / (1 - s) for s in sp], "k--", label="ideal 1/(1-s)")
    for model in models:
        for g, style in (("fine", "-o"), ("kernel", "-s"), ("filter", "-^")):
            pts = sorted((r["sparsity"], r["vs_own_dense"]) for r in rows
                         if r["model"] == model and r.get("granularity") == g)
            if pts:
                ax.plot([0] + [p[0] for p in pts], [1] + [p[1] for p in pts], style,
                        label=f"{model} {g}", markersize=4)
    ax.set_xlabel("weight sparsity")
    ax.set_ylabel("speedup over edgecomp dense")
    ax.set_yscale("log")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "speedup.png", dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma list of {list(MODELS)}")
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--sparsities", default="0,0.5,0.7,0.9,0.95")
    p.add_argument("--granularities", default="fine,kernel")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=21, help="timed runs per configuration")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reference", action="store_true", help="also the reference kernels")
    p.add_argument("--real", type=Path, help="../shared/data: add its real models")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--cache", type=Path,
                   default=Path(tempfile.gettempdir()) / "edgecomp-bench-models",
                   help="generated ONNX / .ecm models (VGG-16 alone is ~0.6 GB)")
    args = p.parse_args(argv)
    args.sparsities = [float(s) for s in args.sparsities.split(",")]
    args.granularities = [g for g in args.granularities.split(",") if g]
    names = QUICK if args.quick else [m for m in args.models.split(",") if m]
    args.out.mkdir(parents=True, exist_ok=True)
    import onnxruntime

    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu_flags(), "threads": args.threads,
            "reps": args.reps, "rounds": args.rounds, "onnxruntime": onnxruntime.__version__,
            "command": " ".join(sys.argv)}
    models: dict[str, list[dict]] = {}
    gmacs: dict[str, int] = {}
    for name in names:
        print(f"{name}: building and compressing", flush=True)
        models[name] = configs_for(name, args, args.out)
        gmacs[name] = macs(onnx.load(models[name][0]["path"]))
    if args.real:
        models.update(real_configs(args.real, args, args.out))
    run_all(models, args)
    rows = [row for name, cfgs in models.items() for row in summarize(name, cfgs, gmacs.get(name))]
    for c in (c for cfgs in models.values() for c in cfgs):
        c["path"] = str(c["path"])
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows,
                                                       "raw": models}, indent=1))
    (args.out / "results.md").write_text(markdown(rows, meta))
    plots(rows, args.out)
    print((args.out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
