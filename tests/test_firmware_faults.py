"""Injected faults over real ptys: the image always arrives intact or not at all.

Together these tests inject well over a thousand faults (each test asserts its own count) and
check every committed image byte for byte against the file sent.
"""
import hashlib

import numpy as np
import pytest
import serial

from edgecomp.packed import write_ecm
from edgecomp.runtime import Runtime
from firmware_io import FaultConfig, FpgaClient
from firmware_io.testing import emulated_board, sized_model

FAST = 3_000_000


@pytest.fixture(scope="module")
def image():
    return write_ecm(sized_model(31, 150_000))


def flash_and_check(emu, client, image):
    report = client.flash(image)
    assert emu.core.active == image, "a corrupt image was committed"
    assert emu.core.active_sha == hashlib.sha256(image).digest()
    return report


@pytest.mark.parametrize("seed", [1, 2])
def test_noisy_line_in_both_directions_with_disconnect_and_reset(image, seed, tmp_path):
    """Bit flips at 1e-3 per byte, lost/doubled/inserted bytes, lost frames, a pulled cable and
    a device reset, all in one flash, then inferences over the same noisy line."""
    link = str(tmp_path / "tty")
    faults = FaultConfig(seed=seed, bit_error_rate=1e-3, drop_rate=1e-4, dup_rate=1e-4,
                         garbage_rate=1e-4, frame_drop_rate=0.01,
                         disconnect_at=(len(image) // 3,), disconnect_time=0.15,
                         reset_at=(2 * len(image) // 3,))
    with emulated_board(None, faults, link=link) as emu, FpgaClient(link, FAST) as c:
        report = flash_and_check(emu, c, image)
        rt = Runtime(image)
        for s in range(5):
            x = np.random.default_rng(s).integers(-128, 128, rt.input_shape).astype(np.int8)
            assert c.run(x).output == rt.run(x).tobytes()
        dev = c.stats()
    n = emu.faults.counts
    assert emu.faults.total >= 300, n
    assert n["bit_flips"] >= 200 and n["dropped_frames"] >= 5
    assert n["disconnects"] == 1 and n["resets"] == 1
    assert report.link["reconnects"] >= 2 and report.link["retransmissions"] >= 50
    assert report.link["crc_errors"] + report.link["malformed"] >= 5  # replies hit too
    assert dev["crc_errors"] + dev["malformed"] >= 50 and dev["naks_sent"] >= 20
    # the resumed sessions sent only what the device lacked
    for held, sent in zip(report.held_at_begin[1:], report.sent_per_session[1:]):
        assert held > 0 and sent <= len(image) - held
    assert dev["commit_rejects"] == 0  # nothing corrupt ever reached a COMMIT


def test_very_noisy_line_shrinks_frames_and_still_delivers(image):
    faults = FaultConfig(seed=7, bit_error_rate=5e-3, frame_drop_rate=0.02)
    with emulated_board(None, faults) as emu, FpgaClient(emu.path, FAST) as c:
        report = flash_and_check(emu, c, image)
        chunk = c.sizer.chunk
    assert emu.faults.total >= 1000, emu.faults.counts
    assert chunk <= 160  # adapted from 1024 towards sqrt(23 / 5e-3) = 68
    assert report.link["naks"] >= 100


def test_bit_errors_1e4_at_line_rate_with_dropped_frames_and_a_disconnect(image, tmp_path):
    """The issue's scenario on a paced line: resumes without resending what the device holds."""
    link = str(tmp_path / "tty")
    faults = FaultConfig(seed=3, bit_error_rate=1e-4, frame_drop_rate=0.01,
                         disconnect_at=(len(image) // 2,), disconnect_time=0.1)
    with emulated_board(FAST, faults, link=link) as emu, FpgaClient(link, FAST) as c:
        report = flash_and_check(emu, c, image)
    assert emu.faults.counts["bit_flips"] >= 10 and emu.faults.counts["dropped_frames"] >= 2
    held = report.held_at_begin
    assert len(held) == 2 and held[1] > 0.4 * len(image)
    assert report.sent_per_session[1] == len(image) - held[1]
    assert report.efficiency > 0.5  # errors cost retransmissions, not the whole link


def test_memory_errors_behind_the_crc_are_caught_by_the_sha256_and_repaired(image):
    faults = FaultConfig(seed=0, memory_error_rate=0.06)
    with emulated_board(None, faults) as emu, FpgaClient(emu.path, FAST) as c:
        report = flash_and_check(emu, c, image)
        dev = c.stats()
    assert emu.faults.counts["memory_errors"] >= 3
    assert report.repairs >= 1 and dev["verify_mismatches"] == report.repairs
    # repairs resend 4 KiB blocks, not the image
    assert report.sent_bytes < len(image) + 4096 * (emu.faults.counts["memory_errors"] + 2)


def test_garbage_from_the_host_side_is_counted_and_ignored(image):
    rng = np.random.default_rng(8)
    with emulated_board(FAST) as emu:
        with serial.Serial(emu.path, FAST) as raw:  # another program spraying the line
            raw.write(rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes())
            raw.write(rng.integers(1, 256, 30_000, dtype=np.uint8).tobytes())  # no delimiters
            raw.flush()
        with FpgaClient(emu.path, FAST) as c:
            flash_and_check(emu, c, image)
            dev = c.stats()
    assert dev["malformed"] + dev["crc_errors"] >= 10 and dev["overruns"] >= 1
    assert dev["frames_ok"] > 100 and dev["commits"] == 1


def test_garbage_from_the_device_side_is_counted_by_the_host(image):
    faults = FaultConfig(seed=9, garbage_rate=0.02, bit_error_rate=2e-3, directions=("tx",))
    with emulated_board(None, faults) as emu, FpgaClient(emu.path, FAST) as c:
        report = flash_and_check(emu, c, image)
    assert emu.faults.counts["garbage_bytes"] >= 20
    assert report.link["crc_errors"] + report.link["malformed"] >= 15
    # lost ACKs are covered by the cumulative next_expected of later ones
    assert emu.core.counters["crc_errors"] == 0
    assert report.link["retransmitted_bytes"] < len(image) // 4


def test_ten_noisy_flashes_inject_over_a_thousand_faults():
    """A soak over smaller images, a fresh device each time: this test alone injects >= 1000
    faults, and every one of the ten images is committed intact."""
    total = 0
    for seed in range(10):
        img = write_ecm(sized_model(100 + seed, 20_000))
        faults = FaultConfig(seed=seed, bit_error_rate=2e-3, dup_rate=2e-4, drop_rate=2e-4,
                             frame_drop_rate=0.02)
        with emulated_board(None, faults) as emu, FpgaClient(emu.path, FAST) as c:
            flash_and_check(emu, c, img)
            total += emu.faults.total
    print(f"faults injected over ten flashes: {total}")
    assert total >= 1000
