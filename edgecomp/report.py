"""Plain-text tables and the per-layer inspect view (shared by the CLI and the demo)."""
from __future__ import annotations

from typing import Any, Sequence

from .packed.model import QModel
from .packed.stats import layer_stats, model_totals


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if j and _numeric(c) else c.ljust(w)
                               for c, w in zip(r, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:.4g}"
    if isinstance(c, tuple):
        return "x".join(map(str, c))
    return str(c)


def _numeric(s: str) -> bool:
    return s.replace(".", "", 1).replace("-", "", 1).replace("%", "").isdigit()


def inspect_model(model: QModel, file_size: int | None = None) -> dict[str, Any]:
    rows = layer_stats(model)
    totals = model_totals(rows)
    if file_size is not None:
        totals["file_bytes"] = file_size
    return {
        "layers": [{"name": r.name, "op": r.op, "out_shape": list(r.out_shape),
                    "params": r.params, "nonzeros": r.nonzeros, "sparsity": r.sparsity,
                    "wz_percent": r.wz_percent, "encoding": r.encoding,
                    "weight_bytes": r.weight_bytes, "macs": r.macs} for r in rows],
        "totals": totals,
        "input": {"name": model.input.name, "shape": list(model.input.shape),
                  "scale": model.input.scale, "zero_point": model.input.zero_point},
        "labels": len(model.labels),
        "dynamic_fixed_point": model.dynamic_fixed_point,
        "source": model.metadata.get("source", {}),
    }


def inspect_text(info: dict[str, Any]) -> str:
    rows = [(l["name"], l["op"], tuple(l["out_shape"]), l["params"], l["nonzeros"],
             f"{100 * l['sparsity']:.1f}%" if l["params"] else "-",
             f"{l['wz_percent']:.1f}" if l["params"] else "-", l["encoding"],
             l["weight_bytes"]) for l in info["layers"]]
    t = info["totals"]
    out = [table(("layer", "op", "output", "params", "non-zeros", "sparsity", "%W_Z",
                  "encoding", "bytes"), rows), ""]
    out.append(f"weights: {t['params']} ({t['nonzeros']} non-zero, sparsity "
               f"{100 * t['sparsity']:.1f}%), stored {t['weight_bytes']} bytes vs "
               f"{t['float_bytes']} as float32")
    out.append(f"%W_Z = {t['wz_percent']:.2f}   CR (seed 000 eq. 1, 8-bit value + 8-bit index) "
               f"= {t['cr_seed000']:.2f}   as written: {t['cr_actual']:.2f}x smaller than "
               f"float32   MACs (dense) = {t['macs']}")
    if "file_bytes" in t:
        out.append(f"file: {t['file_bytes']} bytes; input {info['input']['name']} "
                   f"{tuple(info['input']['shape'])} scale {info['input']['scale']:.6g} "
                   f"zero point {info['input']['zero_point']}; "
                   f"{'dynamic fixed point' if info['dynamic_fixed_point'] else 'affine'}")
    return "\n".join(out)
