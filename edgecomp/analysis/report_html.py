"""One self-contained HTML page: the figures (PNG embedded as data URIs) and the tables.

The page has no external resources. A small inline script checks, once the page has loaded,
that every figure decoded (``naturalWidth > 0``) and records the result and any script error on
``<body>`` as ``data-figures-ok`` / ``data-figures`` / ``data-errors``, which the headless
browser test reads back from the rendered DOM.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from .report_text import (accuracy_table, activation_table, adaptive_text, codec_table,
                          layer_time_table, runtime_check_text, time_table)

CAPTIONS = {
    "weight_sparsity": "Weight sparsity per layer (seed 000, Fig. 1).",
    "activation_percent": "Activation % per layer, both definitions (seed 000, Fig. 2).",
    "codec_bytes": "Activation bytes per codec per layer, and the data each removes "
                   "(seed 002, Fig. 7).",
    "accuracy_vs_rate": "Accuracy vs activation compression rate (seed 002, Fig. 5).",
    "bus_time": "Transfer time per layer: dense weights with raw features against sparse "
                "weights with the selected codec (seed 000, Table IV per layer).",
}

_CHECK = """
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img.figure'), ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
  }
  document.body.setAttribute('data-figures', String(imgs.length));
  document.body.setAttribute('data-figures-ok', String(ok));
  document.body.setAttribute('data-errors', String(window.__errors.length));
});
"""

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: bold; }
"""


def _figure(name: str, path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure id="fig-{name}"><img class="figure" alt="{html.escape(name)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(CAPTIONS[name])}'
            f"</figcaption></figure>")


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def render_html(r: dict[str, Any], plots: dict[str, Path], key: str) -> str:
    t = r["activations"]["totals"]
    cfg = r["accelerator"]["config"]
    table4 = {row["features"]: row for row in r["accelerator"]["table"]}
    name = r["model"].get("path", r["model"]["source"].get("path", "model"))
    facts = {
        "model": name,
        "images": f"{r['images']} ({r['metric']})",
        "engine": r["engine"],
        "%ACT (operands / result)": f"{t['act_operand_pct']:.1f}% / {t['act_result_pct']:.1f}%",
        "MACs saved by zero-skipping": f"{t['saved_by_zero_skipping_pct']:.1f}%",
        "bus time, dense vs sparse (raw features)":
            f"{table4['raw']['dense_ms']:.4g} ms vs {table4['raw']['sparse_ms']:.4g} ms at "
            f"{cfg['link_rate'] / 1e9:g} Gbit/s",
    }
    body = [f"<h1>edgecomp analyze: {html.escape(str(name))}</h1>", "<dl>"]
    body += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in facts.items()]
    body.append("</dl>")
    sections = [
        ("Weights", ["weight_sparsity"], None),
        ("Activations", ["activation_percent"], activation_table(r)),
        ("Activation compression", ["codec_bytes"], codec_table(r)),
        ("Accuracy vs compression", ["accuracy_vs_rate"],
         accuracy_table(r) + ("\n\n" + adaptive_text(r) if r["adaptive"] else "")),
        ("Accelerator bus time", ["bus_time"],
         time_table(r) + "\n\n" + layer_time_table(r, key) + "\n\n" + runtime_check_text(r)),
    ]
    for title, figs, text in sections:
        body.append(f"<h2>{html.escape(title)}</h2>")
        body += [_figure(f, plots[f]) for f in figs if f in plots]
        if text:
            body.append(_pre(text))
    body.append("<h2>Accelerator configuration</h2>" + _pre(json.dumps(cfg, indent=1)))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>edgecomp analyze: {html.escape(str(name))}</title>"
            f"<style>{_STYLE}</style><script>{_CHECK}</script></head>"
            f"<body>{''.join(body)}</body></html>\n")
