"""PNG plots for reports (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_sensitivity(curves, path: str | Path, metric: str, baseline: float,
                     chosen: dict[str, int] | None = None, max_drop: float | None = None,
                     title: str = "") -> Path:
    """Metric and output SNR against each layer's achieved sparsity (sensitivity.Curve
    objects); the chosen point of each layer is circled, the budget drawn as a dashed line."""
    fig, (ax_m, ax_s) = plt.subplots(1, 2, figsize=(12, 4.8))
    for i, (name, c) in enumerate(curves.items()):
        xs = [0.0] + [p.sparsity for p in c.points]
        color = f"C{i % 10}"
        ax_m.plot(xs, [baseline] + [p.metric for p in c.points], "o-", ms=3, color=color,
                  label=name)
        snr = [_finite(p.snr_db) for p in c.points]
        ax_s.plot(xs[1:], snr, "o-", ms=3, color=color, label=name)
        k = (chosen or {}).get(name, -1)
        if k >= 0:
            p = c.points[k]
            ax_m.plot([p.sparsity], [p.metric], "o", ms=10, mfc="none", color=color)
            ax_s.plot([p.sparsity], [_finite(p.snr_db)], "o", ms=10, mfc="none", color=color)
    if max_drop is not None:
        ax_m.axhline(baseline - max_drop, ls="--", color="gray", lw=1,
                     label=f"budget (drop {max_drop:g})")
    ax_m.set(xlabel="sparsity of the layer (pruned alone)", ylabel=metric,
             title=f"{metric} on the validation set")
    ax_s.set(xlabel="sparsity of the layer (pruned alone)", ylabel="output SNR (dB)",
             title="output SNR vs the float model")
    for ax in (ax_m, ax_s):
        ax.grid(alpha=0.3)
    ax_m.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _finite(v: float, cap: float = 100.0) -> float:
    return cap if math.isinf(v) else v
