"""edgecomp.datasets: image loading, preprocessing (docs/format.md section 4), labeled folders,
and the bundled digits model and images."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgecomp.datasets import (DataError, bundled_digits, load_image, load_labeled_folder,
                               parse_preprocess, read_labels)
from edgecomp.errors import EdgecompError

GRAY = {"color": "gray", "resize": [8, 8], "scale": 1 / 255, "mean": [0.0], "std": [1.0]}
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def bilinear(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Independent bilinear resize with half-pixel centres and edge clamping (what OpenCV's
    INTER_LINEAR computes for float images)."""
    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        lo = np.floor(src).astype(int)
        frac = src - lo
        return np.clip(lo, 0, n_in - 1), np.clip(lo + 1, 0, n_in - 1), frac
    y0, y1, fy = axis(h, img.shape[0])
    x0, x1, fx = axis(w, img.shape[1])
    top = img[y0][:, x0] * (1 - fx)[None, :] + img[y0][:, x1] * fx[None, :]
    bot = img[y1][:, x0] * (1 - fx)[None, :] + img[y1][:, x1] * fx[None, :]
    return top * (1 - fy)[:, None] + bot * fy[:, None]


# ---- load_image -------------------------------------------------------------------------------

def test_gray_png_is_pixel_over_255(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    x = load_image(write(tmp_path / "a.png", pixels), GRAY)
    assert x.shape == (1, 1, 8, 8) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, 0], pixels.astype(np.float32) * np.float32(1 / 255))


def test_color_order_mean_and_std_per_channel(tmp_path):
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 10, 100, 200  # B, G, R
    path = write(tmp_path / "c.png", bgr)
    spec = {"color": "rgb", "resize": [4, 6], "scale": 0.5, "mean": [1, 2, 3], "std": [2, 4, 5]}
    x = load_image(path, spec)
    assert x.shape == (1, 3, 4, 6)
    np.testing.assert_allclose(x[0, :, 0, 0], [(200 * 0.5 - 1) / 2, (100 * 0.5 - 2) / 4,
                                               (10 * 0.5 - 3) / 5], rtol=1e-6)
    x_bgr = load_image(path, dict(spec, color="bgr", mean=[0], std=[1], scale=1))
    np.testing.assert_array_equal(x_bgr[0, :, 2, 3], [10, 100, 200])


def test_gray_from_color_uses_luma_weights(tmp_path):
    bgr = np.random.default_rng(1).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    x = load_image(write(tmp_path / "c.png", bgr), dict(GRAY, resize=[5, 5], scale=1))
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    assert np.abs(x[0, 0] - (0.299 * r + 0.587 * g + 0.114 * b)).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("size", [(7, 4), (2, 3), (16, 9)])
def test_resize_is_bilinear_on_unrounded_values(tmp_path, size):
    pixels = np.random.default_rng(2).integers(0, 256, (5, 6), dtype=np.uint8)
    x = load_image(write(tmp_path / "g.png", pixels),
                   dict(GRAY, resize=list(size), scale=1))
    assert x.shape == (1, 1, *size)
    np.testing.assert_allclose(x[0, 0], bilinear(pixels.astype(np.float64), *size), atol=1e-3)


def test_jpeg_and_grayscale_jpeg_load(tmp_path):
    img = np.full((10, 12, 3), 128, np.uint8)
    x = load_image(write(tmp_path / "p.jpg", img), dict(GRAY, resize=[3, 3], scale=1))
    np.testing.assert_allclose(x, 128, atol=1)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"not found: .*nope\.png"):
        load_image(tmp_path / "nope.png", GRAY)


@pytest.mark.parametrize("content", [b"", b"this is not a png at all"])
def test_undecodable_file_is_a_data_error(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"cannot decode image file .*bad\.png"):
        load_image(path, GRAY)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(DataError, match="cannot read image file"):
        load_image(tmp_path, GRAY)


def test_data_error_is_in_the_hierarchy():
    assert issubclass(DataError, EdgecompError) and issubclass(DataError, ValueError)


