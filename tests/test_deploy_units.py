"""The deploy pieces that need no ssh server: board parsing, error classification, hashing,
the upload payload, the result table, the command line's argument checks."""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from edgecomp.deploy import (AuthRefusedError, BuildError, DiskFullError, HostKeyError,
                             HostUnreachableError, NothingToRollBackError, SelfTestError,
                             SshError, TargetError)
from edgecomp.deploy.board import DeployResult, Probe, remote_failure, runtime_build_id
from edgecomp.deploy.errors import DeployError
from edgecomp.deploy.fleet import DEPLOY_HEADER, Outcome, format_table, run_parallel
from edgecomp.deploy.golden import compute_golden, golden_from_files, load_packed
from edgecomp.deploy.payload import make_payload
from edgecomp.deploy.sources import find_runtime_sources
from edgecomp.deploy.ssh import Ssh, ssh_failure
from edgecomp.deploy.target import Board, parse_board, read_hosts_file
from edgecomp.errors import FormatError
from edgecomp.packed import write_ecm
from edgecomp.testing.random_qmodels import random_qmodel

BOARD = Board("nvidia@jetson", "edgecomp")


@pytest.mark.parametrize("spec, dest, directory", [
    ("nvidia@jetson.local", "nvidia@jetson.local", "edgecomp"),
    ("jetson", "jetson", "edgecomp"),
    ("nvidia@jetson:/opt/models/", "nvidia@jetson", "/opt/models"),
    ("nvidia@jetson:~/deploy", "nvidia@jetson", "deploy"),
    ("nvidia@jetson:", "nvidia@jetson", "edgecomp"),
    ("root@[fe80::1%eth0]:/srv", "root@fe80::1%eth0", "/srv"),
    ("  board-alias:rel/dir  ", "board-alias", "rel/dir"),
])
def test_parse_board(spec, dest, directory):
    assert parse_board(spec) == Board(dest, directory)


@pytest.mark.parametrize("spec, message", [
    ("-oProxyCommand=evil", "cannot start with '-'"),
    ("user@-oProxyCommand=x", "cannot start with '-'"),
    ("host:~", "home directory itself"),
    ("host:~bob/x", "~user paths"),
    ("", "expected user@host"),
    ("a b@c", "expected user@host"),
])
def test_parse_board_rejects(spec, message):
    with pytest.raises(TargetError, match=message):
        parse_board(spec)


def test_hosts_file(tmp_path):
    f = tmp_path / "hosts"
    f.write_text("# fleet\nnvidia@a\n\n  nvidia@b:/opt/x  # lab\n")
    assert read_hosts_file(f) == [Board("nvidia@a", "edgecomp"), Board("nvidia@b", "/opt/x")]
    f.write_text("nvidia@a\nnvidia@a:edgecomp\n")
    with pytest.raises(TargetError, match=r"hosts:2: board nvidia@a:edgecomp is listed twice"):
        read_hosts_file(f)
    f.write_text("ok@a\n-bad\n")
    with pytest.raises(TargetError, match=r"hosts:2: .*cannot start with '-'"):
        read_hosts_file(f)
    f.write_text("# nothing\n")
    with pytest.raises(TargetError, match="no boards listed"):
        read_hosts_file(f)
    with pytest.raises(TargetError, match="No such file"):
        read_hosts_file(tmp_path / "missing")


@pytest.mark.parametrize("stderr, cls, text", [
    ("ssh: connect to host 10.0.0.9 port 22: Connection refused\r\n", HostUnreachableError,
     "host unreachable (ssh: connect"),
    ("ssh: Could not resolve hostname nope: Name or service not known", HostUnreachableError,
     "host unreachable"),
    ("ssh: connect to host 10.1.1.1 port 22: Connection timed out", HostUnreachableError,
     "timed out"),
    ("nvidia@jetson: Permission denied (publickey,password).", AuthRefusedError,
     "authentication refused"),
    ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.",
     HostKeyError, "host key verification failed"),
    ("mux_client_request_session: read from master failed", SshError, "ssh failed"),
])
def test_ssh_failure_classification(stderr, cls, text):
    err = ssh_failure(BOARD, stderr)
    assert type(err) is cls
    assert str(err).startswith("nvidia@jetson: ") and text in str(err)


