"""Where the int8 tensors of a run come from: the C runtime, or the numpy integer reference.

Both are bit-identical by contract (docs/format.md section 5), so the figures do not depend on
the engine; the C runtime additionally reports per-layer counters (dense and executed MACs,
and, in kernels that have them, MACs skipped for zero weights / zero activations), which the
analysis cross-checks against its own exact counts (``runtime_check``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgecompError
from ..exec_int import run_int
from ..packed.model import QModel

ENGINES = ("auto", "runtime", "reference")


class ReferenceEngine:
    name = "reference"

    def __init__(self, model: QModel) -> None:
        self.model = model

    def run_all(self, x: np.ndarray) -> dict[int, np.ndarray]:
        return run_int(self.model, x, keep_all=True)

    def counters(self) -> list[dict[str, Any]] | None:
        return None


class RuntimeEngine:
    """edgecomp.runtime.Runtime with every tensor kept, tensors keyed by index."""
    name = "runtime"

    def __init__(self, model: QModel, source: str | Path | bytes) -> None:
        from ..runtime import Runtime  # the C extension; ImportError when not built

        self.model = model
        self.rt = Runtime(source)

    def run_all(self, x: np.ndarray) -> dict[int, np.ndarray]:
        out = self.rt.run_all(x)
        # run_all uses a second session that keeps every tensor; the per-layer counters are
        # those of the main session, so run the input there too (and check they agree)
        y = self.rt.run(x)
        names = {t.name: i for i, t in enumerate(self.model.tensors)}
        if isinstance(out, dict):
            items = out.items()
        else:
            items = enumerate(out)
        values = {}
        for key, v in items:
            index = names[key] if isinstance(key, str) else int(key)
            values[index] = np.asarray(v).reshape(self.model.tensors[index].shape)
        missing = [self.model.tensors[i].name for i in range(len(self.model.tensors))
                   if i not in values]
        if not missing and not np.array_equal(values[self.model.outputs[0]].reshape(-1),
                                              np.asarray(y).reshape(-1)):
            raise EdgecompError("the C runtime's two sessions disagree on the output of one "
                                "input: a runtime bug")
        if missing:
            raise EdgecompError(f"the C runtime's run_all did not return tensors "
                                f"{', '.join(missing[:5])}")
        return values

    def counters(self) -> list[dict[str, Any]] | None:
        stats = getattr(self.rt, "layer_stats", None)
        if stats is None:
            return None
        rows = stats() if callable(stats) else stats
        return [_as_dict(r) for r in rows]


def _as_dict(row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        return dict(row)
    if dataclasses.is_dataclass(row):
        return dataclasses.asdict(row)
    if hasattr(row, "_asdict"):
        return dict(row._asdict())
    return {k: getattr(row, k) for k in dir(row) if not k.startswith("_")
            and isinstance(getattr(row, k), (int, float, str))}


def open_engine(model: QModel, source: str | Path | bytes | None, engine: str = "auto"):
    """Return (engine, note). ``auto`` uses the C runtime when it can load the model and falls
    back to the reference executor, saying why in ``note``."""
    if engine not in ENGINES:
        raise EdgecompError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine == "reference" or (engine == "auto" and source is None):
        return ReferenceEngine(model), "numpy integer reference executor"
    if source is None:
        raise EdgecompError("engine 'runtime' needs the .ecm file (path or bytes)")
    try:
        return RuntimeEngine(model, source), "C runtime (edgecomp.runtime)"
    except (ImportError, AttributeError, EdgecompError, OSError) as e:
        if engine == "runtime":
            raise EdgecompError(f"the C runtime is not usable: {e}") from None
        return ReferenceEngine(model), f"numpy integer reference executor (C runtime: {e})"


# Names the runtime may give the counters of MACs skipped for zero weights / activations.
_SKIP_W = ("skipped_zero_weight_macs", "zero_weight_skipped_macs", "skipped_weight_macs")
_SKIP_A = ("skipped_zero_activation_macs", "zero_activation_skipped_macs",
           "skipped_activation_macs")


def check_counters(model: QModel, counts, counters: list[dict[str, Any]]) -> list[dict]:
    """Compare the runtime's per-node counters of one run with the exact counts.

    What a kernel skips depends on the kernel, so the checks are the ones every correct kernel
    satisfies: dense_macs equal; executed_macs between the MACs with both operands non-zero
    (the least an exact kernel can do) and the in-bounds MACs (a kernel that skips nothing but
    padding); a zero-weight skip counter at most the in-bounds MACs with w = 0, a
    zero-activation skip counter at most those with x = zx; with both, every in-bounds MAC is
    executed or skipped once (padding may be counted as skipped too)."""
    rows = []
    for node, c, rt in zip(model.nodes, counts, counters):
        if not c.dense:
            continue
        row = {"name": node.name, "dense_macs": c.dense,
               "runtime_dense_macs": rt.get("dense_macs"),
               "runtime_executed_macs": rt.get("executed_macs"), "problems": []}
        problems = row["problems"]
        if rt.get("dense_macs") is not None and int(rt["dense_macs"]) != c.dense:
            problems.append(f"dense_macs {rt['dense_macs']} != {c.dense}")
        ex = rt.get("executed_macs")
        if ex is not None:
            ex = int(ex)
            exact = {c.nonzero_w: "non-zero weights", c.in_bounds: "all in-bounds",
                     c.nonzero_x: "non-zero activations", c.both_nonzero: "both non-zero"}
            row["executed_matches"] = exact.get(ex, "in between")
            if not c.both_nonzero <= ex <= c.in_bounds:
                problems.append(f"executed_macs {ex} outside [{c.both_nonzero}, "
                                f"{c.in_bounds}]")
        skip_w = next((int(rt[k]) for k in _SKIP_W if k in rt), None)
        skip_a = next((int(rt[k]) for k in _SKIP_A if k in rt), None)
        if skip_w is not None:
            row["runtime_skipped_zero_weight_macs"] = skip_w
            if not 0 <= skip_w <= c.in_bounds - c.nonzero_w:
                problems.append(f"skipped zero-weight MACs {skip_w} outside [0, "
                                f"{c.in_bounds - c.nonzero_w}]")
        if skip_a is not None:
            row["runtime_skipped_zero_activation_macs"] = skip_a
            if not 0 <= skip_a <= c.in_bounds - c.nonzero_x:
                problems.append(f"skipped zero-activation MACs {skip_a} outside [0, "
                                f"{c.in_bounds - c.nonzero_x}]")
        if ex is not None and skip_w is not None and skip_a is not None \
                and ex + skip_w + skip_a not in (c.in_bounds, c.dense):
            problems.append(f"executed {ex} + skipped {skip_w} + {skip_a} is neither the "
                            f"in-bounds {c.in_bounds} nor the dense {c.dense} MACs")
        rows.append(row)
    return rows
