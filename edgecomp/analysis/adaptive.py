"""Adaptive DCT masks: one mask per layer, chosen under a global byte budget.

Seed 002 learns a per-layer attenuation matrix by backpropagation; edgecomp has no training
loop, so it measures instead:

1. Sensitivity: for each boundary tensor and each candidate mask (``dct:K``, plus ``raw``, i.e.
   not compressed) run the network with only that tensor compressed, on a few images, and
   record the distortion D: the normalized squared error of the logits against the exact run
   (``lossy.nmse``). The bytes of every option are known in advance (the DCT rate is
   guaranteed).
2. Candidate plans that fit the budget, from those curves: (a) the marginal-analysis greedy
   (start every layer at its smallest option, repeatedly take the upgrade with the largest
   D decrease per extra byte that fits), (b) the best uniform mask that fits (direct mode),
   then the same greedy upgrades with the bytes left, (c) Lagrangian plans (each layer takes
   argmin D + lambda * bytes) for a sweep of lambda, topped up greedily.
3. Distortions do not simply add up once several layers are lossy, so every distinct candidate
   is run with all its masks at once on the same images, and the plan with the smallest
   measured joint distortion wins. As the uniform plan is a candidate, the adaptive choice is
   never worse than direct mode on these images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import EdgecompError
from ..packed.model import QModel
from .codecs import TRIANGULAR_K, Codec, DctCodec, RawCodec, spatial
from .lossy import apply_codec, nmse, rerun_from, run_lossy, score_tensor

DEFAULT_CANDIDATES = TRIANGULAR_K


@dataclass(frozen=True)
class Option:
    label: str          # "raw" or "dct:K"
    bytes: int
    distortion: float   # measured with this tensor alone compressed


@dataclass
class AdaptivePlan:
    budget: int
    choice: dict[int, Option]                                 # boundary tensor -> option
    options: dict[int, list[Option]] = field(default_factory=dict)
    origin: str = ""                                          # which candidate won
    joint_distortion: float | None = None
    candidates: list[dict] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(o.bytes for o in self.choice.values())

    def codecs(self) -> dict[int, Codec]:
        return codecs_of(self.choice)


def codecs_of(choice: dict[int, Option]) -> dict[int, Codec]:
    return {t: (RawCodec() if o.label == "raw" else DctCodec(int(o.label[4:])))
            for t, o in choice.items()}


def parse_budget(text: str, raw_total: int) -> int:
    """'123456' bytes, or '40%' of the raw boundary bytes of one inference."""
    s = str(text).strip()
    try:
        if s.endswith("%"):
            return int(math.floor(float(s[:-1]) / 100.0 * raw_total))
        return int(s)
    except ValueError:
        raise EdgecompError(f"adaptive budget {text!r}: give BYTES (an integer) or a "
                            "percentage of the raw activation bytes such as 40%") from None


def measure_options(model: QModel, exact_runs: list[dict[int, np.ndarray]],
                    boundary: list[int], candidates=DEFAULT_CANDIDATES
                    ) -> dict[int, list[Option]]:
    """Step 1: the single-layer distortion of every option of every boundary tensor."""
    score = score_tensor(model)
    ref = [v[score] for v in exact_runs]
    options: dict[int, list[Option]] = {}
    for t in boundary:
        shape = model.tensors[t].shape
        opts = [Option("raw", int(np.prod(shape)), 0.0)]
        if spatial(shape):
            for k in sorted(set(candidates)):
                codec = DctCodec(k)
                approx = [rerun_from(model, v, t, apply_codec(model, t, v[t], codec))[score]
                          for v in exact_runs]
                opts.append(Option(codec.name, codec.bound(shape),
                                   nmse(model, score, ref, approx)))
        options[t] = opts
    return options


def _greedy(options: dict[int, list[Option]], start: dict[int, Option], budget: int
            ) -> dict[int, Option]:
    """Marginal analysis: best distortion decrease per extra byte while it fits."""
    current = dict(start)
    left = budget - sum(o.bytes for o in current.values())
    while True:
        best = None
        for t, opts in options.items():
            cur = current[t]
            for o in opts:
                extra, gain = o.bytes - cur.bytes, cur.distortion - o.distortion
                if extra <= 0 or gain <= 0 or extra > left:
                    continue
                if best is None or gain / extra > best[0]:
                    best = (gain / extra, t, o)
        if best is None:
            return current
        _, t, o = best
        left -= o.bytes - current[t].bytes
        current[t] = o


def candidate_plans(options: dict[int, list[Option]], budget: int
                    ) -> list[tuple[str, dict[int, Option]]]:
    """Step 2: distinct plans within the budget (see the module docstring)."""
    smallest = {t: min(o, key=lambda x: (x.bytes, x.distortion)) for t, o in options.items()}
    least = sum(o.bytes for o in smallest.values())
    if least > budget:
        raise EdgecompError(f"adaptive budget {budget} bytes is below the smallest possible "
                            f"{least} bytes (every layer at its smallest mask)")
    plans = [("greedy", _greedy(options, smallest, budget))]
    labels = sorted({o.label for opts in options.values() for o in opts if o.label != "raw"},
                    key=lambda s: int(s[4:]), reverse=True)
    for label in labels:  # the largest uniform mask that fits
        uniform = {t: next((o for o in opts if o.label == label), opts[0])
                   for t, opts in options.items()}
        if sum(o.bytes for o in uniform.values()) <= budget:
            plans.append((f"uniform {label} + greedy", _greedy(options, uniform, budget)))
            break
    spread = [o.distortion / max(o.bytes, 1) for opts in options.values() for o in opts
              if o.distortion > 0]
    if spread:
        for lam in np.geomspace(min(spread) / 100, max(spread) * 100, 24):
            plan = {t: min(opts, key=lambda o: o.distortion + lam * o.bytes)
                    for t, opts in options.items()}
            if sum(o.bytes for o in plan.values()) <= budget:
                plans.append((f"lagrangian {lam:.3g}", _greedy(options, plan, budget)))
    distinct, seen = [], set()
    for name, plan in plans:
        key = tuple(sorted((t, o.label) for t, o in plan.items()))
        if key not in seen:
            seen.add(key)
            distinct.append((name, plan))
    return distinct


def choose(model: QModel, exact_runs: list[dict[int, np.ndarray]],
           options: dict[int, list[Option]], budget: int) -> AdaptivePlan:
    """Step 3: run every candidate jointly and keep the least distorting one."""
    score = score_tensor(model)
    ref = [v[score] for v in exact_runs]
    x = [v[model.inputs[0]] for v in exact_runs]
    results = []
    for name, plan in candidate_plans(options, budget):
        codecs = codecs_of(plan)
        joint = nmse(model, score, ref, [run_lossy(model, xi, codecs)[score] for xi in x])
        results.append((joint, name, plan))
    joint, name, plan = min(results, key=lambda r: (r[0], -sum(o.bytes for o in
                                                                 r[2].values())))
    table = [{"plan": n, "bytes": sum(o.bytes for o in p.values()), "joint_nmse": j,
              "predicted_nmse": sum(o.distortion for o in p.values())}
             for j, n, p in results]
    return AdaptivePlan(budget, plan, options, name, joint, table)