@pytest.mark.parametrize("change, message", [
    ({"color": "hsv"}, "color must be one of"),
    ({"resize": [8]}, r"resize must be \[H, W\]"),
    ({"resize": [0, 8]}, r"resize must be \[H, W\]"),
    ({"scale": 0}, "scale must be a positive"),
    ({"scale": float("nan")}, "scale must be a positive"),
    ({"mean": [0, 0]}, "mean must hold 1 or 1"),
    ({"std": [0]}, "std must not contain 0"),
    ({"std": "x"}, "std must hold"),
])
def test_bad_preprocessing_is_reported(change, message):
    with pytest.raises(DataError, match=message):
        parse_preprocess(dict(GRAY, **change))


def test_missing_preprocessing_keys_are_named():
    with pytest.raises(DataError, match="missing resize, std"):
        parse_preprocess({"color": "gray", "scale": 1, "mean": [0]})


# ---- labels and folders -----------------------------------------------------------------------

def make_folder(folder: Path, names: list[str]) -> Path:
    folder.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        write(folder / name, np.full((8, 8), i * 20, np.uint8))
    return folder


def test_labeled_folder_in_name_order(tmp_path):
    folder = make_folder(tmp_path / "d", ["7_0002.png", "3_0001.png", "3_0000.png"])
    (folder / "labels.txt").write_text("not an image\n")
    (folder / ".hidden.png").write_bytes(b"junk")
    images, labels, paths = load_labeled_folder(folder, [str(d) for d in range(10)], GRAY)
    assert [p.name for p in paths] == ["3_0000.png", "3_0001.png", "7_0002.png"]
    assert labels.tolist() == [3, 3, 7] and labels.dtype == np.int64
    assert images.shape == (3, 1, 8, 8)
    # name order, not creation order: 3_0000 was written third (value 40)
    np.testing.assert_allclose(images[:, 0, 0, 0] * 255, [40, 20, 0], atol=1e-4)


def test_imagenet_style_labels_match_the_synset(tmp_path):
    folder = make_folder(tmp_path / "inet", ["n01530575_brambling.png", "n01440764_tench.png"])
    labels = ["n01440764 tench, Tinca tinca", "n01443537 goldfish", "n01530575 brambling"]
    _, idx, _ = load_labeled_folder(folder, labels, GRAY)
    assert idx.tolist() == [0, 2]


def test_unlabeled_folder_and_no_labels_give_none(tmp_path):
    folder = make_folder(tmp_path / "u", ["frame001.png", "cat_photo.png"])
    assert load_labeled_folder(folder, ["0", "1"], GRAY)[1] is None
    assert load_labeled_folder(folder, None, GRAY)[1] is None


def test_partly_labeled_folder_is_an_error(tmp_path):
    folder = make_folder(tmp_path / "m", ["1_a.png", "x_b.png"])
    with pytest.raises(DataError, match=r"1 of 2 files .* x_b\.png"):
        load_labeled_folder(folder, ["0", "1"], GRAY)


def test_limit_takes_the_first_files(tmp_path):
    folder = make_folder(tmp_path / "l", ["0_a.png", "1_b.png", "2_c.png"])
    images, labels, _ = load_labeled_folder(folder, ["0", "1", "2"], GRAY, limit=2)
    assert images.shape[0] == 2 and labels.tolist() == [0, 1]


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no image files"):
        load_labeled_folder(tmp_path, None, GRAY)
    with pytest.raises(DataError, match="image folder not found"):
        load_labeled_folder(tmp_path / "absent", None, GRAY)


