"""Where frames come from: a camera index, a video file, a folder of images, or the bundled clip.

Every source yields 8-bit BGR frames (OpenCV's layout) with a name and, when known, the true
label (image folders named ``<label>_*.png``, videos with a ``<stem>.json`` sidecar listing
``frame_labels``). Without an explicit source the demo uses camera 0 when one is there, and
otherwise says so and plays the bundled clip.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from ..datasets import file_label_prefix, label_keys, list_images, read_image
from ..errors import DataError
from .clip import REPO_CLIP, build_clip, read_sidecar


@dataclass
class Frame:
    image: np.ndarray      # BGR uint8 [H, W, 3]
    index: int             # position in the whole run (repeats included)
    name: str              # file name, or "frame N"
    truth: int | None      # true class index, when the source knows it


class FrameSource:
    """``read()`` returns the next Frame or None at the end; ``repeat`` plays it again."""
    kind = "source"

    def __init__(self, description: str, per_pass: int | None, fps: float | None,
                 truth: Sequence[str | None] | None, labels: Sequence[str] | None,
                 repeat: int = 1) -> None:
        if repeat < 1:
            raise DataError(f"--repeat must be >= 1, got {repeat}")
        self.description = description
        self.per_pass = per_pass          # frames in one pass, None when unknown (camera)
        self.fps = fps                    # the source's own frame rate, when it has one
        self.repeat = repeat
        self._keys = label_keys(labels) if labels else {}
        self._truth = list(truth) if truth is not None else None
        self._index = 0
        self._in_pass = 0
        self._pass = 0

    @property
    def total(self) -> int | None:
        return None if self.per_pass is None else self.per_pass * self.repeat

    def read(self) -> Frame | None:
        while True:
            got = self._read_raw(self._in_pass)
            if got is not None:
                break
            self._pass += 1
            if self._pass >= self.repeat or self._in_pass == 0:
                return None
            self._in_pass = 0
            self._rewind()
        image, name = got
        truth = None
        if self._truth is not None and self._in_pass < len(self._truth):
            key = self._truth[self._in_pass]
            truth = self._keys.get(key) if key is not None else None
        frame = Frame(image, self._index, name, truth)
        self._index += 1
        self._in_pass += 1
        return frame

    def _read_raw(self, i: int) -> tuple[np.ndarray, str] | None:
        raise NotImplementedError

    def _rewind(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"kind": self.kind, "description": self.description,
                "frames_per_pass": self.per_pass, "repeat": self.repeat, "fps": self.fps}


class CaptureSource(FrameSource):
    """cv2.VideoCapture on a camera index or a video file."""

    def __init__(self, target: int | Path, labels=None, repeat: int = 1) -> None:
        self.target = target
        self.kind = "camera" if isinstance(target, int) else "video"
        if self.kind == "camera" and repeat != 1:
            raise DataError("--repeat applies to files and folders, not to a camera")
        self.cap = self._open()
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)) if self.kind == "video" else 0
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        truth = None
        if self.kind == "video":
            meta = read_sidecar(Path(target))
            truth = meta["frame_labels"] if meta else None
            desc = f"video {target}"
        else:
            desc = f"camera {target}"
        super().__init__(desc, count if count > 0 else None, fps if fps > 0 else None, truth,
                         labels, repeat)

    def _open(self) -> cv2.VideoCapture:
        if self.kind == "camera":
            cap = cv2.VideoCapture(self.target)
            if not cap.isOpened():
                cap.release()
                raise DataError(f"camera {self.target} cannot be opened (cv2.VideoCapture("
                                f"{self.target}) failed): check the device and its permissions, "
                                "or leave out --camera to play the bundled clip")
            return cap
        path = Path(self.target)
        if not path.is_file():
            raise DataError(f"video file not found: {path}")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise DataError(f"cannot open video file {path}: not a format OpenCV's FFmpeg "
                            "backend reads")
        return cap

    def _read_raw(self, i: int):
        ok, image = self.cap.read()
        if not ok or image is None:
            if self.kind == "camera" and i == 0:
                raise DataError(f"camera {self.target} opened but delivered no frame")
            return None
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return image, f"frame {i}"

    def _rewind(self) -> None:
        self.cap.release()
        self.cap = self._open()

    def close(self) -> None:
        self.cap.release()


class FolderSource(FrameSource):
    """Every image of a folder, in name order (each decoded with OpenCV)."""
    kind = "images"

    def __init__(self, folder: Path, labels=None, repeat: int = 1) -> None:
        self.files = list_images(folder)
        super().__init__(f"images {folder} ({len(self.files)} files)", len(self.files), None,
                         [file_label_prefix(p) for p in self.files], labels, repeat)

    def _read_raw(self, i: int):
        if i >= len(self.files):
            return None
        return read_image(self.files[i]), self.files[i].name

    def _rewind(self) -> None:
        pass


class MemorySource(FrameSource):
    """Frames already in memory (the bundled clip built from the package data)."""
    kind = "clip"

    def __init__(self, frames: list[np.ndarray], truth, fps, description: str, labels=None,
                 repeat: int = 1) -> None:
        self.frames = frames
        super().__init__(description, len(frames), fps, truth, labels, repeat)

    def _read_raw(self, i: int):
        if i >= len(self.frames):
            return None
        return self.frames[i].copy(), f"frame {i}"

    def _rewind(self) -> None:
        pass


def camera_present(index: int) -> bool:
    """Whether camera ``index`` may exist: on Linux its /dev/videoN node (asking OpenCV for a
    missing one prints backend warnings), elsewhere just try."""
    if sys.platform.startswith("linux"):
        return Path(f"/dev/video{index}").exists()
    return True


def bundled_clip(labels=None, repeat: int = 1) -> FrameSource:
    """The clip of demos/media, or the same frames built from the package data."""
    if REPO_CLIP.is_file():
        src = CaptureSource(REPO_CLIP, labels, repeat)
        src.kind = "clip"
        src.description = f"bundled clip {REPO_CLIP}"
        return src
    clip = build_clip()
    return MemorySource(clip.frames, clip.labels, clip.fps,
                        "bundled clip (built from edgecomp/data/digits/test)", labels, repeat)


def open_source(camera: int | None = None, video: Path | None = None,
                images: Path | None = None, labels: Sequence[str] | None = None,
                repeat: int = 1, probe: Callable[[int], bool] = camera_present,
                notify: Callable[[str], None] = lambda m: print(m, file=sys.stderr)
                ) -> FrameSource:
    """The source the options name; with none of them, camera 0 if there is one, else the
    bundled clip (and ``notify`` says why)."""
    given = [s for s in (camera, video, images) if s is not None]
    if len(given) > 1:
        raise DataError("give one source: --camera, --video or --images")
    if camera is not None:
        if camera < 0:
            raise DataError(f"camera index must be >= 0, got {camera}")
        if not probe(camera):
            raise DataError(f"camera {camera} not found (/dev/video{camera} does not exist): "
                            "leave out --camera to play the bundled clip, or pass --video FILE "
                            "or --images DIR")
        return CaptureSource(int(camera), labels, repeat)
    if video is not None:
        return CaptureSource(Path(video), labels, repeat)
    if images is not None:
        return FolderSource(Path(images), labels, repeat)
    why = "no camera found (/dev/video0 does not exist)"
    if probe(0):
        try:
            return CaptureSource(0, labels)  # a camera has no end: --repeat does not apply
        except DataError as e:
            why = f"no usable camera ({e})"
    src = bundled_clip(labels, repeat)
    notify(f"camera demo: {why}; playing the {src.description} instead "
           "(choose a source with --camera N, --video FILE or --images DIR)")
    return src
