"""Images in, model inputs out: OpenCV loading and the preprocessing of docs/format.md section 4.

A preprocessing dict is the ``input`` object of a model's metadata::

    {"color": "gray" | "rgb" | "bgr", "resize": [H, W], "scale": 1/255,
     "mean": [m_0, ...], "std": [s_0, ...]}     # one entry, or one per channel

``load_image`` turns one file into a float32 ``[1, C, H, W]`` array; ``load_labeled_folder``
loads a folder of files named ``<label>_<anything>.<ext>`` (the label is the part before the
first ``_``), matched against a labels list whose lines are ``label`` or ``label name...``
(ImageNet's ``synset name`` lines match on the synset id).
"""
from __future__ import annotations

import json
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from .errors import DataError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".pbm", ".tif",
                            ".tiff", ".webp"})
COLORS = {"gray": 1, "rgb": 3, "bgr": 3}
DATA_DIR = Path(__file__).resolve().parent / "data"




@dataclass(frozen=True)
class Preprocess:
    """A validated preprocessing dict (see the module docstring)."""
    color: str
    height: int
    width: int
    scale: float
    mean: np.ndarray  # float32 [C]
    std: np.ndarray   # float32 [C]

    @property
    def channels(self) -> int:
        return COLORS[self.color]


def parse_preprocess(spec: dict[str, Any]) -> Preprocess:
    """Check a metadata ``input`` dict and return it in a ready-to-use form."""
    missing = [k for k in ("color", "resize", "scale", "mean", "std") if k not in spec]
    if missing:
        raise DataError(f"preprocessing is missing {', '.join(missing)} (got keys {sorted(spec)})")
    color = spec["color"]
    if color not in COLORS:
        raise DataError(f"preprocessing color must be one of {sorted(COLORS)}, got {color!r}")
    resize = spec["resize"]
    if (not isinstance(resize, (list, tuple)) or len(resize) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
                    for v in resize)):
        raise DataError(f"preprocessing resize must be [H, W] with positive integers, "
                        f"got {resize!r}")
    scale = spec["scale"]
    if (not isinstance(scale, numbers.Real) or isinstance(scale, bool) or not np.isfinite(scale)
            or scale <= 0):
        raise DataError(f"preprocessing scale must be a positive finite number, got {scale!r}")
    channels = COLORS[color]
    mean = _per_channel(spec["mean"], "mean", channels)
    std = _per_channel(spec["std"], "std", channels)
    if np.any(std == 0):
        raise DataError(f"preprocessing std must not contain 0, got {spec['std']!r}")
    return Preprocess(color, int(resize[0]), int(resize[1]), float(scale), mean, std)


def _per_channel(values: Any, key: str, channels: int) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        arr = np.array([np.nan])  # reported below like any other bad value
    if len(arr) not in (1, channels) or not np.all(np.isfinite(arr)):
        raise DataError(f"preprocessing {key} must hold 1 or {channels} finite numbers, "
                        f"got {values!r}")
    return np.broadcast_to(arr, (channels,)).astype(np.float32)


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to an 8-bit BGR array [H, W, 3] (grayscale files are replicated)."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"image file not found: {path}") from None
    except OSError as exc:
        raise DataError(f"cannot read image file {path}: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DataError(f"cannot decode image file {path} ({data.size} bytes): not an image "
                        f"format OpenCV reads")
    return image


def preprocess_image(bgr: np.ndarray, spec: dict[str, Any] | Preprocess) -> np.ndarray:
    """8-bit BGR [H, W, 3] -> float32 [1, C, H', W'] following the preprocessing spec."""
    pre = spec if isinstance(spec, Preprocess) else parse_preprocess(spec)
    if pre.color == "gray":
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[:, :, None]
    elif pre.color == "rgb":
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    else:
        img = bgr
    # Resize in float32 so the bilinear result is not rounded back to 8 bits first.
    img = img.astype(np.float32)
    if img.shape[:2] != (pre.height, pre.width):
        img = cv2.resize(img, (pre.width, pre.height), interpolation=cv2.INTER_LINEAR)
        img = img.reshape(pre.height, pre.width, pre.channels)  # cv2 drops a 1-channel axis
    x = (img * np.float32(pre.scale) - pre.mean) / pre.std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def load_image(path: str | Path, preprocess: dict[str, Any] | Preprocess) -> np.ndarray:
    """Read one image file and preprocess it: float32 NCHW ``[1, C, H, W]``."""
    return preprocess_image(read_image(path), preprocess)


