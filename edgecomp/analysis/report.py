"""Write an analysis to a report directory: summary.txt, report.json, PNG plots, report.html."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .report_html import render_html
from .report_plots import write_plots
from .report_text import headline_key, render


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_report(result: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = headline_key(result)
    text = render(result)
    paths = {"summary": out / "summary.txt", "json": out / "report.json",
             "html": out / "report.html"}
    paths["summary"].write_text(text + "\n", encoding="utf-8")
    paths["json"].write_text(json.dumps(_jsonable(result), indent=1), encoding="utf-8")
    plots = write_plots(result, out / "plots", key)
    paths["html"].write_text(render_html(result, plots, key), encoding="utf-8")
    return {**paths, **{f"plot_{k}": p for k, p in plots.items()}}
