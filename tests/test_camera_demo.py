"""The camera demo (issue 8) end to end: headless on the bundled clip and on an image folder,
the FPGA path against the emulator on a real pty, and the figures' consistency."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecomp.camera import DemoOptions, run_demo
from edgecomp.camera.clip import CLIP_NAME, build_clip, read_sidecar
from edgecomp.camera.overlay import HEIGHT, PANEL_W
from edgecomp.camera.sources import open_source
from edgecomp.camera.timing import STAGES
from edgecomp.compress import CompressOptions, compress
from edgecomp.datasets import bundled_digits, load_image, read_labels
from edgecomp.errors import DataError
from edgecomp.exec_int import quantize_input
from edgecomp.packed import parse_ecm, save_ecm
from edgecomp.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
# the checkout's clip (the installed package has none and builds the same clip in memory)
REPO_CLIP = ROOT / "demos" / "media" / CLIP_NAME
EPS_MS = 1e-6


@pytest.fixture(scope="module")
def digits_ecm(tmp_path_factory) -> Path:
    b = bundled_digits()
    r = compress(b.onnx, CompressOptions(calib_dir=b.calib_dir, preprocess=b.preprocess,
                                         labels=read_labels(b.labels), show_progress=False))
    path = tmp_path_factory.mktemp("camera") / "digits.ecm"
    save_ecm(r.qmodel, path)
    return path


def video_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def frame_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]


def check_consistent(summary: dict, records: list[dict]) -> None:
    """The figures of a run agree with each other and with the per-frame records."""
    r = summary["results"]
    assert r["frames"] == len(records) > 0
    for rec in records:
        stages = rec["stages_ms"]
        assert set(stages) == set(STAGES)
        assert all(v >= 0 for v in stages.values())
        assert sum(stages.values()) <= rec["frame_ms"] + EPS_MS, rec
    lat = r["latency_ms"]
    for name, st in lat.items():
        assert 0 <= st["p50"] <= st["p95"] <= st["max"] + EPS_MS, name
        assert st["mean"] <= st["max"] + EPS_MS
    # every stage is inside its frame, so the frame's order statistics bound the stages'
    for s in STAGES:
        assert lat[s]["p95"] <= lat["frame"]["p95"] + EPS_MS
        assert lat[s]["p50"] <= lat["frame"]["p50"] + EPS_MS
    assert sum(lat[s]["mean"] for s in STAGES) <= lat["frame"]["mean"] + EPS_MS
    # frames run back to back: the wall clock covers at least every frame's time
    assert r["elapsed_s"] * 1000 >= sum(rec["frame_ms"] for rec in records) - EPS_MS
    assert r["fps_mean"] == pytest.approx(r["frames"] / r["elapsed_s"])
    assert r["fps_mean"] <= 1000.0 / lat["frame"]["mean"] * (1 + 1e-9)
    b = r["bytes_per_frame"]
    for key in ("in_bytes", "out_bytes", "in_coded", "out_coded"):
        assert b[key] == pytest.approx(np.mean([rec["bus"][key] for rec in records]))
    assert b["total_raw"] == pytest.approx(b["in_bytes"] + b["out_bytes"]
                                           + b.get("intermediate_bytes", 0))
    if r["accuracy"]:
        labeled = [rec for rec in records if rec["correct"] is not None]
        assert r["accuracy"]["labeled_frames"] == len(labeled)
        assert r["accuracy"]["top1"] == pytest.approx(np.mean([x["correct"] for x in labeled]))


def test_bundled_clip_is_lossless_small_and_labeled():
    assert REPO_CLIP.is_file(), "run tools/make_demo_clip.py"
    assert REPO_CLIP.stat().st_size < 1 << 20
    clip = build_clip()
    frames = video_frames(REPO_CLIP)
    assert len(frames) == len(clip.frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, clip.frames))
    meta = read_sidecar(REPO_CLIP)
    assert meta["frame_labels"] == clip.labels and meta["frame_sources"] == clip.sources
    assert sorted(set(clip.labels)) == [str(d) for d in range(10)]


def test_headless_bundled_clip(digits_ecm, tmp_path):
    out = tmp_path / "clip"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "demos" / "camera_classify.py"), str(digits_ecm),
         "--video", str(REPO_CLIP), "--headless", "--out", str(out), "--save", "both",
         "--intermediates", "--check"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "p95 ms" in proc.stdout and "mean FPS" in proc.stdout
    assert "80 of 80 frames bit-identical" in proc.stdout
    n = len(build_clip().frames)
    annotated = video_frames(out / "annotated.avi")
    pngs = sorted((out / "frames").glob("frame_*.png"))
    assert len(annotated) == n and len(pngs) == n
    first = cv2.imread(str(pngs[0]))
    assert first.shape == annotated[0].shape and first.shape[0] == HEIGHT
    summary = json.loads((out / "summary.json").read_text())
    records = frame_records(out)
    check_consistent(summary, records)
    assert summary["outputs"]["frames_written"] == n
    assert summary["check"] == {"reference": "numpy integer reference", "frames": n,
                                "mismatches": 0}
    b = summary["results"]["bytes_per_frame"]
    assert (b["in_bytes"], b["out_bytes"]) == (64, 10)       # int8 [1,1,8,8] in, [1,10] out
    assert b["intermediate_bytes"] > b["intermediate_coded"] > 0  # spm saves on ReLU zeros
    w = summary["weights_once"]
    assert w["image_bytes"] == digits_ecm.stat().st_size and w["weight_blob_bytes"] > 0
    # the lossless clip classifies exactly like the test image each frame was made from
    model = parse_ecm(digits_ecm.read_bytes())
    rt = Runtime(digits_ecm)
    test_dir = bundled_digits().test_dir
    sources = read_sidecar(REPO_CLIP)["frame_sources"]
    for rec, src in zip(records, sources):
        x = quantize_input(model, load_image(test_dir / src, model.metadata["input"]))
        y = rt.run(x)
        assert rec["top"][0]["class"] == int(np.argmax(y))
        assert rec["truth"] == src.split("_")[0]
    assert summary["results"]["accuracy"]["top1"] >= 0.9


def test_headless_image_folder(digits_ecm, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    test_dir = bundled_digits().test_dir
    picked = sorted(test_dir.glob("*.png"))[::37][:9]
    for p in picked:
        shutil.copy(p, folder / p.name)
    # a bigger, non-square colour image: letterboxed into the same canvas size
    big = cv2.resize(cv2.imread(str(picked[0])), (40, 30), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(folder / f"{picked[0].name[0]}_wide.png"), big)
    out = tmp_path / "out"
    summary = run_demo(DemoOptions(model=digits_ecm, images=folder, out=out, save="png",
                                   window="off", codec="rle", top=5))
    records = frame_records(out)
    check_consistent(summary, records)
    assert summary["source"]["kind"] == "images"
    assert [r["name"] for r in records] == sorted(p.name for p in folder.iterdir())
    assert all(len(r["top"]) == 5 for r in records)
    pngs = sorted((out / "frames").glob("*.png"))
    assert len(pngs) == 10 and not (out / "annotated.avi").exists()
    shapes = {cv2.imread(str(p)).shape for p in pngs}
    assert len(shapes) == 1 and next(iter(shapes))[1] > PANEL_W
    assert summary["codec"] == "rle" and summary["results"]["accuracy"]["labeled_frames"] == 10


def test_fpga_emulator_on_pty_matches_local(digits_ecm, tmp_path):
    from firmware_io.testing import emulated_board

    local = run_demo(DemoOptions(model=digits_ecm, video=REPO_CLIP, out=tmp_path / "local",
                                 window="off", save="none", max_frames=24))
    with emulated_board() as emu:
        assert emu.path.startswith("/dev/")  # a real pseudo-terminal
        proc = subprocess.run(
            [sys.executable, "-P", "-m", "edgecomp", "demo", "camera", str(digits_ecm),
             "--video", str(REPO_CLIP), "--fpga", emu.path, "--headless", "--check",
             "--max-frames", "24", "--out", str(tmp_path / "fpga")],
            capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        again = run_demo(DemoOptions(model=digits_ecm, video=REPO_CLIP, fpga=emu.path,
                                     out=tmp_path / "again", window="off", max_frames=3))
    fpga = json.loads((tmp_path / "fpga" / "summary.json").read_text())
    check_consistent(fpga, frame_records(tmp_path / "fpga"))
    assert len(video_frames(tmp_path / "fpga" / "annotated.avi")) == 24
    assert fpga["backend"]["name"] == "fpga"
    assert fpga["check"]["mismatches"] == 0 and fpga["check"]["frames"] == 24
    # identical results to the local runtime, frame by frame
    a, b = frame_records(tmp_path / "local"), frame_records(tmp_path / "fpga")
    assert [(r["output_crc32"], r["top"]) for r in a] == [(r["output_crc32"], r["top"])
                                                          for r in b]
    # weights crossed the link once, at the flash; per frame only the tensors and framing
    assert fpga["weights_once"]["status"] == "flashed"
    assert fpga["weights_once"]["sent_bytes"] == digits_ecm.stat().st_size
    assert again["weights_once"]["status"] == "already active"
    assert again["weights_once"]["sent_bytes"] == 0
    bus = fpga["results"]["bytes_per_frame"]
    assert bus["wire_tx_bytes"] > bus["in_bytes"] and bus["wire_rx_bytes"] > bus["out_bytes"]
    assert bus["wire_tx_bytes"] < 4 * bus["in_bytes"] + 200  # no weights per frame
    assert fpga["results"]["compute_per_frame"]["dense_macs"] == \
        local["results"]["compute_per_frame"]["dense_macs"]


def test_no_camera_falls_back_to_bundled_clip_with_a_message(monkeypatch):
    from edgecomp.camera import sources

    said, labels = [], [str(d) for d in range(10)]
    src = open_source(labels=labels, probe=lambda index: False, notify=said.append)
    try:
        assert src.kind == "clip" and src.total == 80
        first = src.read()
        assert first.truth == 0
    finally:
        src.close()
    assert "no camera found" in said[0] and "bundled clip" in said[0]
    # an installed package has no demos/ folder: the same frames are built from package data
    monkeypatch.setattr(sources, "REPO_CLIP", Path("/nonexistent/digits_clip.avi"))
    built = open_source(labels=labels, probe=lambda index: False, notify=said.append)
    assert built.total == 80 and "built from" in said[1]
    again = built.read()
    assert np.array_equal(again.image, first.image) and again.truth == 0
    with pytest.raises(DataError, match="camera 3 not found"):
        open_source(camera=3, probe=lambda index: False)


def test_repeat_and_max_frames(digits_ecm, tmp_path):
    s = run_demo(DemoOptions(model=digits_ecm, video=REPO_CLIP, repeat=2, max_frames=100,
                             out=tmp_path, save="none", window="off", codec="raw"))
    records = frame_records(tmp_path)
    assert s["results"]["frames"] == 100 and [r["index"] for r in records] == list(range(100))
    # the second pass replays the clip: same outputs, same truth
    assert [r["output_crc32"] for r in records[80:]] == [r["output_crc32"] for r in records[:20]]
    b = s["results"]["bytes_per_frame"]
    assert (b["in_coded"], b["out_coded"]) == (b["in_bytes"], b["out_bytes"])  # raw: no codec


def test_default_model_is_the_bundled_digits_cnn(tmp_path):
    s = run_demo(DemoOptions(video=REPO_CLIP, max_frames=8, out=tmp_path, save="none",
                             window="off"))
    assert s["model"]["name"].startswith("bundled digits")
    assert s["model"]["input"]["shape"] == [1, 1, 8, 8]
    assert s["results"]["accuracy"]["labeled_frames"] == 8


def test_cli_errors_and_demo_dispatch(digits_ecm, monkeypatch):
    from edgecomp import cli

    called = []
    monkeypatch.setattr(cli, "cmd_demo", lambda a: called.append((a.out, a.prune)) or 0)
    assert cli.main(["demo", "--out", "x", "--prune", "0.25"]) == 0
    assert called == [(Path("x"), 0.25)]  # the main job's flags are untouched

    def edgecomp(*args):
        return subprocess.run([sys.executable, "-P", "-m", "edgecomp", *map(str, args)],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)

    r = edgecomp("demo", "camera", "--help")
    assert r.returncode == 0 and "edgecomp demo camera" in r.stdout and "--fpga" in r.stdout
    for args, message in (
            (["demo", "bogus"], "unknown demo 'bogus'"),
            (["demo", "--prune", "0.3", "camera"], "--prune: option(s) of the main demo"),
            (["demo-camera", digits_ecm, "--video", "/nonexistent.avi"],
             "video file not found: /nonexistent.avi"),
            (["demo-camera", digits_ecm, "--codec", "lzw"], "unknown activation codec 'lzw'"),
            (["demo-camera", ROOT / "README.md"], "README.md: "),
            (["demo-camera", digits_ecm, "--window"], "--window: no display"),
            (["demo-camera", digits_ecm, "--fpga", "/dev/nonexistent-port"],
             "/dev/nonexistent-port")):
        if "--window" in args:
            from edgecomp.camera.output import display_available
            if display_available():
                continue
        r = edgecomp(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr, (args, r.stderr)