def test_unreadable_image_in_folder_names_it(tmp_path):
    folder = make_folder(tmp_path / "b", ["0_a.png"])
    (folder / "1_broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"1_broken\.png"):
        load_labeled_folder(folder, ["0", "1"], GRAY)


def test_read_labels(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("n1 a b\nn2 c\n\n\n")
    assert read_labels(path) == ["n1 a b", "n2 c"]
    with pytest.raises(DataError, match="labels file not found"):
        read_labels(tmp_path / "none.txt")
    path.write_text("\n")
    with pytest.raises(DataError, match="is empty"):
        read_labels(path)


def test_duplicate_label_keys_are_rejected(tmp_path):
    folder = make_folder(tmp_path / "dup", ["a_1.png"])
    with pytest.raises(DataError, match=r"'a' appears twice \(lines 0 and 2\)"):
        load_labeled_folder(folder, ["a x", "b", "a y"], GRAY)


# ---- the bundled digits model -----------------------------------------------------------------

def test_bundled_digits_split_files():
    digits = bundled_digits()
    assert read_labels(digits.labels) == [str(d) for d in range(10)]
    _, test_labels, test_paths = load_labeled_folder(digits.test_dir, read_labels(digits.labels),
                                                     digits.preprocess)
    _, calib_labels, calib_paths = load_labeled_folder(digits.calib_dir,
                                                       read_labels(digits.labels),
                                                       digits.preprocess)
    _, val_labels, val_paths = load_labeled_folder(digits.val_dir, read_labels(digits.labels),
                                                   digits.preprocess)
    assert len(test_paths) == digits.metadata["test_count"] == 360 == len(val_paths)
    assert len(calib_paths) == 500
    assert np.bincount(test_labels).min() >= 35 and np.bincount(val_labels).min() >= 35
    assert np.bincount(calib_labels).min() >= 45    # stratified: ~50 of each digit
    # calibration images come from the training part; test and val are disjoint from it and
    # from each other (val is not trained on: the sensitivity analysis chooses there)
    def index(paths):
        return {p.stem.split("_")[1] for p in paths}
    assert not index(test_paths) & index(calib_paths)
    assert not index(val_paths) & index(calib_paths) and not index(val_paths) & index(test_paths)


def test_bundled_model_graph_exercises_the_importer():
    digits = bundled_digits()
    assert digits.onnx.stat().st_size < 1 << 20
    model = onnx.load(str(digits.onnx))
    onnx.checker.check_model(model)
    assert 13 <= model.opset_import[0].version <= 17
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "BatchNormalization", "Relu", "Add", "Concat", "MaxPool",
            "Flatten", "Dropout", "Gemm", "Softmax"} <= ops
    assert sum(n.op_type == "Gemm" for n in model.graph.node) == 2  # the prunable FC head
    assert model.graph.node[-1].op_type == "Softmax"
    groups = {a.i for n in model.graph.node if n.op_type == "Conv" for a in n.attribute
              if a.name == "group"}
    assert max(groups) > 1
    assert model.graph.input[0].name == "input"
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    assert dims == [1, 8, 8]


def test_bundled_model_float_accuracy_on_held_out_images():
    """The whole float path from PNG files: the metadata's preprocessing + onnxruntime."""
    digits = bundled_digits()
    images, labels, _ = load_labeled_folder(digits.test_dir, read_labels(digits.labels),
                                            digits.preprocess)
    sess = ort.InferenceSession(str(digits.onnx), providers=["CPUExecutionProvider"])
    probs = sess.run(None, {"input": images})[0]
    accuracy = float((probs.argmax(1) == labels).mean())
    assert accuracy >= 0.95
    assert abs(accuracy - digits.metadata["float_top1_test"]) <= 1 / 360
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)


# ---- real photos, when the shared development data is present ---------------------------------

@pytest.mark.skipif(not (SHARED_DATA / "imagenet-dev").is_dir(),
                    reason=f"shared ImageNet photos not present at {SHARED_DATA}")
def test_imagenet_dev_photos_are_all_labeled():
    labels = read_labels(SHARED_DATA / "imagenet_labels.txt")
    spec = {"color": "rgb", "resize": [224, 224], "scale": 1 / 255,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    images, idx, paths = load_labeled_folder(SHARED_DATA / "imagenet-dev", labels, spec)
    assert images.shape == (len(paths), 3, 224, 224) and len(paths) == 100
    assert idx is not None and len(set(idx.tolist())) == 100
    assert -2.2 < images.min() < -1.5 and 2.0 < images.max() < 2.7  # normalized range
