#!/usr/bin/env python3
"""Build an architecture-faithful VGG-16 (224x224, 138 M weights, pruned per layer as in Han et
al.), write it as a packed .ecm, and run `edgecomp analyze` on it: seed 000's and seed 002's
analyses at full size. Not part of the test suite (it takes tens of minutes on two cores);
its figures are quoted in docs/analysis.md.

    python tools/vgg16_analysis.py --images ../shared/data/imagenet-dev --out out/vgg16

The weights are random (He-normal) and magnitude-pruned, the activation scales are calibrated on
the given images, so activation sparsity is that of a random network on real photos, not of a
trained VGG-16; accuracy is reported as top-1 agreement with the exact int8 run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, default=ROOT.parent / "shared/data/imagenet-dev")
    p.add_argument("--out", type=Path, default=ROOT / "out/vgg16")
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--calib", type=int, default=8, help="calibration images")
    p.add_argument("--limit", type=int, default=8, help="images analysed")
    p.add_argument("--engine", default="auto")
    p.add_argument("--sweep", default="1,3,6,10,15,21,28,36,49,64")
    p.add_argument("--adaptive", default="25%", help="adaptive budget ('' to skip)")
    p.add_argument("--sensitivity-images", default="4")
    a = p.parse_args(argv)

    from edgecomp.analysis.vgg import IMAGENET_PREPROCESS, vgg16_qmodel
    from edgecomp.cli import main as edgecomp_main
    from edgecomp.datasets import list_images, load_image
    from edgecomp.packed.writer import save_ecm

    a.out.mkdir(parents=True, exist_ok=True)
    pre = {**IMAGENET_PREPROCESS, "resize": [a.resolution, a.resolution]}
    files = list_images(a.images)
    # calibrate on images that are not analysed (the last ones of the folder)
    calib = [load_image(f, pre) for f in files[-a.calib:]]
    t0 = time.perf_counter()
    import numpy as np
    model = vgg16_qmodel(np.concatenate(calib), resolution=a.resolution)
    path = a.out / f"vgg16_{a.resolution}.ecm"
    save_ecm(model, path)
    print(f"built and calibrated VGG-16 in {time.perf_counter() - t0:.1f} s: {path} "
          f"({path.stat().st_size} bytes)", flush=True)
    args = ["analyze", str(path), "--images", str(a.images), "--limit", str(a.limit),
            "--engine", a.engine, "--sweep", a.sweep, "--codec", "dct:15",
            "--sensitivity-images", a.sensitivity_images, "--report", str(a.out / "report")]
    if a.adaptive:
        args += ["--codec", f"adaptive:{a.adaptive}"]
    t0 = time.perf_counter()
    rc = edgecomp_main(args)
    print(f"analyze took {time.perf_counter() - t0:.0f} s", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
