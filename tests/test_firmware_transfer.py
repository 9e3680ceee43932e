"""Flashing and running over real pseudo-terminals against the device emulator."""
import hashlib
import os
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

from edgecomp.packed import write_ecm
from edgecomp.runtime import Runtime
from edgecomp.testing.random_qmodels import random_qmodel
from firmware_io import (DeviceCapabilityError, DeviceConfig, Emulator, FaultConfig, FpgaClient,
                         LinkLostError, NoAnswerError, SerialEndpoint)
from firmware_io.testing import emulated_board, sized_model

FAST = 3_000_000  # paced at 300 kB/s: real UART behaviour, quick enough for tests


@pytest.fixture(scope="module")
def big_image():
    return write_ecm(sized_model(21, 150_000))


def run_matches_local(client, image, seeds):
    rt = Runtime(image)
    for s in seeds:
        x = np.random.default_rng(s).integers(-128, 128, rt.input_shape).astype(np.int8)
        r = client.run(x)
        local = rt.run(x)
        assert r.output == local.tobytes(), f"input seed {s}: device output differs"
        assert r.input_bytes == x.size and r.counters["dense_macs"] > 0
    return r


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_models_arrive_verified_and_run_bit_exact(seed):
    image = write_ecm(random_qmodel(seed))
    with emulated_board(FAST) as emu, FpgaClient(emu.path, FAST) as c:
        assert emu.path.startswith("/dev/pts/")
        report = c.flash(image)
        assert report.status == "flashed" and report.sent_bytes == len(image)
        assert emu.core.active == image
        assert emu.core.active_sha == hashlib.sha256(image).digest()
        assert report.sha256 == hashlib.sha256(image).hexdigest()
        run_matches_local(c, image, range(3))
        assert emu.core.counters["runs"] == 3 and emu.core.counters["commits"] == 1


def test_large_model_stats_and_already_active(big_image):
    with emulated_board(FAST) as emu:
        with FpgaClient(emu.path, FAST) as c:
            report = c.flash(big_image)
            r = run_matches_local(c, big_image, [7])
            stats = c.stats()
            assert c.read("IMAGE", 1000, 9000) == big_image[1000:10000]  # read back, 3 frames
        assert report.link["retransmissions"] == 0 and report.link["crc_errors"] == 0
        # wire bytes: the image plus framing and the small control requests, no more
        assert len(big_image) < report.link["wire_tx_bytes"] < 1.04 * len(big_image)
        assert stats["write_bytes"] >= len(big_image) and stats["commits"] == 1
        assert stats["rx_bytes"] >= report.link["wire_tx_bytes"] and stats["runs"] == 1
        assert 0 < r.counters["executed_macs"] < r.counters["dense_macs"]  # sparse layers skip
        with FpgaClient(emu.path, FAST) as c:  # a second host session: nothing to send
            again = c.flash(big_image)
            assert again.status == "already active" and again.sent_bytes == 0
            forced = c.flash(big_image, force=True)
            assert forced.status == "flashed" and forced.sent_bytes == len(big_image)
        assert emu.core.counters["commits"] == 1  # same image: not loaded twice


def test_clean_link_payload_throughput_at_921600_baud():
    """Acceptance: >= 85% of the raw 8N1 line rate, measured over the whole flash."""
    image = write_ecm(sized_model(5, 80_000))
    with emulated_board(921600) as emu, FpgaClient(emu.path, 921600) as c:
        report = c.flash(image)
    assert emu.core.active == image
    assert report.efficiency >= 0.85, report.lines()
    # the emulator really paces the line: every byte took its line time (less at most the
    # emulated UART's 1 KiB receive FIFO)
    assert report.elapsed >= (report.link["wire_tx_bytes"] - 1024) / 92160


