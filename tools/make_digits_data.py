"""Split scikit-learn's handwritten digits and write the bundled test and calibration images.

The digits (8x8 grayscale, values 0..16, 1797 images) ship inside scikit-learn: nothing is
downloaded. The split is deterministic (stratified, fixed seeds), so rerunning this script
rewrites the same files:

- test:  20% of the images, stratified by class (the held-out split for accuracy reports);
- val:   360 images of the remaining 80%, stratified, not trained on: what the compressor's
         sensitivity analysis chooses with (`--val`), so that test stays untouched by any choice;
- calib: 500 images drawn (stratified) from the rest, the training part (enough samples for the
         least-squares refit of the 768-input FC layer: with 100 it fits the noise).

Each image is stored as an 8-bit grayscale PNG with pixel = round(v * 255 / 16) and named
``<label>_<dataset index>.png``, the layout ``edgecomp.datasets.load_labeled_folder`` reads.

Usage: python tools/make_digits_data.py [--out edgecomp/data]
"""
from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "edgecomp" / "data"
SPLIT_SEED = 0
CALIB_SEED = 1
TEST_FRACTION = 0.2
CALIB_COUNT = 500
VAL_SEED = 2
VAL_COUNT = 360


@dataclass
class DigitsSplit:
    pixels: np.ndarray      # uint8 [1797, 8, 8], the exact bytes written to the PNGs
    labels: np.ndarray      # int64 [1797]
    train: np.ndarray       # dataset indices of the training part (calib included)
    test: np.ndarray        # dataset indices of the held-out split
    val: np.ndarray         # dataset indices of the validation split (not trained on)
    calib: np.ndarray       # dataset indices of the calibration images (subset of train)


def to_pixels(values: np.ndarray) -> np.ndarray:
    """0..16 digit values -> 0..255 bytes, round half up (only v = 8 hits a half: 127.5 -> 128)."""
    return np.floor(values * 255.0 / 16.0 + 0.5).astype(np.uint8)


def split_digits() -> DigitsSplit:
    digits = load_digits()
    labels = digits.target.astype(np.int64)
    index = np.arange(len(labels))
    rest, test = train_test_split(index, test_size=TEST_FRACTION, stratify=labels,
                                  random_state=SPLIT_SEED)
    train, val = train_test_split(rest, test_size=VAL_COUNT, stratify=labels[rest],
                                  random_state=VAL_SEED)
    _, calib = train_test_split(train, test_size=CALIB_COUNT, stratify=labels[train],
                                random_state=CALIB_SEED)
    return DigitsSplit(to_pixels(digits.images), labels, np.sort(train), np.sort(test),
                       np.sort(val), np.sort(calib))


def write_images(split: DigitsSplit, indices: np.ndarray, folder: Path) -> None:
    # Start from an empty folder so a stale file from an older split cannot linger.
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for i in indices:
        path = folder / f"{split.labels[i]}_{i:04d}.png"
        if not cv2.imwrite(str(path), split.pixels[i]):
            raise OSError(f"could not write {path}")


def write_all(out: Path) -> DigitsSplit:
    split = split_digits()
    digits_dir = out / "digits"
    write_images(split, split.test, digits_dir / "test")
    write_images(split, split.val, digits_dir / "val")
    write_images(split, split.calib, digits_dir / "calib")
    (digits_dir / "labels.txt").write_text("".join(f"{d}\n" for d in range(10)))
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    split = write_all(args.out)
    print(f"digits: {len(split.labels)} images, train {len(split.train)}, "
          f"test {len(split.test)}, val {len(split.val)}, calib {len(split.calib)} "
          f"(these three written) -> {args.out / 'digits'}")


if __name__ == "__main__":
    main()