def test_user_ssh_options_come_before_defaults():
    argv = Ssh("ssh -q", ["-F", "cfg", "-o", "BatchMode=no"]).argv(BOARD, "true")
    assert argv[:5] == ["ssh", "-q", "-F", "cfg", "-o"]
    # ssh keeps the first value of an option: the user's BatchMode=no beats the default.
    assert argv.index("BatchMode=no") < argv.index("BatchMode=yes")
    assert argv[-3:] == ["--", "nvidia@jetson", "true"]


def test_missing_ssh_program_is_a_clear_error():
    with pytest.raises(SshError, match="cannot run the ssh client"):
        Ssh("/nonexistent/ssh").run(BOARD, ["true"])


def _proc(rc: int, stderr: str) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([], rc, "", stderr)


def test_remote_failure_mapping():
    err = remote_failure(BOARD, "install", _proc(14, "MISMATCH: 3 of 10 bytes differ\n"
                                                     "run: 0.1 ms\nedgecomp-board: self-test "
                                                     "mismatch: the board's output differs"))
    assert isinstance(err, SelfTestError)
    assert str(err) == ("nvidia@jetson: self-test mismatch: the board's output differs "
                        "(MISMATCH: 3 of 10 bytes differ)")
    assert "MISMATCH: 3 of 10" in err.detail
    # ENOSPC anywhere (tar, the compiler, cp) is a full disk, whatever the exit status.
    err = remote_failure(BOARD, "upload", _proc(2, "tar: model.ecm: Cannot write: No space "
                                                   "left on device\ntar: Exiting with failure"))
    assert isinstance(err, DiskFullError) and "disk full on the board during the upload" in \
        str(err)
    assert isinstance(remote_failure(BOARD, "rollback", _proc(19, "edgecomp-board: no prev")),
                      NothingToRollBackError)
    err = remote_failure(BOARD, "install", _proc(13, "cc -c src/a.c\nsrc/a.c:3:1: error: "
                                                     "expected ';'\nmake: *** [a.o] Error 1\n"
                                                     "edgecomp-board: the runtime failed"))
    assert isinstance(err, BuildError)
    assert str(err).endswith("the runtime failed (src/a.c:3:1: error: expected ';')")
    err = remote_failure(BOARD, "probe", _proc(1, ""))
    assert type(err) is not DeployError and "the probe failed on the board (exit status 1)" \
        in str(err)


def test_build_id_follows_sources_and_compiler(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "Makefile").write_text("all:\n")
    (tmp_path / "src" / "a.c").write_text("int a;\n")
    (tmp_path / "build" / "native").mkdir(parents=True)
    (tmp_path / "build" / "native" / "a.o").write_bytes(b"\x7fELF")
    (tmp_path / "src" / "old.o").write_bytes(b"\x7fELF")
    s1 = find_runtime_sources(tmp_path)
    assert s1.files == ("Makefile", "src/a.c")  # build outputs are never shipped
    probe = Probe({"cc_path": "/usr/bin/cc", "cc_version": "cc (Ubuntu 11.4.0) 11.4.0",
                   "cc_machine": "aarch64-linux-gnu", "arch": "aarch64"})
    first = runtime_build_id(s1, probe)
    assert runtime_build_id(find_runtime_sources(tmp_path), probe) == first
    (tmp_path / "src" / "a.c").write_text("int a = 1;\n")
    assert runtime_build_id(find_runtime_sources(tmp_path), probe) != first
    (tmp_path / "src" / "a.c").write_text("int a;\n")
    probe.values["cc_version"] = "cc (Ubuntu 12.3.0) 12.3.0"
    assert runtime_build_id(find_runtime_sources(tmp_path), probe) != first


def test_missing_runtime_sources(tmp_path):
    with pytest.raises(DeployError, match=r"cannot find the C runtime sources.*--runtime-src"):
        find_runtime_sources(tmp_path)


@pytest.fixture
def model_file(tmp_path) -> Path:
    p = tmp_path / "m.ecm"
    p.write_bytes(write_ecm(random_qmodel(5)))
    return p


