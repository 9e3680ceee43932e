"""The bundled demo clip: the repo's own digit images, upscaled, as a short lossless video.

``tools/make_demo_clip.py`` writes it to ``demos/media/digits_clip.avi`` with a sidecar
``digits_clip.json`` naming the true label of every frame. The video codec is FFV1 (lossless,
in OpenCV's bundled FFmpeg): a decoded frame is exactly the upscaled image, and because the
images are upscaled by an integer factor with nearest-neighbour copies, the model's bilinear
resize back to 8x8 recovers the original pixels, so the clip classifies like the test images.
When the file is absent (an installed package without the demos/ folder) the demo builds the
same frames in memory from the package data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..datasets import bundled_digits, file_label_prefix, list_images, read_image, read_labels
from ..errors import DataError

CLIP_NAME = "digits_clip.avi"
REPO_CLIP = Path(__file__).resolve().parents[2] / "demos" / "media" / CLIP_NAME
FOURCC = "FFV1"
PER_CLASS, SCALE, HOLD, FPS = 2, 32, 4, 8.0


@dataclass
class Clip:
    frames: list[np.ndarray]   # BGR uint8, all the same size
    labels: list[str]          # true label of each frame
    sources: list[str]         # image file each frame was made from
    fps: float


def pick_images(folder: Path, labels: list[str], per_class: int) -> list[Path]:
    """The first ``per_class`` images of every label (by file name), interleaved
    0, 1, ..., 9, 0, 1, ... so consecutive frames change class."""
    files = list_images(folder)
    by_label = {lab: [p for p in files if file_label_prefix(p) == lab][:per_class]
                for lab in labels}
    empty = [lab for lab, ps in by_label.items() if not ps]
    if empty:
        raise DataError(f"no images for label(s) {', '.join(empty)} in {folder}")
    rounds = max(len(ps) for ps in by_label.values())
    return [by_label[lab][r] for r in range(rounds) for lab in labels if r < len(by_label[lab])]


def build_clip(per_class: int = PER_CLASS, scale: int = SCALE, hold: int = HOLD,
               fps: float = FPS) -> Clip:
    """Frames from the bundled digits test images: each upscaled ``scale`` times (nearest) and
    held for ``hold`` frames."""
    if per_class < 1 or scale < 1 or hold < 1 or fps <= 0:
        raise DataError(f"clip parameters must be positive (per_class={per_class}, "
                        f"scale={scale}, hold={hold}, fps={fps})")
    b = bundled_digits()
    labels = [line.split()[0] for line in read_labels(b.labels)]
    frames, truth, sources = [], [], []
    for path in pick_images(b.test_dir, labels, per_class):
        img = read_image(path)
        h, w = img.shape[:2]
        big = cv2.resize(img, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
        for _ in range(hold):
            frames.append(big)
            truth.append(file_label_prefix(path))
            sources.append(path.name)
    return Clip(frames, truth, sources, float(fps))


def sidecar_path(video: Path) -> Path:
    return Path(video).with_suffix(".json")


def write_clip(clip: Clip, path: Path) -> Path:
    """Write the video (FFV1 AVI) and its sidecar JSON; returns the video path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = clip.frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), clip.fps, (w, h))
    if not writer.isOpened():
        raise DataError(f"OpenCV cannot write {FOURCC} video to {path} (its FFmpeg backend is "
                        "missing)")
    try:
        for f in clip.frames:
            writer.write(f)
    finally:
        writer.release()
    meta = {"video": path.name, "fps": clip.fps, "frames": len(clip.frames),
            "frame_labels": clip.labels, "frame_sources": clip.sources,
            "made_by": "tools/make_demo_clip.py (from edgecomp/data/digits/test)"}
    sidecar_path(path).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return path


def read_sidecar(video: Path) -> dict | None:
    """The sidecar of a video (``<stem>.json`` with ``frame_labels``), or None."""
    p = sidecar_path(video)
    if not p.is_file():
        return None
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read the clip sidecar {p}: {e}") from None
    labels = meta.get("frame_labels") if isinstance(meta, dict) else None
    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
        raise DataError(f"clip sidecar {p}: 'frame_labels' must be a list of label strings")
    return meta