def read_labels(path: str | Path) -> list[str]:
    """Class labels, one per line (line i = class index i); trailing empty lines are dropped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"labels file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read labels file {path}: {exc}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"labels file {path} is empty")
    return lines


def label_keys(labels: Sequence[str]) -> dict[str, int]:
    """Map the first token of each label line to its class index ("n01440764 tench" -> key
    "n01440764"; "7" -> "7")."""
    keys: dict[str, int] = {}
    for index, line in enumerate(labels):
        tokens = line.split()
        if not tokens:
            raise DataError(f"label line {index} is empty")
        if tokens[0] in keys:
            raise DataError(f"label {tokens[0]!r} appears twice (lines {keys[tokens[0]]} and "
                            f"{index})")
        keys[tokens[0]] = index
    return keys


def list_images(directory: str | Path) -> list[Path]:
    """Image files directly inside ``directory``, sorted by name (hidden files skipped)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"image folder not found: {directory}")
    files = sorted(p for p in directory.iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                   and p.is_file())
    if not files:
        raise DataError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {directory}")
    return files


def file_label_prefix(path: Path) -> str:
    """The label part of a file name: the stem up to the first '_' (all of it without one)."""
    return path.stem.split("_", 1)[0]


def load_labeled_folder(directory: str | Path, labels: Sequence[str] | None,
                        preprocess: dict[str, Any] | Preprocess, limit: int | None = None,
                        ) -> tuple[np.ndarray, np.ndarray | None, list[Path]]:
    """Load every image of a folder, in name order.

    Returns ``(images float32 [N, C, H, W], label indices int64 [N] or None, paths)``. Label
    indices are None when ``labels`` is None or when no file name starts with a known label
    (an unlabeled folder); a folder where only some files match is an error, since a typo
    there would silently skew an accuracy figure.
    """
    pre = preprocess if isinstance(preprocess, Preprocess) else parse_preprocess(preprocess)
    paths = list_images(directory)
    if limit is not None:
        if limit < 1:
            raise DataError(f"image limit must be >= 1, got {limit}")
        paths = paths[:limit]
    images = np.concatenate([load_image(p, pre) for p in paths], axis=0)
    if labels is None:
        return images, None, paths
    keys = label_keys(labels)
    found = [keys.get(file_label_prefix(p)) for p in paths]
    unmatched = [p.name for p, k in zip(paths, found) if k is None]
    if len(unmatched) == len(paths):
        return images, None, paths
    if unmatched:
        raise DataError(f"{len(unmatched)} of {len(paths)} files in {directory} have no known "
                        f"label prefix (before the first '_'), e.g. {', '.join(unmatched[:3])}")
    return images, np.array(found, dtype=np.int64), paths


@dataclass(frozen=True)
class BundledModel:
    """A model shipped in edgecomp/data with its metadata, labels and image folders."""
    onnx: Path
    metadata: dict[str, Any]
    labels: Path
    test_dir: Path
    calib_dir: Path
    val_dir: Path       # not trained on: sensitivity analysis chooses here, test stays held out

    @property
    def preprocess(self) -> dict[str, Any]:
        return self.metadata["input"]


def bundled_digits() -> BundledModel:
    """The bundled digits CNN (written by tools/train_digits.py)."""
    meta_path = DATA_DIR / "digits_cnn.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the bundled model metadata {meta_path}: {exc}") from None
    return BundledModel(DATA_DIR / meta["model"], meta, DATA_DIR / meta["labels"],
                        DATA_DIR / meta["test_images"], DATA_DIR / meta["calib_images"],
                        DATA_DIR / meta["val_images"])
