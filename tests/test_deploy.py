"""`edgecomp deploy` / `rollback` against a real OpenSSH server on 127.0.0.1.

The "board" is a temporary directory on this machine reached through sshd (tests/sshd_fixture.py):
the runtime really is built there by make, the self-test really runs the built edgert. One
board is built once per module; other tests start from copies of it (a copied runtime/ is a
board that already has this build), so only that first deploy pays for the compile.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgecomp.deploy import (AuthRefusedError, BuildError, DiskFullError, Golden,
                             HostUnreachableError, NoCompilerError, NothingToRollBackError,
                             SelfTestError, Ssh, deploy, rollback)
from edgecomp.deploy.golden import compute_golden, load_packed
from edgecomp.deploy.payload import make_payload
from edgecomp.packed import write_ecm
from edgecomp.testing.random_qmodels import random_qmodel

from sshd_fixture import SshServer, find_sshd

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(find_sshd() is None,
                                reason="OpenSSH server not installed (scripts/setup.sh does)")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    """A snapshot of runtime/ (sources only): every deploy of the module ships the same
    sources, so the build id stays the same whatever happens to the checkout meanwhile."""
    dest = tmp_path_factory.mktemp("src") / "runtime"
    shutil.copytree(REPO / "runtime", dest, ignore=shutil.ignore_patterns("build*"))
    return dest


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    out = {}
    for name, seed in (("a", 11), ("b", 12), ("c", 13)):
        out[name] = d / f"{name}.ecm"
        out[name].write_bytes(write_ecm(random_qmodel(seed)))
    return out


@pytest.fixture(scope="module")
def ssh(sshd) -> Ssh:
    return Ssh(options=sshd.ssh_args())


@pytest.fixture(scope="module")
def first_deploy(src, tmp_path_factory, ssh, models):
    """Model a deployed to an empty board: the runtime gets built there."""
    board_dir = tmp_path_factory.mktemp("board") / "edgecomp"
    logs: list[str] = []
    result = deploy(models["a"], f"board:{board_dir}", ssh=ssh, runtime_src=src,
                    log=logs.append)
    return board_dir, result, logs


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(board_dir: Path) -> dict[str, str]:
    """Every file (by content) and link (by target) under the board dir, except scratch."""
    out = {}
    for p in sorted(board_dir.rglob("*")):
        rel = p.relative_to(board_dir).as_posix()
        if rel.startswith(".staging") or rel == ".lock" or rel.endswith("result.txt"):
            continue
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = sha(p)
    return out


def copy_board(origin: Path, dest_parent: Path, runtime_only: bool = False) -> Path:
    dest = dest_parent / "edgecomp"
    if runtime_only:
        shutil.copytree(origin / "runtime", dest / "runtime", symlinks=True)
    else:
        shutil.copytree(origin, dest, symlinks=True)
    return dest


def current_model(board_dir: Path) -> bytes:
    return (board_dir / "current" / "model.ecm").read_bytes()


# -- the happy path -------------------------------------------------------------------------

def test_deploy_builds_runtime_selftests_and_switches(first_deploy, models):
    board_dir, r, logs = first_deploy
    assert r.built and r.switched and r.selftest == "passed" and r.previous == ""
    assert r.board_dir == str(board_dir.resolve())
    rt = board_dir / "runtime" / r.runtime_id
    assert (rt / "BUILD_OK").read_text().strip() == r.runtime_id
    assert os.access(rt / "bin" / "edgert", os.X_OK)
    assert "edgert_main" in (rt / "build.log").read_text()  # make really compiled the CLI
    assert os.readlink(board_dir / "current") == r.release
    assert current_model(board_dir) == models["a"].read_bytes()
    assert r.model_sha256 == sha(models["a"])
    # The self-test ran on the board and compared the golden output bit for bit.
    result = (board_dir / "current" / "selftest" / "result.txt").read_text()
    assert "output identical" in result, result
    expected = compute_golden(load_packed(models["a"])).expected
    assert (board_dir / "current" / "selftest" / "expected.bin").read_bytes() == expected
    assert not list((board_dir / ".staging").iterdir())  # the upload was cleaned up
    assert any("needs a build" in line for line in logs)


def test_same_build_is_skipped_and_rollback_restores_previous(src, first_deploy, ssh, models,
                                                              tmp_path):
    board_dir = copy_board(first_deploy[0], tmp_path)
    a_release = os.readlink(board_dir / "current")
    r = deploy(models["b"], f"board:{board_dir}", ssh=ssh, runtime_src=src)
    assert not r.built and r.runtime_id == first_deploy[1].runtime_id
    assert r.switched and r.previous == a_release
    assert current_model(board_dir) == models["b"].read_bytes()
    assert os.readlink(board_dir / "previous") == a_release

    back = rollback(f"board:{board_dir}", ssh=ssh)
    assert (back.current, back.previous) == (a_release, r.release)
    assert current_model(board_dir) == models["a"].read_bytes()
    forward = rollback(f"board:{board_dir}", ssh=ssh)  # a second rollback undoes the first
    assert forward.current == r.release
    assert current_model(board_dir) == models["b"].read_bytes()


def test_redeploying_current_model_changes_nothing(src, first_deploy, ssh, models, tmp_path):
    board_dir = copy_board(first_deploy[0], tmp_path)
    before = snapshot(board_dir)
    r = deploy(models["a"], f"board:{board_dir}", ssh=ssh, runtime_src=src)
    assert not r.switched and not r.built and r.selftest == "passed"
    assert snapshot(board_dir) == before


def test_only_current_and_previous_are_kept(src, first_deploy, ssh, models, tmp_path):
    board_dir = copy_board(first_deploy[0], tmp_path)
    a_sha = first_deploy[1].model_sha256
    deploy(models["b"], f"board:{board_dir}", ssh=ssh, runtime_src=src)
    r = deploy(models["c"], f"board:{board_dir}", ssh=ssh, runtime_src=src)
    releases = sorted(p.name for p in (board_dir / "releases").iterdir())
    assert releases == sorted([Path(r.release).name, Path(r.previous).name])
    assert not (board_dir / "models" / a_sha).exists()
    assert (board_dir / "runtime" / r.runtime_id / "bin" / "edgert").exists()


# -- failures leave the previous model active and intact -----------------------------------

def test_selftest_mismatch_keeps_previous_model(src, first_deploy, ssh, models, tmp_path):
    board_dir = copy_board(first_deploy[0], tmp_path)
    before = snapshot(board_dir)
    good = compute_golden(load_packed(models["b"]))
    wrong = bytearray(good.expected)
    wrong[0] ^= 0x01  # one bit off in one byte
    with pytest.raises(SelfTestError, match="mismatch") as e:
        deploy(models["b"], f"board:{board_dir}", ssh=ssh, runtime_src=src,
               golden=Golden(good.input, bytes(wrong), "test"))
    assert "MISMATCH: 1 of" in e.value.detail  # edgert's own report, from the board
    assert snapshot(board_dir) == before
    assert current_model(board_dir) == models["a"].read_bytes()
    assert not list((board_dir / ".staging").iterdir())


def test_cli_golden_files_mismatch(src, first_deploy, sshd, models, tmp_path, capsys):
    from edgecomp.cli import main

    board_dir = copy_board(first_deploy[0], tmp_path)
    before = snapshot(board_dir)
    good = compute_golden(load_packed(models["b"]))
    (tmp_path / "x.bin").write_bytes(good.input)
    (tmp_path / "y.bin").write_bytes(bytes(255 - v for v in good.expected))
    rc = main(["deploy", str(models["b"]), "--board", f"board:{board_dir}", "--runtime-src",
               str(src), "-F", str(sshd.config), "--golden-input", str(tmp_path / "x.bin"),
               "--golden-output", str(tmp_path / "y.bin")])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2
    assert any(line.startswith("MISMATCH: ") for line in err)  # the board's report, in full
    assert err[-1].startswith("edgecomp deploy: error: board: self-test mismatch")
    assert snapshot(board_dir) == before
    # The same board takes the model once the golden output is right.
    (tmp_path / "y.bin").write_bytes(good.expected)
    assert main(["deploy", str(models["b"]), "--board", f"board:{board_dir}", "--runtime-src",
                 str(src), "-F", str(sshd.config), "--golden-input", str(tmp_path / "x.bin"),
                 "--golden-output", str(tmp_path / "y.bin")]) == 0
    assert current_model(board_dir) == models["b"].read_bytes()


def test_build_failure_keeps_previous_model(src, first_deploy, ssh, models, tmp_path):
    board_dir = copy_board(first_deploy[0], tmp_path / "board")
    before = snapshot(board_dir)
    broken = tmp_path / "runtime"
    shutil.copytree(src, broken, ignore=shutil.ignore_patterns("build"))
    with open(broken / "cli" / "edgert_main.c", "a") as f:
        f.write("\nthis is not C;\n")
    with pytest.raises(BuildError, match=r"failed to build .*edgert_main.c:\d+:\d+: error"):
        deploy(models["b"], f"board:{board_dir}", ssh=ssh, runtime_src=broken)
    assert snapshot(board_dir) == before
    assert current_model(board_dir) == models["a"].read_bytes()


STALLING_SSH = r'''
import os, subprocess, sys, time
args = sys.argv[1:]
if "tar -x" not in args[-1]:
    os.execvp("ssh", ["ssh"] + args)
# The upload: pass on the first bytes, then hang as a slow link would, until killed.
proc = subprocess.Popen(["ssh"] + args, stdin=subprocess.PIPE)
limit, sent = int(os.environ["STALL_AFTER"]), 0
while sent < limit:
    chunk = sys.stdin.buffer.read(min(512, limit - sent))
    if not chunk:
        break
    proc.stdin.write(chunk)
    proc.stdin.flush()
    sent += len(chunk)
with open(os.environ["STALL_FLAG"], "w") as f:
    f.write(str(sent))
time.sleep(120)
'''


def test_deploy_killed_mid_upload_keeps_previous_model(src, first_deploy, sshd, ssh, models,
                                                       tmp_path):
    board_dir = copy_board(first_deploy[0], tmp_path)
    before = snapshot(board_dir)
    pm = load_packed(models["b"])
    # Stop in the middle of the model's bytes.
    payload = make_payload(pm, compute_golden(pm), None)
    stall_after = payload.index(pm.data) + len(pm.data) // 2
    wrapper, flag = tmp_path / "stalling_ssh.py", tmp_path / "stalled"
    wrapper.write_text(STALLING_SSH)
    env = dict(os.environ, STALL_AFTER=str(stall_after), STALL_FLAG=str(flag),
               PYTHONPATH=str(Path(__import__("edgecomp").__file__).parents[1]))
    cmd = [sys.executable, "-P", "-m", "edgecomp", "deploy", str(models["b"]),
           "--board", f"board:{board_dir}", "--runtime-src", str(src),
           "--ssh", f"{sys.executable} {wrapper}", "-F", str(sshd.config)]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    staging = board_dir / ".staging"
    deadline = time.monotonic() + 30
    # Kill once the bytes are sent and tar runs on the board (its staging dir exists).
    while not (flag.exists() and staging.is_dir() and any(staging.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, \
            f"the upload never started: {proc.communicate()}"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the deploy, the ssh wrapper and ssh itself
    proc.wait()
    # tar on the board sees the stream end, unpacks what it got and fails.
    partial = next(staging.iterdir()) / "model.ecm"
    deadline = time.monotonic() + 10
    while not partial.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 0 < partial.stat().st_size < len(pm.data)  # the upload really was cut short
    assert snapshot(board_dir) == before  # ...and nothing else changed
    assert current_model(board_dir) == models["a"].read_bytes()

    r = deploy(models["b"], f"board:{board_dir}", ssh=ssh, runtime_src=src)
    assert r.switched and r.previous == os.readlink(board_dir / "previous")
    assert current_model(board_dir) == models["b"].read_bytes()


# -- clear errors ------------------------------------------------------------------------------

def test_unreachable_host(src, ssh, models, tmp_path):
    with pytest.raises(HostUnreachableError, match="board-down: host unreachable"):
        deploy(models["a"], f"board-down:{tmp_path}/b", ssh=ssh, runtime_src=src)


def test_auth_refused(src, ssh, models, tmp_path):
    with pytest.raises(AuthRefusedError, match="authentication refused.*Permission denied"):
        deploy(models["a"], f"board-badkey:{tmp_path}/b", ssh=ssh, runtime_src=src)
    assert not (tmp_path / "b").exists()


def test_no_compiler_on_board(src, first_deploy, ssh, models, tmp_path):
    board_dir = copy_board(first_deploy[0], tmp_path)
    before = snapshot(board_dir)
    with pytest.raises(NoCompilerError, match="no C compiler on the board"):
        deploy(models["b"], f"board-nocc:{board_dir}", ssh=ssh, runtime_src=src)
    assert snapshot(board_dir) == before


def test_disk_full(src, ssh, models, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mount.stderr.strip()}")
    try:
        with pytest.raises(DiskFullError, match=r"disk full: \d+ KiB free"):
            deploy(models["a"], f"board:{mnt}/edgecomp", ssh=ssh, runtime_src=src)
        assert not (mnt / "edgecomp" / "current").exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_rollback_with_nothing_before(first_deploy, ssh, tmp_path):
    board_dir = copy_board(first_deploy[0], tmp_path)  # one deploy only: no previous
    with pytest.raises(NothingToRollBackError, match="no previous deployment"):
        rollback(f"board:{board_dir}", ssh=ssh)
    with pytest.raises(NothingToRollBackError, match="nothing is deployed"):
        rollback(f"board:{tmp_path}/never", ssh=ssh)


# -- the command line ---------------------------------------------------------------------------

def test_cli_hosts_file_deploys_in_parallel_with_result_table(src, first_deploy, sshd, models,
                                                              tmp_path, capsys):
    from edgecomp.cli import main

    # The second board's directory has a space: quoting on the way to the board.
    boards = [copy_board(first_deploy[0], tmp_path / name, runtime_only=True)
              for name in ("b0", "board 1")]
    hosts = tmp_path / "hosts"
    hosts.write_text(f"# two boards and one that is off\nboard:{boards[0]}\n"
                     f"board-down:{tmp_path}/off\n\nboard:{boards[1]}  # the other one\n")
    rc = main(["deploy", str(models["c"]), "--hosts", str(hosts), "--runtime-src",
               str(src), "-F", str(sshd.config)])
    out = capsys.readouterr().out
    assert rc == 1, out
    lines = out.splitlines()
    assert lines[0].split() == ["board", "result", "model", "runtime", "self-test", "current",
                                "time"]
    assert lines[1].startswith(f"board:{boards[0]} ") and " ok " in lines[1]
    assert "(cached)  passed" in lines[1]
    assert "board-down" in lines[2] and "FAILED" in lines[2]
    assert "HostUnreachableError" in lines[2]
    assert lines[3].startswith(f"board:{boards[1]} ") and " ok " in lines[3]
    assert lines[4] == "2 of 3 boards ok"
    for b in boards:
        assert current_model(b) == models["c"].read_bytes()


def test_cli_single_board_error_is_one_line(src, sshd, models, tmp_path, capsys):
    from edgecomp.cli import main

    rc = main(["deploy", str(models["a"]), "--board", f"board-badkey:{tmp_path}/x",
               "--runtime-src", str(src), "-F", str(sshd.config)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("edgecomp deploy: error: board-badkey: authentication refused")


def test_cli_rollback(src, first_deploy, sshd, ssh, models, tmp_path, capsys):
    from edgecomp.cli import main

    board_dir = copy_board(first_deploy[0], tmp_path)
    r = deploy(models["b"], f"board:{board_dir}", ssh=ssh, runtime_src=src)
    rc = main(["rollback", "--board", f"board:{board_dir}", "-F", str(sshd.config)])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"current -> {first_deploy[1].release}, previous -> {r.release}" in out
    assert current_model(board_dir) == models["a"].read_bytes()


def test_golden_vector_is_the_integer_reference(models):
    pm = load_packed(models["a"])
    g = compute_golden(pm)
    from edgecomp.exec_int import run_int

    x = np.frombuffer(g.input, np.int8).reshape(pm.model.input.shape)
    assert g.expected == run_int(pm.model, x)[pm.model.outputs[0]].tobytes()
    assert g == compute_golden(pm)  # deterministic per model