def test_payload_members(model_file):
    pm = load_packed(model_file)
    g = compute_golden(pm)
    sources = find_runtime_sources(Path(__file__).resolve().parents[1] / "runtime")
    with tarfile.open(fileobj=io.BytesIO(make_payload(pm, g, sources))) as tar:
        names = tar.getnames()
        assert tar.extractfile("model.ecm").read() == pm.data
        assert tar.extractfile("selftest/expected.bin").read() == g.expected
    assert names[-1] == "model.ecm"
    assert "runtime-src/Makefile" in names
    assert {f"runtime-src/{f}" for f in sources.files} <= set(names)
    with tarfile.open(fileobj=io.BytesIO(make_payload(pm, g, None))) as tar:
        assert sorted(tar.getnames()) == ["model.ecm", "selftest/expected.bin",
                                          "selftest/input.bin"]


def test_golden_files_are_checked(model_file, tmp_path):
    pm = load_packed(model_file)
    good = compute_golden(pm)
    (tmp_path / "x.bin").write_bytes(good.input)
    (tmp_path / "y.bin").write_bytes(good.expected)
    assert golden_from_files(pm, tmp_path / "x.bin", tmp_path / "y.bin").expected == \
        good.expected
    (tmp_path / "y.bin").write_bytes(good.expected + b"\0")
    with pytest.raises(DeployError, match=rf"y.bin: {len(good.expected) + 1} bytes, the "
                                          rf"output tensor '.*' of m.ecm has "
                                          rf"{len(good.expected)}"):
        golden_from_files(pm, tmp_path / "x.bin", tmp_path / "y.bin")


def test_corrupt_model_never_leaves_the_host(model_file):
    data = bytearray(model_file.read_bytes())
    data[100] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(FormatError):
        load_packed(model_file)


def test_result_table_and_isolation():
    ok = DeployResult(Board("a", "edgecomp"), "/home/a/edgecomp", "ab" * 32, "0123456789abcdef",
                      True, "releases/abababababab-0123456789abcdef", True, "", "passed", 1.0)

    def work(board):
        if board.destination == "b":
            raise HostUnreachableError("b: host unreachable (Connection refused)")
        if board.destination == "c":
            raise ValueError("a bug")
        return ok

    outcomes = run_parallel([Board("a"), Board("b"), Board("c")], work, jobs=3)
    assert [o.ok for o in outcomes] == [True, False, False]
    assert "internal error" in str(outcomes[2].error)
    table = format_table(outcomes, DEPLOY_HEADER).splitlines()
    assert table[0].split() == DEPLOY_HEADER
    assert table[1].split()[:5] == ["a:edgecomp", "ok", "abababababab",
                                    "0123456789abcdef", "(built)"]
    assert table[2].startswith("b:edgecomp  FAILED") and "Connection refused" in table[2]
    assert table[-1] == "1 of 3 boards ok"
    assert isinstance(outcomes[1], Outcome)


def test_cli_argument_errors(model_file, capsys):
    from edgecomp.cli import main

    assert main(["deploy", str(model_file), "--board", "x", "--golden-input", "a.bin"]) == 2
    assert "--golden-input and --golden-output go together" in capsys.readouterr().err
    assert main(["deploy", str(model_file), "--board=-oProxyCommand=x"]) == 2
    assert "cannot start with '-'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --board or --hosts is required
        main(["rollback"])


@pytest.mark.parametrize("name", ["INSTALL", "ROLLBACK", "PROBE"])
def test_board_script_cut_short_runs_nothing(name, tmp_path):
    """A script truncated in transit must be a syntax error, not half a script."""
    from edgecomp.deploy import scripts

    text = getattr(scripts, name)
    board = tmp_path / "board"
    for cut in (len(text) // 3, len(text) // 2, len(text) - len('main "$@" </dev/null\n')):
        proc = subprocess.run(["sh", "-s", "--", str(board), "tok", "id", "cc", "rel", "sha",
                               "m.ecm", "cli"], input=text[:cut].encode(),
                              capture_output=True, timeout=10)
        assert proc.returncode != 0 or proc.stdout == b"", (cut, proc)
        assert not board.exists(), f"{name} cut at {cut} of {len(text)} ran commands"
