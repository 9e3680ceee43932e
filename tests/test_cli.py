"""The `edgecomp` CLI end to end on the bundled model, and its errors on bad input."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgecomp.datasets import bundled_digits

ROOT = Path(__file__).resolve().parent.parent


def edgecomp(*args, cwd=None):
    return subprocess.run([sys.executable, "-P", "-m", "edgecomp", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=300)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    b = bundled_digits()
    out = tmp_path_factory.mktemp("cli") / "digits.ecm"
    r = edgecomp("compress", b.onnx, "-o", out, "--calib", b.calib_dir, "--val", b.val_dir,
                 "--test", b.test_dir, "--prune", "0.3", "--report", out.parent / "report")
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def test_compress_reports_layers_and_accuracy(packed):
    out, stdout = packed
    assert out.exists() and out.stat().st_size > 1000
    assert "%W_Z" in stdout and "source model, float (numpy)" in stdout
    assert "compressed, int8 (numpy reference)" in stdout and "grouped_conv" in stdout
    assert "x smaller than the source model file digits_cnn.onnx" in stdout
    # the same report as JSON: per layer and total, sections, file vs source, accuracy
    report = json.loads((out.parent / "report" / "compression.json").read_text())
    t = report["totals"]
    assert t["file_bytes"] == out.stat().st_size == sum(report["sections"].values())
    assert t["smaller_than_source_file"] == pytest.approx(
        bundled_digits().onnx.stat().st_size / out.stat().st_size)
    assert {"cr_seed000", "wz_percent", "params", "nonzeros"} <= set(t)
    fc = next(l for l in report["layers"] if l["name"] == "fc_hidden")
    assert fc["sparsity"] == pytest.approx(0.3, abs=0.01) and fc["wz_percent"] > 0
    for name in ("val", "test"):
        acc = report["accuracy"][name]
        assert acc["images"] == 360 and acc["source_float"]["top1"] >= 0.95
        assert acc["top1_drop_points"] == pytest.approx(
            100 * (acc["source_float"]["top1"] - acc["int8"]["top1"]))


def test_demo_main_job_int8_within_one_point_of_float(tmp_path):
    r = edgecomp("demo", "--out", tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    dense = summary["variants"]["int8 dense"]
    assert summary["test_images"] >= 300
    assert dense["float_top1"] >= 0.95
    assert dense["float_top1"] - dense["int8_top1"] <= 0.01
    for v in summary["variants"].values():
        assert v["c_vs_numpy_mismatching_images"] == 0
    small = summary["variants"]["int8 sensitivity recipe, 5-bit sharing, Huffman"]
    assert small["smaller_than_source"] >= 10                      # issue #3's target
    assert dense["float_top1"] - small["int8_top1"] <= 0.01
    assert "bit-identical" in r.stdout


def test_inspect_text_and_json(packed):
    out, _ = packed
    r = edgecomp("inspect", out)
    assert r.returncode == 0 and "res_a_conv" in r.stdout and "CR" in r.stdout
    info = json.loads(edgecomp("inspect", out, "--json").stdout)
    convs = [l for l in info["layers"] if l["op"] == "CONV"]
    assert convs and all(l["params"] >= l["nonzeros"] for l in convs)
    assert info["totals"]["file_bytes"] == out.stat().st_size
    assert info["labels"] == 10


def test_run_prints_topk_with_labels(packed):
    out, _ = packed
    b = bundled_digits()
    image = sorted(b.test_dir.iterdir())[0]
    r = edgecomp("run", out, image, "--top", "3", "--reference")
    assert r.returncode == 0, r.stderr
    assert "bit-identical" in r.stdout
    lines = [l for l in r.stdout.splitlines() if l.strip()[:2] in ("1.", "2.", "3.")]
    assert len(lines) == 3
    assert lines[0].split()[1] in [str(d) for d in range(10)]


@pytest.mark.parametrize("damage,message", [
    (lambda d: d[: len(d) // 2], "truncated|file is|SHA-256"),
    (lambda d: d[:200] + bytes([d[200] ^ 0xFF]) + d[201:], "SHA-256|crc32"),
    (lambda d: b"\0" * len(d), "magic"),
    (lambda d: b"", "shorter"),
])
def test_corrupt_model_clear_error_nonzero_exit(packed, tmp_path, damage, message):
    import re
    out, _ = packed
    bad = tmp_path / "bad.ecm"
    bad.write_bytes(damage(out.read_bytes()))
    for cmd in (("inspect", bad), ("run", bad, sorted(bundled_digits().test_dir.iterdir())[0])):
        r = edgecomp(*cmd)
        assert r.returncode == 2, r
        assert re.search(message, r.stderr), r.stderr
        assert "Traceback" not in r.stderr


def test_missing_files_clear_errors(tmp_path):
    r = edgecomp("inspect", tmp_path / "nope.ecm")
    assert r.returncode == 2 and "nope.ecm" in r.stderr and "Traceback" not in r.stderr
    b = bundled_digits()
    r = edgecomp("compress", tmp_path / "nope.onnx", "-o", tmp_path / "x.ecm", "--calib",
                 b.calib_dir)
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_bad_compress_options_clear_errors_and_output_kept(tmp_path, packed):
    good, _ = packed
    b = bundled_digits()
    target = tmp_path / "keep.ecm"
    target.write_bytes(good.read_bytes())
    base = ("compress", b.onnx, "-o", target, "--calib", b.calib_dir)
    for extra, message in ((("--test", tmp_path / "nope"), "--test"),
                           (("--val", tmp_path / "nope"), "--val"),
                           (("--calib-limit", "0"), "--calib-limit must be at least 1"),
                           (("--val", b.val_dir, "--sensitivity", "--sweep", "0.5",
                             "--drop-margin", "-1"), "drop margin must be >= 0")):
        r = edgecomp(*base, *extra)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r
        assert target.read_bytes() == good.read_bytes()


def test_unsupported_op_named_before_any_work(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8, 8])
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="ok_relu"),
             helper.make_node("Sin", ["r"], ["y"], name="weird_sin")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "weird.onnx"
    onnx.save(model, path)
    out = tmp_path / "weird.ecm"
    b = bundled_digits()
    r = edgecomp("compress", path, "-o", out, "--calib", b.calib_dir)
    assert r.returncode == 2
    assert "Sin" in r.stderr and "weird_sin" in r.stderr and "weird.onnx" in r.stderr
    assert not out.exists()


def test_failed_compress_keeps_existing_output(tmp_path, packed):
    good, _ = packed
    target = tmp_path / "keep.ecm"
    target.write_bytes(good.read_bytes())
    r = edgecomp("compress", tmp_path / "nope.onnx", "-o", target, "--calib",
                 bundled_digits().calib_dir)
    assert r.returncode == 2 and target.read_bytes() == good.read_bytes()


def test_wrong_input_shape_and_dtype_raise_from_api(packed):
    from edgecomp.errors import ShapeError
    from edgecomp.exec_int import run_int
    from edgecomp.packed import load_ecm
    from edgecomp.runtime import Runtime

    out, _ = packed
    model, rt = load_ecm(out), Runtime(out)
    for bad in (np.zeros((1, 1, 9, 8), np.int8), np.zeros((1, 64), np.int8),
                np.zeros((1, 1, 8, 8), np.int32)):
        with pytest.raises(ShapeError):
            rt.run(bad)
        with pytest.raises(ShapeError):
            run_int(model, bad)


def test_unreadable_image_clear_error(packed, tmp_path):
    out, _ = packed
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    r = edgecomp("run", out, junk)
    assert r.returncode == 2 and "junk.png" in r.stderr and "Traceback" not in r.stderr
