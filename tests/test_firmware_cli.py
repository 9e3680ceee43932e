"""`edgecomp flash | fpga-run | fpga-stats | fpga-sim`: the emulator as a real process on a pty,
and the one-line errors a user gets for each way the link can fail."""
import hashlib
import io
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import serial

from edgecomp.cli import main
from edgecomp.packed import save_ecm, write_ecm
from edgecomp.testing.random_qmodels import random_qmodel
from firmware_io import DeviceConfig, FpgaClient
from firmware_io.progress import TransferProgress
from firmware_io.testing import emulated_board, sized_model

REPO = Path(__file__).resolve().parents[1]
FAST = "3000000"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("fpga")
    path = d / "digits.ecm"
    save_ecm(sized_model(41, 30_000), path)
    img = d / "seven.png"
    cv2.imwrite(str(img), (np.arange(64).reshape(8, 8) * 4).astype(np.uint8))
    return path, img


def start_sim(*args, stats=None):
    cmd = [sys.executable, "-P", "-m", "edgecomp", "fpga-sim", "--pty", *args]
    if stats is not None:
        cmd += ["--stats-json", str(stats)]
    # -P: the installed edgecomp (with its compiled runtime), never the source tree
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    assert ready, "fpga-sim printed no device path"
    path = proc.stdout.readline().strip()
    assert path.startswith("/dev/pts/"), path
    return proc, path


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_flash_run_and_stats_against_the_emulator_process(model_file, capsys, tmp_path):
    model, img = model_file
    image = model.read_bytes()
    sha = hashlib.sha256(image).hexdigest()
    stats_file = tmp_path / "sim.json"
    proc, port = start_sim("--baud", FAST, stats=stats_file)
    try:
        rc, out, err = run_cli(capsys, "fpga-run", str(model), str(img), "--port", port,
                               "--baud", FAST)
        assert rc == 2 and "runs no model: flash this one first" in err
        rc, out, err = run_cli(capsys, "flash", str(model), "--port", port, "--baud", FAST)
        assert rc == 0, err
        assert out.startswith(f"flashed: {len(image)} bytes, SHA-256 {sha[:16]}")
        assert "0 retransmissions" in out and "of the 300.0 kB/s raw line rate" in out
        rc, out, err = run_cli(capsys, "flash", str(model), "--port", port, "--baud", FAST,
                               "--json")
        report = json.loads(out)
        assert (rc, report["status"], report["sha256"]) == (0, "already active", sha)
        rc, out, err = run_cli(capsys, "fpga-run", str(model), str(img), "--port", port,
                               "--baud", FAST, "--check", "--top", "3")
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[0] == f"seven.png: top-3 on the FPGA board ({port})"
        assert [ln.split()[1].startswith("class") for ln in lines[1:4]] == [True] * 3
        assert "MACs" in lines[4] and "skipped" in lines[4] and "weight" in lines[4]
        assert lines[-1] == "output is bit-identical to the local C runtime"
        rc, out, err = run_cli(capsys, "fpga-stats", "--port", port, "--baud", FAST, "--json")
        info = json.loads(out)
        assert info["capabilities"]["active_sha256"] == sha
        assert set(info["capabilities"]["encodings"]) == {
            "dense", "sparse_rel8", "rel4", "bitmap", "block", "shared", "huffman"}
        assert info["counters"]["commits"] == 1 and info["counters"]["runs"] == 1
        assert info["counters"]["write_bytes"] >= len(image)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    summary = json.loads(stats_file.read_text())
    assert summary["device"]["rx_bytes"] > len(image) and summary["faults_total"] == 0
    assert "fpga-sim: stopped;" in err


