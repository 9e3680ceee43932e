"""`edgecomp analyze` end to end: the bundled model through the CLI (tables, JSON, plots, HTML
in a real headless browser), a reduced VGG-16 through the library, and the CLI's errors."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from edgecomp.analysis.pipeline import AnalyzeOptions, analyze
from edgecomp.analysis.report import write_report
from edgecomp.analysis.vgg import HAN_DENSITY, IMAGENET_PREPROCESS, vgg16_qmodel
from edgecomp.compress import CompressOptions, compress
from edgecomp.datasets import bundled_digits, list_images, load_labeled_folder
from edgecomp.packed.writer import save_ecm

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome",
            "google-chrome-stable")


def edgecomp(*args):
    return subprocess.run([sys.executable, "-P", "-m", "edgecomp", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The bundled model compressed (30 % pruned, sparse weights) and 60 test images spread
    over the ten classes."""
    b = bundled_digits()
    tmp = tmp_path_factory.mktemp("analyze")
    result = compress(b.onnx, CompressOptions(calib_dir=b.calib_dir, preprocess=b.preprocess,
                                              prune=0.3, show_progress=False))
    path = tmp / "digits.ecm"
    save_ecm(result.qmodel, path)
    images = tmp / "images"
    images.mkdir()
    for f in list_images(b.test_dir)[::6]:
        shutil.copy(f, images / f.name)
    return path, images, tmp


@pytest.fixture(scope="module")
def cli_report(digits):
    path, images, tmp = digits
    out = tmp / "report"
    r = edgecomp("analyze", path, "--images", images, "--codec", "dct:21", "--codec",
                 "adaptive:40%", "--sweep", "6,21,64", "--sensitivity-images", "8",
                 "--report", out)
    assert r.returncode == 0, r.stderr + r.stdout
    return out, r.stdout


def test_cli_prints_the_tables(cli_report):
    _, stdout = cli_report
    for text in ("act% operands", "%ACT (seed 000 Table III)", "Activation bytes per tensor",
                 "Accuracy vs activation compression", "seed 000 Table IV",
                 "dense weights (ms)", "Per layer, sparse weights, dct:21 features",
                 "adaptive:40%: budget", "res_a_conv", "wrote"):
        assert text in stdout, text


def test_report_json_figures(cli_report):
    out, _ = cli_report
    r = json.loads((out / "report.json").read_text())
    assert r["images"] == 60 and r["labeled"] and r["headline"] == ["dct:21", "adaptive:40%"]
    t = r["activations"]["totals"]
    assert 0 < t["act_operand_pct"] < t["act_result_pct"] <= 100
    assert 0 < t["saved_by_weight_skipping_pct"] < t["saved_by_zero_skipping_pct"] < 100
    convs = [l for l in r["activations"]["layers"] if l["op"] == "CONV"]
    assert len(convs) == 6 and all(l["zero_skip_macs"] <= l["nonzero_weight_macs"]
                                   for l in convs)
    names = [b["tensor"] for b in r["boundaries"]]
    assert "res_a_relu" in names and "probs" not in names and "input" not in names
    for b in r["boundaries"]:
        assert set(b["bytes"]) == {"raw", "rle", "spm", "dct:21", "adaptive:40%"}
    points = {p["codec"]: p for p in r["accuracy"]["points"]}
    base = r["accuracy"]["baseline"]
    assert base["top1"] >= 0.9 and base["agreement"] == 1.0
    assert points["rle"]["top1"] == points["spm"]["top1"] == base["top1"]
    assert points["spm"]["reduction"] > 0 > points["rle"]["reduction"]  # 16-bit levels
    assert points["dct:64"]["agreement"] >= 0.95 and points["dct:64"]["nmse"] < 0.01
    assert points["dct:6"]["nmse"] > points["dct:21"]["nmse"] > points["dct:64"]["nmse"]
    a = r["adaptive"][0]
    assert a["bytes"] <= a["budget"] and points["adaptive:40%"]["bytes"] <= a["budget"]
    table = {row["features"]: row for row in r["accelerator"]["table"]}
    assert set(table) == {"raw", "rle", "spm", "dct:21", "adaptive:40%"}
    assert table["dct:21"]["dense_ms"] < table["raw"]["dense_ms"] < table["rle"]["dense_ms"]
    raw = r["accelerator"]["schedules"]["dense/raw"]
    assert raw["total_ms"] == pytest.approx(raw["total_bytes"] * 8 / 2.5e9 * 1e3)
    if r["runtime_check"] is not None:  # the C runtime was used: its counters must agree
        assert r["runtime_check"]["images_with_problems"] == 0


