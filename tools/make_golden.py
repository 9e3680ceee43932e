#!/usr/bin/env python3
"""Write the golden cases under tests/golden/: <case>/{model.ecm, input.bin, expected.bin}.

expected.bin is output 0 of the numpy integer reference executor (the executable spec), so the
standalone C runtime can check itself against it with no Python, on the host and under
qemu-aarch64. Generated files: do not edit; rerun this script after a format or semantics change
(tests/test_golden.py fails until you do).

    python tools/make_golden.py [--check]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgecomp.exec_int import quantize_input, run_int  # noqa: E402
from edgecomp.packed import write_ecm  # noqa: E402
from edgecomp.packed.model import QModel  # noqa: E402
from edgecomp.testing.random_qmodels import random_qmodel  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
RANDOM_SEEDS = range(12)


def bundled_cases() -> dict[str, tuple[QModel, np.ndarray]]:
    from edgecomp.compress import CompressOptions, compress
    from edgecomp.datasets import bundled_digits, list_images, load_image

    b = bundled_digits()
    first = load_image(list_images(b.test_dir)[0], b.preprocess)
    cases = {}
    for name, prune in (("digits_dense", 0.0), ("digits_sparse70", 0.7)):
        opts = CompressOptions(calib_dir=b.calib_dir, prune=prune, preprocess=b.preprocess,
                               show_progress=False)
        model = compress(b.onnx, opts).qmodel
        model.metadata = {"golden": name}  # keep golden files independent of timings
        cases[name] = (model, quantize_input(model, first))
    return cases


def all_cases() -> dict[str, dict[str, bytes]]:
    cases = {}
    items = bundled_cases()
    for seed in RANDOM_SEEDS:
        model = random_qmodel(seed)
        x = np.random.default_rng(1000 + seed).integers(-128, 128, model.input.shape)
        items[f"random_{seed:02d}"] = (model, x.astype(np.int8))
    for name, (model, x) in items.items():
        y = run_int(model, x)[model.outputs[0]]
        cases[name] = {"model.ecm": write_ecm(model), "input.bin": x.tobytes(),
                       "expected.bin": y.tobytes()}
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if files differ, write nothing")
    args = ap.parse_args()
    stale = []
    for name, files in all_cases().items():
        for fname, data in files.items():
            path = GOLDEN / name / fname
            if path.exists() and path.read_bytes() == data:
                continue
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    if stale:
        print(("stale: " if args.check else "wrote: ") + ", ".join(stale))
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
