"""Before/after of a kernel change in one run: two builds of the edgecomp package (each a
directory holding an ``edgecomp/`` with its compiled ``_edgert``) on the same .ecm files, with
ONNX Runtime int8 on the source model as the common baseline. Every configuration runs in its
own process (edgecomp.bench), in --rounds rounds in shuffled order; reported: the median of
the processes' medians.

    # the committed runtime next to the working tree's:
    mkdir /tmp/base && git archive HEAD runtime edgecomp | tar -x -C /tmp/base
    (cd /tmp/base && python edgecomp/_build_runtime.py)
    python edgecomp/_build_runtime.py
    python benchmarks/compare_builds.py --builds before=/tmp/base,after=. \\
        --models mobilenet_v2_224_dense_0,mobilenet_v1_224_dense_0

--models names .ecm files in --cache (benchmarks/run_speed.py writes them there); the ONNX
Runtime baseline is <model>_<size>_ort_int8.onnx next to them.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def run_one(pkg_root: str, engine: str, path: Path, reps: int, threads: int) -> float:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=pkg_root)
    code = ("import json, sys; from edgecomp.bench import measure; "
            "m = measure(sys.argv[1], sys.argv[2], threads=int(sys.argv[3]), "
            "reps=int(sys.argv[4]), warmup=3); print(json.dumps(m.median_ms))")
    p = subprocess.run([sys.executable, "-P", "-c", code, engine, str(path), str(threads),
                        str(reps)], capture_output=True, text=True, env=env)
    if p.returncode:
        raise SystemExit(f"{engine} {path} ({pkg_root}): {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builds", required=True, help="name=dir,name=dir (package roots)")
    ap.add_argument("--models", required=True, help="comma list of .ecm names (no suffix)")
    ap.add_argument("--cache", type=Path,
                    default=Path(tempfile.gettempdir()) / "edgecomp-bench-models")
    ap.add_argument("--reps", type=int, default=10, help="timed runs per process")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    builds = dict(b.split("=", 1) for b in args.builds.split(","))
    builds = {k: str(Path(v).resolve()) for k, v in builds.items()}
    jobs = []
    for m in args.models.split(","):
        ecm = args.cache / f"{m}.ecm"
        base = m.split("_dense")[0].split("_fine")[0].split("_kernel")[0]
        ort = args.cache / f"{base}_ort_int8.onnx"
        jobs += [(m, name, "edgecomp", ecm, root) for name, root in builds.items()]
        if ort.exists() and (m, "ort int8") not in [(j[0], j[1]) for j in jobs]:
            jobs.append((m, "ort int8", "onnxruntime", ort, next(iter(builds.values()))))
    times: dict[tuple[str, str], list[float]] = {}
    rng = random.Random(0)
    for r in range(args.rounds):
        rng.shuffle(jobs)
        for m, name, engine, path, root in jobs:
            times.setdefault((m, name), []).append(
                run_one(root, engine, path, args.reps, args.threads))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    names = list(builds) + ["ort int8"]
    print("| model | " + " | ".join(f"{n} ms" for n in names) +
          " | " + " | ".join(f"{n} vs ort int8" for n in builds) + " |")
    print("|---" * (1 + len(names) + len(builds)) + "|")
    for m in args.models.split(","):
        med = {n: float(np.median(times[(m, n)])) for n in names if (m, n) in times}
        ort = med.get("ort int8")
        cells = [f"{med[n]:.2f}" if n in med else "-" for n in names]
        ratios = [f"{ort / med[n]:.2f}x" if ort and n in med else "-" for n in builds]
        print(f"| {m} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