def test_plots_are_real_images(cli_report):
    out, _ = cli_report
    for name in ("weight_sparsity", "activation_percent", "codec_bytes", "accuracy_vs_rate",
                 "bus_time"):
        img = mpimg.imread(out / "plots" / f"{name}.png")
        assert img.shape[0] > 300 and img.shape[1] > 500, name
        assert img[..., :3].std() > 0.05, f"{name} looks blank"


def _browser() -> str | None:
    return next((b for b in BROWSERS if shutil.which(b)), None)


def test_html_report_opens_in_a_headless_browser(cli_report, tmp_path):
    out, _ = cli_report
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 5
    assert "http://" not in html and "https://" not in html  # self-contained
    browser = _browser()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("no headless browser installed (scripts/setup.sh installs "
                        "chromium-headless-shell)")
        pytest.skip("no chromium binary on this machine")
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                        "--dump-dom", (out / "report.html").as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'data-figures="5"' in r.stdout and 'data-figures-ok="5"' in r.stdout, r.stdout[:500]
    assert 'data-errors="0"' in r.stdout
    assert "Uncaught" not in r.stderr
    assert "Accelerator bus time" in r.stdout


def test_reduced_vgg16_end_to_end(tmp_path):
    b = bundled_digits()
    pre = {**IMAGENET_PREPROCESS, "resize": [64, 64]}
    images, _, _ = load_labeled_folder(b.test_dir, None, pre)
    images = images[::60]
    model = vgg16_qmodel(images[:4], resolution=64, width=1 / 8, fc=64, classes=10)
    r = analyze(model, images, None, AnalyzeOptions(sweep=(3, 15), engine="reference",
                                                    show_progress=False))
    assert r["metric"] == "top-1 agreement with the exact int8 run"
    assert len(r["weights"]["layers"]) == 16 and len(r["boundaries"]) == 15
    for layer in r["weights"]["layers"]:  # pruned to Han et al.'s per-layer densities
        density = layer["nonzeros"] / layer["params"]
        assert density == pytest.approx(HAN_DENSITY[layer["name"]], abs=0.02), layer["name"]
    table = {row["features"]: row for row in r["accelerator"]["table"]}
    assert table["raw"]["sparse_ms"] < table["raw"]["dense_ms"]
    assert table["dct:15"]["sparse_ms"] < table["raw"]["sparse_ms"]
    paths = write_report(r, tmp_path)
    assert paths["html"].stat().st_size > 50_000
    assert "conv5_3" in paths["summary"].read_text()


def test_cli_errors_are_one_line(digits, tmp_path, capsys):
    from edgecomp.cli import main

    path, images, _ = digits
    bad = tmp_path / "bad.ecm"
    bad.write_bytes(b"not a model")
    cases = [
        ((path, "--images", images, "--codec", "huffman"), "unknown activation codec 'huffman'"),
        ((path, "--images", images, "--codec", "adaptive"), "needs a budget"),
        ((path, "--images", images, "--codec", "adaptive:1"), "below the smallest possible"),
        ((path, "--images", tmp_path / "nowhere"), "image folder not found"),
        ((bad, "--images", images), "edgecomp analyze: error:"),
    ]
    for args, message in cases:
        assert main(["analyze", *map(str, args), "--sweep", "none", "--limit", "12"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (args, err)
    with pytest.raises(SystemExit):
        main(["analyze", str(path), "--images", str(images), "--sweep", "0,99"])
    assert "--sweep" in capsys.readouterr().err
