"""The terminal view of an analysis (the dict ``pipeline.analyze`` returns)."""
from __future__ import annotations

from typing import Any



def table(headers, rows, left: int = 1) -> str:
    """Plain-text table: the first ``left`` columns left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [["x".join(map(str, c)) if isinstance(c, tuple)
                                            else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < left else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _pct(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}%"


def _frac(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v: float) -> str:
    v = float(v)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.4g}{unit}"
    return f"{v:.4g}"


def activation_table(r: dict[str, Any]) -> str:
    rows = [(l["name"], l["op"], _pct(l["input_density_pct"]), _pct(l["output_density_pct"]),
             _pct(l["act_operand_pct"]), _pct(l["act_result_pct"]), _num(l["dense_macs"]),
             _num(l["zero_skip_macs"]), _pct(l["saved_pct"]))
            for l in r["activations"]["layers"] if "dense_macs" in l]
    t = r["activations"]["totals"]
    lines = [table(("layer", "op", "input nz", "output nz", "act% operands", "act% result",
                    "dense MACs", "zero-skip MACs", "saved"), rows, left=2)]
    lines.append(f"%ACT (seed 000 Table III), MAC-weighted: operands non-zero "
                 f"{_pct(t['act_operand_pct'])}, result non-zero {_pct(t['act_result_pct'])}. "
                 f"Skipping zero weights saves {_pct(t['saved_by_weight_skipping_pct'])} of "
                 f"{_num(t['dense_macs'])} MACs, skipping zero activations too saves "
                 f"{_pct(t['saved_by_zero_skipping_pct'])}.")
    return "\n".join(lines)


def codec_table(r: dict[str, Any]) -> str:
    names = list(r["boundaries"][0]["bytes"]) if r["boundaries"] else ["raw"]
    rows = [(b["tensor"], b["layer"], tuple(b["shape"]),
             *[_num(b["bytes"][n]) for n in names]) for b in r["boundaries"]]
    totals = {n: sum(b["bytes"][n] for b in r["boundaries"]) for n in names}
    raw = totals.get("raw", 0) or 1
    rows.append(("total", "", "", *[_num(totals[n]) for n in names]))
    rows.append(("vs raw", "", "", *[f"{100 * totals[n] / raw:.0f}%" for n in names]))
    return table(("tensor", "written by", "shape", *names), rows, left=3)


def accuracy_table(r: dict[str, Any]) -> str:
    rows = [(p["codec"], _num(p["bytes"]), _frac(p["reduction"]), _frac(p["top1"]),
             _frac(p["top5"]), _frac(p["agreement"]), f"{p['nmse']:.3g}")
            for p in r["accuracy"]["points"]]
    b = r["accuracy"]["baseline"]
    rows.insert(0, ("exact int8", _num(r["accuracy"]["points"][0]["raw_bytes"]
                                       if r["accuracy"]["points"] else 0), "0.0%",
                    _frac(b["top1"]), _frac(b["top5"]), "100.0%", "0"))
    return table(("activations", "bytes", "reduction", "top-1", "top-5",
                  "agreement", "logit NMSE"), rows)


def adaptive_text(r: dict[str, Any]) -> str:
    out = []
    for a in r["adaptive"]:
        out.append(f"{a['name']}: budget {a['budget']} bytes, used {a['bytes']} "
                   f"({a['plan']}, logit NMSE {a['joint_nmse']:.3g} on the sensitivity images, "
                   f"{len(a['candidates'])} candidate plans); masks: " +
                   ", ".join(f"{t}={c}" for t, c in a["choice"].items()))
    return "\n".join(out)


def time_table(r: dict[str, Any]) -> str:
    acc = r["accelerator"]
    rows = [(row["features"], f"{row['dense_ms']:.4g}", f"{row['sparse_ms']:.4g}",
             f"{row['packed_ms']:.4g}", f"{row['sparse_ms'] / row['dense_ms']:.2f}"
             if row["dense_ms"] else "-") for row in acc["table"]]
    return table(("features", "dense weights (ms)", "sparse weights (ms)", "as packed (ms)",
                  "sparse/dense"), rows)


def layer_time_table(r: dict[str, Any], key: str) -> str:
    s = r["accelerator"]["schedules"][key]
    rows = [(l["name"], l["ops"], l["weight_groups"], l["bands"], l["order"],
             _num(l["config_bytes"]), _num(l["weight_bytes"]), _num(l["in_bytes"]),
             _num(l["out_bytes"]), f"{l['time_ms']:.4g}",
             ",".join(l["overflow"]) or "") for l in s["layers"]]
    rows.append(("total", "", "", "", "", _num(s["config_bytes"]), _num(s["weight_bytes"]),
                 _num(s["in_bytes"]), _num(s["out_bytes"]), f"{s['total_ms']:.4g}", ""))
    return table(("layer", "ops", "w groups", "bands", "stationary", "config B", "weights B",
                  "in B", "out B", "ms", "overflow"), rows, left=2)


def runtime_check_text(r: dict[str, Any]) -> str:
    c = r["runtime_check"]
    if c is None:
        return "runtime counters: not available (engine: " + r["engine"] + ")"
    bad = [f"{l['name']}: {'; '.join(l['problems'])}" for l in c["layers"] if l["problems"]]
    if not bad:
        return (f"runtime counters agree with the exact counts on every layer of all "
                f"{r['images']} images")
    return (f"runtime counters DISAGREE on {c['images_with_problems']} image(s); first one:\n  "
            + "\n  ".join(bad))


def headline_key(r: dict[str, Any]) -> str:
    names = [row["features"] for row in r["accelerator"]["table"]]
    pick = next((h for h in r["headline"] if h in names), names[-1])
    return f"sparse/{pick}"


def render(r: dict[str, Any]) -> str:
    cfg = r["accelerator"]["config"]
    key = headline_key(r)
    parts = [
        f"edgecomp analyze: {r['model'].get('path', r['model']['source'].get('path', 'model'))}"
        f" - {r['images']} images, engine: {r['engine']}; accuracy metric: {r['metric']}",
        "",
        "Activations per CONV/FC layer (input/output nz = share of non-zero values):",
        activation_table(r), "",
        "Activation bytes per tensor written to memory, one inference (seed 002 Fig. 7):",
        codec_table(r), "",
        "Accuracy vs activation compression (dct:K = K of 64 DCT coefficients kept in every "
        "layer):",
        accuracy_table(r),
    ]
    if r["adaptive"]:
        parts += ["", adaptive_text(r)]
    parts += [
        "",
        f"Accelerator bus time (seed 000 Table IV): link {cfg['link_rate'] / 1e9:g} Gbit/s, "
        f"weight buffer {cfg['weight_buffer'] // 1024} KiB, feature buffer "
        f"{cfg['feature_buffer'] // 1024} KiB" +
        (f", {cfg['mac_rate']:.3g} MAC/s" if cfg["mac_rate"] else ", transfer time only"),
        time_table(r), "",
        f"Per layer, {key.replace('/', ' weights, ')} features:",
        layer_time_table(r, key), "",
        runtime_check_text(r),
    ]
    return "\n".join(parts)
