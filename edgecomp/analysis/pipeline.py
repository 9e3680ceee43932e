"""`edgecomp analyze` as a library call: run the images, count, encode, simulate, collect.

``analyze(model, images, labels, options)`` returns one JSON-ready dict that the text, PNG and
HTML reports render (``report_*``). Figures are means over the images.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgecompError
from ..evaluate import scores
from ..exec_int import quantize_input
from ..packed.model import QModel
from ..packed.stats import dense_bytes, layer_stats, model_totals, sparse_bytes
from ..progress import progress
from .accel_model import AccelConfig, Stored, simulate
from .activations import COUNTED_OPS, NodeCounts, count_run, layer_summary, model_summary
from .adaptive import AdaptivePlan, choose, measure_options, parse_budget
from .codecs import Codec, DctCodec, RleCodec, SpmCodec, parse_codec
from .engine import check_counters, open_engine
from .layers import accel_layers, boundary_tensors
from .lossy import nmse, run_lossy, score_tensor

DEFAULT_DCT_K = 15                    # 5 diagonals of 8x8: 77 % fewer coefficients
DEFAULT_SWEEP = (1, 3, 6, 10, 15, 21, 28, 36, 49, 64)  # triangular masks, then near-lossless


@dataclass
class AnalyzeOptions:
    # --codec: the selected codec(s), shown per layer; raw, rle, spm and dct are always compared
    codecs: tuple[str, ...] = (f"dct:{DEFAULT_DCT_K}",)
    sweep: tuple[int, ...] = DEFAULT_SWEEP   # DCT K values: accuracy vs rate, adaptive masks
    accel: AccelConfig = field(default_factory=AccelConfig)
    engine: str = "auto"                     # auto | runtime | reference
    fuse: bool = True                        # fuse pool/clamp/softmax into the layer before
    sensitivity_images: int = 16             # images for the adaptive sensitivity runs
    show_progress: bool = True


def parse_choice(spec: str) -> tuple[str, Any]:
    """'rle' | 'spm' | 'dct:K' | 'adaptive:BUDGET' -> ('codec', Codec) or ('adaptive', text)."""
    name, sep, arg = str(spec).strip().partition(":")
    if name.lower() == "adaptive":
        if not sep or not arg:
            raise EdgecompError("codec adaptive needs a budget: adaptive:BYTES or adaptive:40%")
        return "adaptive", arg
    codec = parse_codec(spec)
    if codec.name == "raw":
        raise EdgecompError("codec raw is always reported; choose rle, spm, dct:K or "
                            "adaptive:BYTES")
    return "codec", codec


def analyze(model: QModel, images: np.ndarray, labels: np.ndarray | None,
            opts: AnalyzeOptions | None = None, source: str | Path | bytes | None = None
            ) -> dict[str, Any]:
    opts = opts or AnalyzeOptions()
    opts.accel.check()
    choices = [parse_choice(s) for s in opts.codecs]
    if len(images) == 0:
        raise EdgecompError("analyze needs at least one image")
    dct_ks = sorted({c.keep for kind, c in choices if kind == "codec" and isinstance(c, DctCodec)}
                    or {DEFAULT_DCT_K})
    budgets = [arg for kind, arg in choices if kind == "adaptive"]
    layers = accel_layers(model, opts.fuse)
    boundary = boundary_tensors(model, layers)
    engine, engine_note = open_engine(model, source, opts.engine)
    q = quantize_input(model, images)
    run = _collect(model, engine, q, boundary, opts, keep=bool(budgets))

    raw_total = sum(int(np.prod(model.tensors[t].shape)) for t in boundary)
    stored: dict[str, dict[int, Stored]] = {"raw": {}}
    for name, sums in run["chunk_sums"].items():
        stored[name] = {t: Stored(model.tensors[t].shape, s / len(q), 0.0, True, False)
                        for t, s in sums.items()}
    for k in dct_ks:
        stored[f"dct:{k}"] = _dct_stored(model, boundary, {t: DctCodec(k) for t in boundary})

    out_t, score_t = model.outputs[0], score_tensor(model)
    base = _metrics(run["outputs"], labels, run["outputs"])
    points = [{"codec": name, "lossless": True, **_size_point(stored[name], raw_total), **base,
               "nmse": 0.0} for name in ("rle", "spm")]
    for k in sorted(set(opts.sweep) | set(dct_ks)):
        codecs = {t: DctCodec(k) for t in boundary}
        sizes = _dct_stored(model, boundary, codecs)
        points.append({"codec": f"dct:{k}", "lossless": False, **_size_point(sizes, raw_total),
                       **_lossy_metrics(model, q, codecs, labels, run, out_t, score_t, opts)})

    adaptive = []
    for budget_text in budgets:
        budget = parse_budget(budget_text, raw_total)
        options = measure_options(model, run["kept"], boundary,
                                  opts.sweep or DEFAULT_SWEEP)
        plan = choose(model, run["kept"], options, budget)
        name = f"adaptive:{budget_text}"
        codecs = plan.codecs()
        stored[name] = _dct_stored(model, boundary, codecs)
        point = {"codec": name, "lossless": False, **_size_point(stored[name], raw_total),
                 **_lossy_metrics(model, q, codecs, labels, run, out_t, score_t, opts)}
        points.append(point)
        adaptive.append(_plan_dict(model, plan, name, point))

    counted = {n.name: c for n, c in zip(model.nodes, run["totals"])}
    macs = {l.name: (counted[l.name].dense / len(q), counted[l.name].nonzero_w / len(q))
            for l in layers if l.head.op in COUNTED_OPS}
    cache: dict = {}
    schedules = {f"{w}/{f}": simulate(model, layers, s, w, f, opts.accel, macs, cache)
                 for f, s in stored.items() for w in ("dense", "sparse", "packed")}
    headline = [c.name if kind == "codec" else f"adaptive:{c}" for kind, c in choices]
    return {
        "model": _model_info(model, source),
        "engine": engine_note,
        "images": int(len(q)),
        "labeled": labels is not None,
        "metric": "top-1 accuracy" if labels is not None else
                  "top-1 agreement with the exact int8 run",
        "headline": headline,
        "weights": _weights(model),
        "activations": {
            "layers": [layer_summary(n, c) for n, c in zip(model.nodes, run["totals"])],
            "totals": model_summary(model, run["totals"]),
        },
        "runtime_check": run["checks"],
        "layers": [{"name": l.name, "ops": l.ops, "inputs": [model.tensors[t].name
                                                             for t in l.inputs],
                    "output": model.tensors[l.output].name} for l in layers],
        "boundaries": _boundaries(model, boundary, stored, layers),
        "accuracy": {"baseline": base, "points": points},
        "adaptive": adaptive,
        "accelerator": {
            "config": opts.accel.as_dict(),
            "table": [{"features": f,
                       **{f"{w}_ms": schedules[f"{w}/{f}"].total_ms
                          for w in ("dense", "sparse", "packed")},
                       **{f"{w}_bytes": schedules[f"{w}/{f}"].total_bytes
                          for w in ("dense", "sparse", "packed")}} for f in stored],
            "schedules": {k: s.as_dict() for k, s in schedules.items()},
        },
    }


def _collect(model: QModel, engine, q: np.ndarray, boundary: list[int], opts: AnalyzeOptions,
             keep: bool) -> dict[str, Any]:
    """One exact run per image: counts, runtime cross-check, lossless codec sizes, outputs."""
    totals = [NodeCounts() for _ in model.nodes]
    lossless: list[Codec] = [RleCodec(), SpmCodec()]
    sums = {c.name: {} for c in lossless}
    outputs, scores_, kept, checks = [], [], [], None
    score_t = score_tensor(model)
    # sensitivity images spread over the set (folders are sorted by label)
    spread = set(np.linspace(0, len(q) - 1, min(opts.sensitivity_images, len(q)))
                 .round().astype(int).tolist()) if keep else set()
    for i in progress(range(len(q)), "analyzing images", total=len(q),
                      enabled=opts.show_progress):
        values = engine.run_all(q[i:i + 1])
        counts = count_run(model, values)
        for total, c in zip(totals, counts):
            total.add(c)
        counters = engine.counters()
        if counters is not None:
            rows = check_counters(model, counts, counters)
            if checks is None:
                checks = {"layers": rows, "images_with_problems": 0}
            if any(r["problems"] for r in rows):
                checks["images_with_problems"] += 1
                if checks["images_with_problems"] == 1:
                    checks["layers"] = rows  # keep the first image that disagrees
        for codec in lossless:
            for t in boundary:
                zp = model.tensors[t].zero_point
                enc = codec.encode(values[t], zp)
                if i == 0 and not np.array_equal(codec.decode(enc), values[t]):
                    raise EdgecompError(f"{codec.name} codec did not reproduce tensor "
                                        f"{model.tensors[t].name!r}: a codec bug")
                acc = sums[codec.name]
                acc[t] = acc.get(t, 0.0) + enc.chunk_bytes.astype(np.float64)
        outputs.append(values[model.outputs[0]].reshape(-1))
        scores_.append(values[score_t])
        if i in spread:
            kept.append(values)
    return {"totals": totals, "chunk_sums": sums, "outputs": np.stack(outputs),
            "scores": scores_, "kept": kept, "checks": checks}


def _dct_stored(model: QModel, boundary: list[int], codecs: dict[int, Codec]
                ) -> dict[int, Stored]:
    out = {}
    for t in boundary:
        codec = codecs[t]
        shape = model.tensors[t].shape
        if isinstance(codec, DctCodec):
            header, chunks = codec.layout(shape)
            out[t] = Stored(shape, chunks.astype(np.float64), float(header), False, False)
        else:  # raw
            out[t] = Stored.raw_tensor(shape)
    return out


def _size_point(stored: dict[int, Stored], raw_total: int) -> dict[str, float]:
    total = sum(s.header + float(s.chunk_bytes.sum()) for s in stored.values())
    return {"bytes": total, "raw_bytes": raw_total,
            "reduction": 1.0 - total / raw_total if raw_total else 0.0}


def _metrics(outputs: np.ndarray, labels, exact: np.ndarray) -> dict[str, float | None]:
    s = scores(outputs.astype(np.float32), labels)
    e = scores(exact.astype(np.float32), None)
    return {"top1": s.top1, "top5": s.top5,
            "agreement": float((s.predictions == e.predictions).mean())}


def _lossy_metrics(model, q, codecs, labels, run, out_t, score_t, opts) -> dict[str, Any]:
    outs, sc = [], []
    for i in range(len(q)):
        v = run_lossy(model, q[i:i + 1], codecs)
        outs.append(v[out_t].reshape(-1))
        sc.append(v[score_t])
    m = _metrics(np.stack(outs), labels, run["outputs"])
    m["nmse"] = nmse(model, score_t, run["scores"], sc)
    return m


def _plan_dict(model: QModel, plan: AdaptivePlan, name: str, point: dict) -> dict[str, Any]:
    return {
        "name": name, "budget": plan.budget, "bytes": plan.total_bytes, "plan": plan.origin,
        "joint_nmse": plan.joint_distortion, "candidates": plan.candidates,
        "choice": {model.tensors[t].name: o.label for t, o in plan.choice.items()},
        "options": {model.tensors[t].name: [{"label": o.label, "bytes": o.bytes,
                                             "distortion": o.distortion} for o in opts]
                    for t, opts in plan.options.items()},
        "result": point,
    }


def _boundaries(model: QModel, boundary: list[int], stored: dict[str, dict[int, Stored]],
                layers) -> list[dict[str, Any]]:
    writer = {l.output: l.name for l in layers}
    rows = []
    for t in boundary:
        tensor = model.tensors[t]
        sizes = {}
        for name, per in stored.items():
            s = per.get(t) or Stored.raw_tensor(tensor.shape)
            sizes[name] = s.header + float(s.chunk_bytes.sum())
        rows.append({"tensor": tensor.name, "layer": writer.get(t, "?"),
                     "shape": list(tensor.shape), "bytes": sizes})
    return rows


def _weights(model: QModel) -> dict[str, Any]:
    rows = layer_stats(model)
    by_name = {n.name: n for n in model.nodes}
    layers = []
    for r in rows:
        if not r.params:
            continue
        node = by_name[r.name]
        layers.append({"name": r.name, "op": r.op, "params": r.params, "nonzeros": r.nonzeros,
                       "sparsity_pct": 100 * r.sparsity, "wz_percent": r.wz_percent,
                       "encoding": r.encoding, "dense_bytes": dense_bytes(node),
                       "sparse_bytes": sparse_bytes(node), "macs": r.macs})
    return {"layers": layers, "totals": model_totals(rows)}


def _model_info(model: QModel, source) -> dict[str, Any]:
    info = {"input": {"name": model.input.name, "shape": list(model.input.shape)},
            "nodes": len(model.nodes), "labels": len(model.labels),
            "source": model.metadata.get("source", {})}
    if isinstance(source, (str, Path)):
        info["path"] = str(source)
    return info