def test_disconnect_mid_transfer_resumes_without_resending_held_bytes(big_image, tmp_path):
    link = str(tmp_path / "ttyFPGA")
    faults = FaultConfig(disconnect_at=(len(big_image) // 2,), disconnect_time=0.2)
    with emulated_board(FAST, faults, link=link) as emu, FpgaClient(link, FAST) as c:
        report = c.flash(big_image)
        assert emu.core.active == big_image
        first_pty = emu.endpoint.tty_path
    assert report.link["reconnects"] == 1 and emu.faults.counts["disconnects"] == 1
    held = report.held_at_begin
    assert held[0] == 0 and 0.3 * len(big_image) < held[1] < 0.6 * len(big_image)
    # after the reconnect exactly the bytes the device lacked were sent
    assert report.sent_per_session[1] == len(big_image) - held[1]
    # before it, at most a window of frames was lost in flight
    assert held[1] <= report.sent_per_session[0] <= held[1] + 8 * 1024
    assert first_pty.startswith("/dev/pts/")


def test_interrupted_flash_is_resumed_by_the_next_command(big_image, tmp_path):
    """The first host gives up (the board stays away longer than it waits); a second host,
    later, sends only what the device is missing."""
    link = str(tmp_path / "ttyFPGA")
    faults = FaultConfig(disconnect_at=(len(big_image) // 3,), disconnect_time=1.0)
    with emulated_board(FAST, faults, link=link) as emu:
        c = FpgaClient(link, FAST, reconnect_timeout=0.3)
        with pytest.raises(LinkLostError, match="could not get it back within"):
            c.flash(big_image)
        c.close()
        deadline = time.monotonic() + 5
        while not os.path.exists(link) and time.monotonic() < deadline:
            time.sleep(0.02)
        with FpgaClient(link, FAST) as c2:
            report = c2.flash(big_image)
        assert emu.core.active == big_image
    assert report.resumed_bytes > 0.25 * len(big_image)
    assert report.sent_bytes == len(big_image) - report.resumed_bytes
    assert report.held_at_begin == [report.resumed_bytes]


def test_device_reset_mid_transfer_is_recovered(big_image):
    faults = FaultConfig(reset_at=(len(big_image) // 4, len(big_image) // 2))
    with emulated_board(FAST, faults) as emu, FpgaClient(emu.path, FAST) as c:
        report = c.flash(big_image)
        assert emu.core.active == big_image
        assert emu.core.boot_count == 3 and emu.core.counters["resets"] == 2
    assert report.link["reconnects"] == 2 and len(report.held_at_begin) == 3
    for held, sent_next in zip(report.held_at_begin[1:], report.sent_per_session[1:]):
        assert held > 0 and sent_next <= len(big_image) - held


def test_stalls_cost_time_not_correctness(big_image):
    faults = FaultConfig(seed=2, stall_every=40_000, stall_time=0.15)
    with emulated_board(FAST, faults) as emu, FpgaClient(emu.path, FAST) as c:
        report = c.flash(big_image)
        assert emu.core.active == big_image
    assert emu.faults.counts["stalls"] >= 2
    assert report.link["reconnects"] == 0  # a stall is waited out, not taken for a lost link
    assert report.elapsed >= 0.15 * emu.faults.counts["stalls"]


def test_compact_encodings_flash_and_run_bit_exact_and_are_checked_against_caps(capsys):
    m = sized_model(8, 30_000)
    m.nodes[1].weight_encoding = "bitmap"
    m.nodes[3].weight_encoding = "huffman+shared+rel4"
    image = write_ecm(m)
    with emulated_board(FAST) as emu, FpgaClient(emu.path, FAST) as c:
        assert c.flash(image).status == "flashed"
        run_matches_local(c, image, [0, 1])
    limited = DeviceConfig(encodings=("dense", "sparse_rel8", "rel4", "bitmap", "shared"))
    with emulated_board(FAST, config=limited) as emu, FpgaClient(emu.path, FAST) as c:
        with pytest.raises(DeviceCapabilityError,
                           match=r"does not support huffman weights \(it has dense, "
                                 r"sparse_rel8, rel4, bitmap, shared\)"):
            c.flash(image)
        assert emu.core.counters["writes"] == 0


def wait_for(*paths):
    deadline = time.monotonic() + 5
    while not all(os.path.exists(p) for p in paths) and time.monotonic() < deadline:
        time.sleep(0.02)


def listening(port: int) -> bool:
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return any(r[1].endswith(f":{port:04X}") and r[3] == "0A" for r in rows)


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")
def test_host_over_socket_url_through_socat_to_the_board(tmp_path):
    """socket:// on the host side: socat bridges a TCP port to the board's serial line."""
    board = str(tmp_path / "board")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # socat opens its first address first: the pty exists before it waits for the connection
    socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={board}",
                              f"tcp-listen:{port},bind=127.0.0.1,reuseaddr"],
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(board)
        deadline = time.monotonic() + 5
        while not listening(port) and time.monotonic() < deadline:
            time.sleep(0.02)  # (a probe connection would use up socat's only accept)
        image = write_ecm(random_qmodel(12))
        emu = Emulator(SerialEndpoint(board, FAST), baud=FAST).start()
        try:
            with FpgaClient(f"socket://127.0.0.1:{port}", FAST) as c:
                assert c.flash(image).status == "flashed"
                run_matches_local(c, image, [3])
            assert emu.core.active == image
        finally:
            emu.stop()
    finally:
        socat.terminate()
        socat.wait(5)


def test_loop_url_hears_only_its_own_echo():
    c = FpgaClient("loop://", FAST, hello_timeout=0.02, hello_tries=2)
    with pytest.raises(NoAnswerError, match="no answer from the device on loop://"):
        c.connect()
    assert c.counters.duplicates >= 2  # its own HELLOs came back and were not taken as CAPS
    c.close()


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")
def test_emulator_on_one_end_of_a_socat_pty_pair(tmp_path):
    a, b = str(tmp_path / "board"), str(tmp_path / "host")
    socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(a, b)
        image = write_ecm(random_qmodel(9))
        emu = Emulator(SerialEndpoint(a, FAST), baud=FAST).start()
        try:
            with FpgaClient(b, FAST) as c:
                assert c.flash(image).status == "flashed"
                run_matches_local(c, image, [0])
            assert emu.core.active == image
        finally:
            emu.stop()
    finally:
        socat.terminate()
        socat.wait(5)
