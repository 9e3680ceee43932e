"""Where annotated frames go: an MJPG video and/or PNG files (headless), and a window when a
display exists."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError

SAVE_MODES = ("video", "png", "both", "none")
VIDEO_NAME, FRAMES_DIR = "annotated.avi", "frames"
WINDOW_TITLE = "edgecomp camera demo (q / Esc: quit)"


class FrameWriter:
    """Writes every canvas to ``out/annotated.avi`` (MJPG, plays everywhere) and/or
    ``out/frames/frame_NNNNNN.png``."""

    def __init__(self, out_dir: Path, save: str, fps: float) -> None:
        if save not in SAVE_MODES:
            raise DataError(f"--save must be one of {', '.join(SAVE_MODES)}, got {save!r}")
        self.out_dir, self.save, self.fps = Path(out_dir), save, fps
        self.video_path = self.out_dir / VIDEO_NAME if save in ("video", "both") else None
        self.frames_dir = self.out_dir / FRAMES_DIR if save in ("png", "both") else None
        self._video: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.written = 0
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.frames_dir is not None:
            self.frames_dir.mkdir(exist_ok=True)
            for old in self.frames_dir.glob("frame_*.png"):  # a shorter rerun leaves no strays
                old.unlink()

    def write(self, canvas: np.ndarray) -> None:
        h, w = canvas.shape[:2]
        if self._size is None:
            self._size = (w, h)
            if self.video_path is not None:
                self._video = cv2.VideoWriter(str(self.video_path),
                                              cv2.VideoWriter_fourcc(*"MJPG"), self.fps, (w, h))
                if not self._video.isOpened():
                    raise DataError(f"OpenCV cannot write an MJPG video to {self.video_path}")
        elif (w, h) != self._size:
            raise DataError(f"annotated frame {self.written} is {w}x{h}, the video is "
                            f"{self._size[0]}x{self._size[1]}")
        if self._video is not None:
            self._video.write(canvas)
        if self.frames_dir is not None:
            path = self.frames_dir / f"frame_{self.written:06d}.png"
            if not cv2.imwrite(str(path), canvas):
                raise DataError(f"cannot write {path}")
        self.written += 1

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None

    def describe(self) -> dict:
        return {"video": str(self.video_path) if self.video_path else None,
                "frames_dir": str(self.frames_dir) if self.frames_dir else None,
                "frames_written": self.written}


def display_available() -> bool:
    """OpenCV was built with a GUI backend and (on Linux) a display server is reachable."""
    gui = next((line.split(":", 1)[1].strip() for line in cv2.getBuildInformation().splitlines()
                if line.strip().startswith("GUI:")), "NONE")
    if gui.upper() == "NONE":
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class Window:
    def __init__(self) -> None:
        try:
            cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_AUTOSIZE)
        except cv2.error as e:
            raise DataError(f"cannot open a window ({e}); run with --headless") from None

    def show(self, canvas: np.ndarray) -> bool:
        """Show a canvas; False when the user asks to quit (q, Esc, or closed the window)."""
        cv2.imshow(WINDOW_TITLE, canvas)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            return False
        return cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        try:
            cv2.destroyWindow(WINDOW_TITLE)
        except cv2.error:
            pass