def test_emulator_process_with_injected_faults(model_file, capsys, tmp_path):
    model, _ = model_file
    stats_file = tmp_path / "sim.json"
    proc, port = start_sim("--baud", "0", "--bit-error-rate", "1e-3", "--frame-drop-rate",
                           "0.02", "--seed", "5", stats=stats_file)
    try:
        rc, out, err = run_cli(capsys, "flash", str(model), "--port", port, "--baud", FAST)
        assert rc == 0, err
        assert "retransmissions" in out and not out.splitlines()[2].startswith("wire: 0")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    summary = json.loads(stats_file.read_text())
    assert summary["faults"]["bit_flips"] >= 20 and summary["device"]["commits"] == 1
    assert summary["device"]["crc_errors"] + summary["device"]["malformed"] >= 10


def test_progress_bar_on_a_terminal_only(model_file, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    with TransferProgress(1000, "flash", enabled=True) as bar:
        bar.advance(600)
        assert bar._bar.tasks[0].completed == 600
    with emulated_board() as emu, FpgaClient(emu.path, 3_000_000, progress=True) as c:
        c.flash(model_file[0].read_bytes())
    assert "flash" in tty.getvalue()  # the bar was drawn on the terminal
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe: no bar at all
    with TransferProgress(1000, "flash", enabled=True) as bar:
        assert bar._bar is None


def test_missing_port(model_file, capsys):
    rc, out, err = run_cli(capsys, "flash", str(model_file[0]), "--port", "/dev/ttyNOPE42")
    assert rc == 2 and err.count("\n") == 1
    assert "serial port /dev/ttyNOPE42 does not exist" in err


def test_busy_port(model_file, capsys):
    with emulated_board() as emu:
        with serial.Serial(emu.path, 921600, exclusive=True):
            rc, out, err = run_cli(capsys, "fpga-stats", "--port", emu.path)
    assert rc == 2 and f"serial port {emu.path} is busy" in err


def test_device_that_does_not_answer(capsys):
    master, slave = os.openpty()  # a port with nothing behind it
    try:
        path = os.ttyname(slave)
        rc, out, err = run_cli(capsys, "fpga-stats", "--port", path, "--baud", FAST,
                               "--timeout", "0.05")
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 2
    assert f"no answer from the device on {path} at {FAST} baud (4 HELLOs" in err


def test_device_with_too_little_memory(model_file, capsys):
    size = model_file[0].stat().st_size
    with emulated_board(config=DeviceConfig(memory_size=4096)) as emu:
        rc, out, err = run_cli(capsys, "flash", str(model_file[0]), "--port", emu.path,
                               "--baud", FAST)
        assert emu.core.counters["writes"] == 0  # refused before sending anything
    assert rc == 2
    assert (f"the model is {size} bytes but the device on {emu.path} has only 4096 bytes "
            f"of memory ({size - 4096} short)") in err


def test_protocol_version_mismatch(model_file, capsys):
    with emulated_board(config=DeviceConfig(version_major=2)) as emu:
        rc, out, err = run_cli(capsys, "flash", str(model_file[0]), "--port", emu.path,
                               "--baud", FAST)
    assert rc == 2 and "speaks serial protocol v2, this host speaks v1" in err


def test_device_without_the_model_encoding(model_file, capsys):
    with emulated_board(config=DeviceConfig(encodings=("dense",))) as emu:
        rc, out, err = run_cli(capsys, "flash", str(model_file[0]), "--port", emu.path,
                               "--baud", FAST)
    assert rc == 2 and "does not support sparse_rel8 weights (it has dense)" in err


def test_corrupt_model_is_refused_before_touching_the_port(tmp_path, capsys):
    bad = bytearray(write_ecm(random_qmodel(3)))
    bad[-1] ^= 1
    path = tmp_path / "bad.ecm"
    path.write_bytes(bytes(bad))
    rc, out, err = run_cli(capsys, "flash", str(path), "--port", "/dev/ttyNOPE42")
    assert rc == 2 and "bad.ecm" in err and "SHA-256" in err and "ttyNOPE" not in err


def test_sim_option_errors(capsys):
    rc, out, err = run_cli(capsys, "fpga-sim", "--encodings", "dense,lzma")
    assert rc == 2 and "unknown lzma" in err
    with pytest.raises(SystemExit):
        main(["fpga-sim", "--memory", "lots"])
    assert "not a size: 'lots'" in capsys.readouterr().err
