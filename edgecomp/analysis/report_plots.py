"""The analysis figures as PNG files (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PLOTS = ("weight_sparsity", "activation_percent", "codec_bytes", "accuracy_vs_rate",
         "bus_time")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _width(n: int) -> float:
    return min(16.0, max(7.0, 0.45 * n + 3))


def weight_sparsity(r: dict[str, Any], path: Path) -> Path:
    """Seed 000 Fig. 1: sparsity of each layer (and %W_Z, the stored share with padding)."""
    layers = r["weights"]["layers"]
    names = [l["name"] for l in layers]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(_width(len(names)), 4.2))
    ax.bar(x, [l["sparsity_pct"] for l in layers], color="C0", label="sparsity (zero weights)")
    ax.plot(x, [l["wz_percent"] for l in layers], "o-", color="C3",
            label="%W_Z (stored, padding included)")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of the layer's weights")
    t = r["weights"]["totals"]
    ax.set_title(f"Weight sparsity per layer (model: {100 * t['sparsity']:.1f}% zeros, "
                 f"%W_Z {t['wz_percent']:.2f}, CR {t['cr_seed000']:.1f})")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def activation_percent(r: dict[str, Any], path: Path) -> Path:
    """Seed 000 Fig. 2: activation % of each CONV/FC layer, both definitions."""
    layers = [l for l in r["activations"]["layers"] if "dense_macs" in l]
    names = [l["name"] for l in layers]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(_width(len(names)), 4.2))
    ax.bar(x - 0.2, [l["act_operand_pct"] for l in layers], 0.4, color="C0",
           label="act % (both operands non-zero)")
    ax.bar(x + 0.2, [l["act_result_pct"] for l in layers], 0.4, color="C1",
           label="act % (non-zero result)")
    ax.plot(x, [l["input_density_pct"] for l in layers], "s--", color="C2", ms=4,
            label="input density")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of the layer's dense MACs")
    t = r["activations"]["totals"]
    ax.set_title(f"Activation % per layer (model: {t['act_operand_pct']:.1f}% operands, "
                 f"{t['act_result_pct']:.1f}% result; {r['images']} images)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def codec_bytes(r: dict[str, Any], path: Path) -> Path:
    """Seed 002 Fig. 7: bytes per codec per layer, and the share of data each one removes."""
    rows = r["boundaries"]
    names = list(rows[0]["bytes"]) if rows else ["raw"]
    labels = [b["tensor"] for b in rows]
    x = np.arange(len(rows))
    w = 0.8 / len(names)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(_width(len(rows)), 7), sharex=True)
    for i, n in enumerate(names):
        vals = np.array([b["bytes"][n] for b in rows])
        raw = np.array([b["bytes"]["raw"] for b in rows])
        ax.bar(x + (i - (len(names) - 1) / 2) * w, vals / 1024, w, label=n, color=f"C{i}")
        if n != "raw":
            ax2.bar(x + (i - (len(names) - 1) / 2) * w, 100 * (1 - vals / raw), w, label=n,
                    color=f"C{i}")
    ax.set_ylabel("KiB per inference")
    ax.set_title("Activation bytes written per layer")
    ax.legend(fontsize=8)
    ax2.axhline(0, color="black", lw=0.8)
    low = ax2.get_ylim()[0]
    if low < -100:  # RLE can blow small tensors up many times: clip, and say by how much
        ax2.set_ylim(bottom=-100)
        for i, n in enumerate(names[1:], start=1):
            for j, b in enumerate(rows):
                red = 100 * (1 - b["bytes"][n] / b["bytes"]["raw"])
                if red < -100:
                    ax2.annotate(f"{red:.0f}%", (j + (i - (len(names) - 1) / 2) * w, -100),
                                 fontsize=6, rotation=90, va="bottom", ha="center")
    ax2.set_ylabel("data reduction vs raw (%)\nhigher is better")
    ax2.set_xticks(x, labels, rotation=60, ha="right", fontsize=8)
    for a in (ax, ax2):
        a.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def accuracy_vs_rate(r: dict[str, Any], path: Path) -> Path:
    """Seed 002 Fig. 5: accuracy against the activation compression rate."""
    points = r["accuracy"]["points"]
    key = "top1" if r["labeled"] else "agreement"
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    dct = sorted((p for p in points if p["codec"].startswith("dct:")),
                 key=lambda p: p["reduction"])
    if dct:
        ax.plot([100 * p["reduction"] for p in dct], [100 * p[key] for p in dct], "o-",
                color="C0", label="DCT, same mask in every layer")
        for p in dct:
            ax.annotate(p["codec"][4:], (100 * p["reduction"], 100 * p[key]), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
        if r["labeled"]:
            ax.plot([100 * p["reduction"] for p in dct], [100 * p["top5"] for p in dct], "^:",
                    color="C0", alpha=0.6, label="DCT top-5")
        # the logit error is continuous where accuracy on few images is coarse
        err = ax.twinx()
        lossy = [p for p in points if not p["lossless"] and p["nmse"] > 0]
        err.plot([100 * p["reduction"] for p in dct if p["nmse"] > 0],
                 [p["nmse"] for p in dct if p["nmse"] > 0], "s--", color="C7", ms=3, lw=1)
        for p in lossy:
            if p["codec"].startswith("adaptive"):
                err.plot([100 * p["reduction"]], [p["nmse"]], "*", ms=9, color="C7")
        if lossy:
            err.set_yscale("log")
        err.set_ylabel("logit NMSE vs exact (grey, log scale)", color="C7")
    for i, p in enumerate(p for p in points if p["codec"].startswith("adaptive")):
        ax.plot([100 * p["reduction"]], [100 * p[key]], "*", ms=14, color=f"C{4 + i}",
                label=f"{p['codec']} (per-layer masks)")
    for p, color in zip([q for q in points if q["lossless"]], ("C2", "C3", "C5")):
        ax.axvline(100 * p["reduction"], ls="--", color=color,
                   label=f"{p['codec'].upper()} (lossless) {100 * p['reduction']:.0f}%")
    base = r["accuracy"]["baseline"][key]
    ax.axhline(100 * base, color="gray", lw=1, label="exact int8")
    ax.set_xlabel("activation compression rate: data reduction vs raw int8 (%)")
    ax.set_ylabel(("top-1 accuracy" if r["labeled"] else "top-1 agreement with exact") + " (%)")
    ax.set_title(f"Accuracy vs activation compression ({r['images']} images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def bus_time(r: dict[str, Any], path: Path, key: str) -> Path:
    """Per-layer transfer time by kind of traffic: dense weights + raw features against
    sparse weights + the headline codec (seed 000 Table IV per layer)."""
    sch = r["accelerator"]["schedules"]
    cfg = r["accelerator"]["config"]
    pair = [("dense/raw", sch["dense/raw"]), (key, sch[key])]
    names = [l["name"] for l in pair[0][1]["layers"]]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(_width(len(names)), 4.8))
    kinds = (("config_bytes", "configuration"), ("weight_bytes", "weights"),
             ("in_bytes", "input features"), ("out_bytes", "output features"))
    for j, (_, s) in enumerate(pair):
        bottom = np.zeros(len(names))
        for i, (k, kind) in enumerate(kinds):
            ms = np.array([1e3 * l[k] * 8 / cfg["link_rate"] for l in s["layers"]])
            ax.bar(x + (j - 0.5) * 0.4, ms, 0.4, bottom=bottom, color=f"C{i}",
                   alpha=1.0 if j else 0.45, hatch=None if j else "//",
                   label=kind if j else None)
            bottom += ms
    from matplotlib.patches import Patch
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(facecolor="white", edgecolor="gray", hatch="//",
                      label=f"left: dense weights, raw features ({pair[0][1]['total_ms']:.4g} ms)"),
                Patch(facecolor="gray",
                      label=f"right: {key.replace('/', ' weights, ')} features "
                            f"({pair[1][1]['total_ms']:.4g} ms)")]
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("transfer time (ms)")
    ax.set_title(f"Bus time per layer at {cfg['link_rate'] / 1e9:g} Gbit/s")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(handles=handles, fontsize=7)
    return _save(fig, path)


def write_plots(r: dict[str, Any], out_dir: Path, key: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "weight_sparsity": weight_sparsity(r, out_dir / "weight_sparsity.png"),
        "activation_percent": activation_percent(r, out_dir / "activation_percent.png"),
        "codec_bytes": codec_bytes(r, out_dir / "codec_bytes.png"),
        "accuracy_vs_rate": accuracy_vs_rate(r, out_dir / "accuracy_vs_rate.png"),
        "bus_time": bus_time(r, out_dir / "bus_time.png", key),
    }
