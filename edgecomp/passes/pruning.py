"""The pruning stage of the compression pipeline: decide a recipe, apply it, reconstruct.

The recipe comes from one of, in this order:
- ``opts.sensitivity`` (or a ``max_drop`` / ``target_size`` budget): sweep every layer, choose
  per-layer points for the budget, verify the combined model (sensitivity.py); the recipe is
  written to ``opts.recipe`` when set;
- ``opts.recipe``: replay that file;
- ``opts.prune`` (a target sparsity, or {layer: sparsity}) or ``opts.prune_rule`` ("std:1.2",
  "abs:0.05"): one rule and ``opts.granularity`` for every Conv/Gemm.

Whatever the source, the model is built by ``apply_recipe``, so replaying a recipe yields the
same weights as the run that wrote it.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import load_labeled_folder
from ..errors import EdgecompError
from ..ir import Graph
from .prune import Granularity, PruneResult, Rule, prune_graph, uniform_plan
from .reconstruct import LayerFit, reconstruct
from .recipe import Recipe
from .sensitivity import (DEFAULT_SPARSITIES, DEFAULT_STD_RATIOS, Choice, Curve, Evaluator,
                          Setup, choose_for_drop, choose_for_size, sensitivity_sweep)

DEFAULT_MAX_DROP = 0.01


@dataclass
class PruningOutcome:
    graph: Graph                                  # pruned (and reconstructed) float graph
    recipe: Recipe
    results: dict[str, PruneResult]
    fits: dict[str, LayerFit] = field(default_factory=dict)
    curves: dict[str, Curve] | None = None
    choice: Choice | None = None
    passes: list[dict[str, Any]] = field(default_factory=list)


def sweep_knob(opts) -> str | None:
    """'sparsity' or 'std' when a sensitivity analysis is asked for, else None."""
    s = opts.sensitivity
    if s in (None, False) and opts.max_drop is None and opts.target_size is None:
        return None
    knob = "sparsity" if s in (None, True, False, "sparsity") else s
    if knob not in ("sparsity", "std"):
        raise EdgecompError(f"sensitivity sweeps 'sparsity' or 'std' (std(W) x ratio), "
                            f"got {s!r}")
    return knob


def requested(opts) -> bool:
    """Whether any pruning option is set (run_pruning then checks they fit together)."""
    return bool(sweep_knob(opts) or opts.recipe or opts.prune or opts.prune_rule
                or opts.granularity or opts.reconstruct)


def apply_recipe(graph: Graph, recipe: Recipe, calib: np.ndarray | None,
                 show_progress: bool = True
                 ) -> tuple[Graph, dict[str, PruneResult], dict[str, LayerFit]]:
    """Prune a copy of ``graph`` per ``recipe``, then reconstruct it if the recipe says so."""
    pruned = graph.copy()
    results = prune_graph(pruned, recipe.layers, recipe.norm)
    fits = {}
    if recipe.reconstruct and recipe.layers:
        if calib is None:
            raise EdgecompError("reconstruction needs calibration images")
        fits = reconstruct(graph, pruned, calib, recipe.ridge, show_progress=show_progress)
    return pruned, results, fits


def _check(opts) -> None:
    nm = Granularity.parse(opts.granularity or "fine").is_nm
    if nm and (opts.prune or opts.prune_rule):
        raise EdgecompError(f"granularity {opts.granularity} fixes the sparsity "
                            f"({Granularity.parse(opts.granularity)}): drop --prune / "
                            "--threshold-rule")
    if opts.prune and opts.prune_rule:
        raise EdgecompError("give a pruning target (--prune) or a threshold rule "
                            "(--threshold-rule), not both")
    if sweep_knob(opts):
        if opts.prune or opts.prune_rule:
            raise EdgecompError("the sensitivity analysis chooses each layer's pruning: drop "
                                "--prune / --threshold-rule")
    elif opts.recipe:
        if opts.prune or opts.prune_rule or opts.granularity or opts.prune_norm != "l2":
            raise EdgecompError(f"recipe {opts.recipe} fixes the pruning: drop --prune / "
                                "--threshold-rule / --granularity / --norm (or add "
                                "--sensitivity to write a new recipe)")
    elif not (opts.prune or opts.prune_rule or nm):
        what = f"granularity {opts.granularity}" if opts.granularity else "reconstruction"
        raise EdgecompError(f"{what} needs something to prune: give --prune, --threshold-rule, "
                            "an N:M granularity, --sensitivity or --recipe")


def _validation(opts, calib: np.ndarray, pre, labels) -> tuple[np.ndarray, np.ndarray | None,
                                                                str]:
    if opts.val_data is not None:
        images, truth = opts.val_data
        return np.asarray(images, np.float32), truth, "given validation data"
    if opts.val_dir is not None:
        if pre is None:
            raise EdgecompError("loading --val images needs the model's preprocessing")
        images, truth, _ = load_labeled_folder(opts.val_dir, labels or None, pre)
        return images, truth, str(opts.val_dir)
    if opts.reconstruct:  # the refit is fit on these very images: say so wherever it shows
        return calib, None, ("calibration images (no validation set given; optimistic, the "
                             "reconstruction is fit on them)")
    return calib, None, "calibration images (no validation set given)"


def _curves_table(curves: dict[str, Curve]) -> dict[str, dict[str, list]]:
    out = {}
    for name, c in curves.items():
        knob = [p.spec.rule.value if p.spec.rule else 1.0 for p in c.points]
        out[name] = {"knob": knob, "sparsity": [round(p.sparsity, 6) for p in c.points],
                     "metric": [round(p.metric, 6) for p in c.points],
                     "drop": [round(p.drop, 6) for p in c.points],
                     "snr_db": [round(p.snr_db, 3) for p in c.points],
                     "weight_bytes": [p.bytes for p in c.points]}
    return out


def _analyse(graph: Graph, opts, calib: np.ndarray, pre, labels, knob: str,
             model_name: str, passes: list, deliverable=None
             ) -> tuple[Recipe, dict[str, Curve], Choice]:
    t0 = time.perf_counter()
    images, truth, source = _validation(opts, calib, pre, labels)
    values = tuple(opts.sweep) if opts.sweep else (DEFAULT_SPARSITIES if knob == "sparsity"
                                                   else DEFAULT_STD_RATIOS)
    setup = Setup(graph, Evaluator(graph, images, truth, deliverable),
                  Granularity.parse(opts.granularity or "fine"), knob, values, opts.prune_norm,
                  calib if opts.reconstruct else None, opts.ridge, opts.show_progress)
    curves = sensitivity_sweep(setup)
    budget = opts.max_drop
    if opts.target_size is not None:
        choice = choose_for_size(setup, curves, int(opts.target_size), budget)
    else:
        budget = DEFAULT_MAX_DROP if budget is None else budget
        choice = choose_for_drop(setup, curves, budget, opts.drop_margin)
    ev = setup.evaluator
    analysis = {
        "model": model_name, "validation": source, "validation_images": len(images),
        "metric": ev.metric, "baseline": round(ev.baseline, 6),
        "granularity": str(setup.granularity), "swept": knob, "sweep": list(values),
        "reconstruct_in_sweep": opts.reconstruct,
        **({"max_drop": budget, "drop_margin_se": opts.drop_margin}
           if budget is not None else {}),
        **({"target_weight_bytes": int(opts.target_size)} if opts.target_size else {}),
        "verified_metric": round(choice.metric, 6), "verified_drop": round(choice.drop, 6),
        "verified_drop_se": round(choice.drop_se, 6),
        "verified_snr_db": round(choice.snr_db, 3), "weight_bytes": choice.weight_bytes,
        "dense_weight_bytes": sum(c.dense_bytes for c in curves.values()),
        "search": choice.steps,
    }
    notes = {}
    for name, i in choice.index.items():
        if i >= 0:
            p = curves[name].points[i]
            notes[name] = (f"alone: sparsity {p.sparsity:.3f}, {ev.metric} drop {p.drop:+.4f}, "
                           f"SNR {p.snr_db:.1f} dB")
    recipe = Recipe(choice.plan, opts.prune_norm, bool(opts.reconstruct), opts.ridge, analysis,
                    _curves_table(curves), notes)
    passes.append({"pass": "sensitivity", "seconds": round(time.perf_counter() - t0, 3),
                   "metric": ev.metric, "drop": round(choice.drop, 4),
                   "layers_pruned": len(choice.plan)})
    return recipe, curves, choice


def run_pruning(graph: Graph, opts, calib: np.ndarray, pre=None, labels=None,
                model_name: str = "", deliverable=None) -> PruningOutcome:
    """The pruning stage for ``compress`` (``opts`` is a CompressOptions). ``deliverable``
    (graph, images) -> outputs of the model written from a pruned graph: what the sensitivity
    analysis verifies its choice on (sensitivity.Evaluator)."""
    _check(opts)
    passes: list[dict[str, Any]] = []
    curves = choice = None
    knob = sweep_knob(opts)
    if knob:
        recipe, curves, choice = _analyse(graph, opts, calib, pre, labels, knob, model_name,
                                          passes, deliverable)
        if opts.recipe:
            recipe.save(opts.recipe)
    elif opts.recipe:
        recipe = Recipe.load(opts.recipe)
        recipe.reconstruct = recipe.reconstruct or bool(opts.reconstruct)
    else:
        rule = opts.prune_rule if opts.prune_rule else opts.prune
        if not isinstance(rule, dict):
            rule = Rule.parse(rule)
        recipe = Recipe(uniform_plan(graph, opts.granularity or "fine", rule), opts.prune_norm,
                        bool(opts.reconstruct), opts.ridge)
    t0 = time.perf_counter()
    pruned, results, fits = apply_recipe(graph, recipe, calib, opts.show_progress)
    total = sum(graph.constants[n.attrs["weight"]].size for n in pruned.nodes
                if n.name in results)
    zeros = sum(r.sparsity * graph.constants[n.attrs["weight"]].size
                for n in pruned.nodes if (r := results.get(n.name)))
    passes.append({"pass": "prune", "seconds": round(time.perf_counter() - t0, 3),
                   "layers": len(results), "overall_sparsity": round(zeros / total, 4) if total else 0.0,
                   "reconstruct": bool(fits)})
    out = PruningOutcome(pruned, recipe, results, fits, curves, choice, passes)
    if opts.report_dir:
        write_report(out, Path(opts.report_dir))
    return out


def metadata(out: PruningOutcome) -> dict[str, Any]:
    """What goes into the packed model's metadata (kept short: small models feel every byte):
    per layer [granularity, rule, achieved sparsity]."""
    return {"norm": out.recipe.norm, "reconstruct": bool(out.fits), "ridge": out.recipe.ridge,
            "layers": {k: [r.granularity, r.rule, round(r.sparsity, 4)]
                       for k, r in out.results.items()}}


def summary_rows(out: PruningOutcome) -> list[tuple]:
    rows = []
    for name, r in out.results.items():
        fit = out.fits.get(name)
        err = f"{fit.error_before:.3f} -> {fit.error_after:.3f}" if fit else "-"
        rows.append((name, r.granularity, r.rule, f"{100 * r.sparsity:.1f}%",
                     f"{r.pruned_groups}/{r.groups}", err))
    return rows


SUMMARY_HEADERS = ("layer", "granularity", "rule", "sparsity", "groups pruned",
                   "rel. output error (before -> after refit)")


def summary_text(out: PruningOutcome) -> str:
    """Per-layer pruning table, plus what the sensitivity analysis found and verified."""
    from ..report import table

    lines = [table(SUMMARY_HEADERS, summary_rows(out))]
    a = out.recipe.analysis
    if out.choice is not None:
        budget = (f"max drop {a['max_drop']} with {a.get('drop_margin_se', 0):g} standard "
                  f"errors to spare" if "max_drop" in a else "")
        if "target_weight_bytes" in a:
            budget = f"weights <= {a['target_weight_bytes']} B" + (f", {budget}" if budget else "")
        lines.append(f"sensitivity ({a['swept']} sweep, {a['validation_images']} images from "
                     f"{a['validation']}): {a['metric']} {a['baseline']:.4f} -> "
                     f"{a['verified_metric']:.4f} of the model as written (drop "
                     f"{a['verified_drop']:+.4f} +- {a.get('verified_drop_se', 0):.4f}, budget "
                     f"{budget}), weights {a['weight_bytes']} of {a['dense_weight_bytes']} B")
    return "\n".join(lines)


def write_report(out: PruningOutcome, directory: Path) -> None:
    """pruning.json always; sensitivity.json and sensitivity.png after an analysis."""
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"layers": {k: vars(r) for k, r in out.results.items()},
           "reconstruction": {k: vars(f) for k, f in out.fits.items()}}
    (directory / "pruning.json").write_text(json.dumps(_jsonable(doc), indent=1))
    if out.curves is None:
        return
    from ..plots import plot_sensitivity

    a = out.recipe.analysis
    (directory / "sensitivity.json").write_text(json.dumps(_jsonable(
        {"analysis": a, "curves": out.recipe.sensitivity,
         "chosen": {k: str(v.rule or v.granularity) for k, v in out.recipe.layers.items()}}),
        indent=1))
    plot_sensitivity(out.curves, directory / "sensitivity.png", a["metric"], a["baseline"],
                     out.choice.index if out.choice else None, a.get("max_drop"),
                     title=f"{a.get('model', '')} pruning sensitivity ({a['granularity']}"
                           f"{', reconstructed' if a['reconstruct_in_sweep'] else ''})")


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not np.isfinite(v):
        return None  # JSON has no inf
    if hasattr(v, "item"):
        return _jsonable(v.item())
    return v
