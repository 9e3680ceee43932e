"""Plain-text tables and the per-layer inspect view (shared by the CLI and the demo)."""
from __future__ import annotations

from typing import Any, Sequence

from .packed.model import QModel
from .packed.stats import layer_stats, model_totals, section_sizes

ALTERNATIVES = ("dense", "rel8", "rel4", "bitmap", "block", "shared", "huffman")


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


def inspect_model(model: QModel, file_size: int | None = None, alternatives: bool = True,
                  data: bytes | None = None) -> dict[str, Any]:
    """Per-layer and total figures; ``alternatives``: what each weight encoding would cost
    per layer; ``data`` (the file's bytes): the size of every section."""
    rows = layer_stats(model, alternatives=alternatives)
    totals = model_totals(rows)
    if file_size is not None:
        totals["file_bytes"] = file_size
    if alternatives:
        totals["alternatives"] = {fam: sum(r.alternatives[fam][1] for r in rows
                                           if r.alternatives)
                                  for fam in ALTERNATIVES}
    return {
        "layers": [{"name": r.name, "op": r.op, "out_shape": list(r.out_shape),
                    "params": r.params, "nonzeros": r.nonzeros, "sparsity": r.sparsity,
                    "wz_percent": r.wz_percent, "encoding": r.encoding,
                    "weight_bytes": r.weight_bytes, "macs": r.macs,
                    "source_nodes": source_nodes(model, r.name),
                    **({"distinct_values": r.distinct,
                        "alternatives": {k: {"encoding": e, "bytes": b}
                                         for k, (e, b) in r.alternatives.items()}}
                       if r.alternatives else {})} for r in rows],
        "totals": totals,
        **({"sections": section_sizes(data)} if data is not None else {}),
        "input": {"name": model.input.name, "shape": list(model.input.shape),
                  "scale": model.input.scale, "zero_point": model.input.zero_point},
        "labels": len(model.labels),
        "dynamic_fixed_point": model.dynamic_fixed_point,
        "source": model.metadata.get("source", {}),
    }


def source_nodes(model: QModel, layer: str) -> list[str]:
    """The source-model (ONNX / TFLite) nodes a packed layer stands for (metadata "layers";
    a layer the quantizer added, such as a broadcast's EXPAND, is listed under its own name
    with the suffix after the last '.')."""
    layers = model.metadata.get("layers", {})
    entry = layers.get(layer) or layers.get(layer.rsplit(".", 1)[0]) or {}
    return list(entry.get("source_nodes", []))


def inspect_text(info: dict[str, Any]) -> str:
    rows = [(l["name"], l["op"], tuple(l["out_shape"]), l["params"], l["nonzeros"],
             f"{100 * l['sparsity']:.1f}%" if l["params"] else "-",
             f"{l['wz_percent']:.1f}" if l["params"] else "-", l["encoding"],
             l["weight_bytes"], _sources(l.get("source_nodes", []))) for l in info["layers"]]
    t = info["totals"]
    out = [table(("layer", "op", "output", "params", "non-zeros", "sparsity", "%W_Z",
                  "encoding", "bytes", "from"), rows), ""]
    out.append(f"weights: {t['params']} ({t['nonzeros']} non-zero, sparsity "
               f"{100 * t['sparsity']:.1f}%), stored {t['weight_bytes']} bytes vs "
               f"{t['float_bytes']} as float32")
    out.append(f"%W_Z = {t['wz_percent']:.2f}   CR (seed 000 eq. 1, 8-bit value + 8-bit index) "
               f"= {t['cr_seed000']:.2f}   as written: {t['cr_actual']:.2f}x smaller than "
               f"float32   MACs (dense) = {t['macs']}")
    if info["layers"] and "alternatives" in info["layers"][0] or "alternatives" in t:
        out += ["", alternatives_text(info)]
    if "sections" in info:
        out.append("sections (bytes): " + ", ".join(f"{k} {v}"
                                                    for k, v in info["sections"].items()))
    if "file_bytes" in t:
        out.append(f"file: {t['file_bytes']} bytes; input {info['input']['name']} "
                   f"{tuple(info['input']['shape'])} scale {info['input']['scale']:.6g} "
                   f"zero point {info['input']['zero_point']}; "
                   f"{'dynamic fixed point' if info['dynamic_fixed_point'] else 'affine'}")
    return "\n".join(out)


def _sources(names: list[str], width: int = 48) -> str:
    text = ", ".join(names) or "-"
    return text if len(text) <= width else text[:width - 3] + "..."


def alternatives_text(info: dict[str, Any]) -> str:
    """Bytes of each layer's weights in every encoding family (the chosen one marked *): what
    each storage method buys on this model. 'block' and 'shared' show their best variant."""
    rows = []
    for l in info["layers"]:
        alts = l.get("alternatives")
        if not alts:
            continue
        cells = []
        for fam in ALTERNATIVES:
            enc, n = alts[fam]["encoding"], alts[fam]["bytes"]
            mark = "*" if enc == l["encoding"] else ""
            shown = enc.split("+", 1)[1] if fam in ("shared", "huffman") else enc
            cells.append(f"{n}{mark}" + (f" ({shown})" if fam in ("block", "shared", "huffman")
                                         else ""))
        rows.append((l["name"], l["encoding"], l["weight_bytes"], *cells))
    t = info["totals"].get("alternatives")
    if t:
        rows.append(("total", "", info["totals"]["weight_bytes"], *(t[f] for f in ALTERNATIVES)))
    return ("weight bytes by encoding (* = the one stored; block/shared/huffman: best variant)\n"
            + table(("layer", "encoding", "bytes", *ALTERNATIVES), rows))
