"""Write the camera demo's bundled clip, demos/media/digits_clip.avi (+ digits_clip.json).

    python tools/make_demo_clip.py [--out demos/media] [--per-class 2] [--scale 32] [--hold 4]

The frames are the bundled digits test images (edgecomp/data/digits/test), upscaled with
nearest-neighbour copies and held for a few frames each; the video is lossless FFV1, so the
script reads it back and checks every frame, and that the file stays under 1 MB.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgecomp.camera.clip import (CLIP_NAME, FPS, HOLD, PER_CLASS, SCALE,  # noqa: E402
                                  build_clip, write_clip)

MAX_BYTES = 1 << 20


def check(path: Path, frames: list[np.ndarray]) -> None:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if n >= len(frames) or not np.array_equal(f, frames[n]):
            sys.exit(f"{path}: frame {n} does not decode to the image written")
        n += 1
    cap.release()
    if n != len(frames):
        sys.exit(f"{path}: {n} frames read back, {len(frames)} written")
    size = path.stat().st_size
    if size >= MAX_BYTES:
        sys.exit(f"{path}: {size} bytes, over the 1 MB budget: fewer or smaller frames")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "demos" / "media")
    ap.add_argument("--per-class", type=int, default=PER_CLASS, help="images per digit")
    ap.add_argument("--scale", type=int, default=SCALE, help="upscaling factor (8x8 -> 256)")
    ap.add_argument("--hold", type=int, default=HOLD, help="frames per image")
    ap.add_argument("--fps", type=float, default=FPS)
    a = ap.parse_args()
    clip = build_clip(a.per_class, a.scale, a.hold, a.fps)
    path = write_clip(clip, a.out / CLIP_NAME)
    check(path, clip.frames)
    h, w = clip.frames[0].shape[:2]
    print(f"wrote {path} ({path.stat().st_size} bytes): {len(clip.frames)} frames of {w}x{h} "
          f"at {clip.fps:g} fps, lossless, read back and checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
