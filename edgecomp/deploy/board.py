"""Deploy to one board and roll one board back: probe, upload, install (build, self-test,
switch) as three ssh calls; the scripts in scripts.py do the work on the board."""
from __future__ import annotations

import hashlib
import re
import secrets
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable

from . import scripts
from .errors import (BuildError, DeployError, DiskFullError, MissingToolError, NoCompilerError,
                     NothingToRollBackError, RemoteError, SelfTestError)
from .golden import Golden, PackedModel
from .payload import make_payload
from .sources import MAKE_TARGET, RuntimeSources
from .ssh import Ssh
from .target import Board

Log = Callable[[str], None]

# Room a build needs beyond its sources (objects, library, binary), with margin.
BUILD_KB = 8 * 1024
MARGIN_KB = 1024

_EXIT_ERRORS: dict[int, type[DeployError]] = {
    scripts.EXIT_NO_COMPILER: NoCompilerError, scripts.EXIT_NO_TOOL: MissingToolError,
    scripts.EXIT_DISK_FULL: DiskFullError, scripts.EXIT_BUILD: BuildError,
    scripts.EXIT_SELFTEST: SelfTestError,
    scripts.EXIT_NOTHING_TO_ROLL_BACK: NothingToRollBackError, 127: MissingToolError,
}


@dataclass
class Probe:
    values: dict[str, str]
    built: set[str] = field(default_factory=set)

    def __getitem__(self, key: str) -> str:
        return self.values.get(key, "")


@dataclass
class DeployResult:
    board: Board
    board_dir: str      # absolute path on the board
    model_sha256: str
    runtime_id: str
    built: bool         # False: the same build was already on the board
    release: str        # releases/... now pointed to by `current`
    switched: bool      # False: it was already current
    previous: str       # what `previous` points to ("" for a first deploy)
    selftest: str       # "passed" (anything else raises)
    seconds: float


@dataclass
class RollbackResult:
    board: Board
    current: str
    previous: str


def _parse(stdout: str) -> Probe:
    probe = Probe({})
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "built":
            probe.built.add(value)
        else:
            probe.values[key] = value
    return probe


# "error:" with the colon: compiler command lines carry -Werror.
_KEY = re.compile(r"MISMATCH|\berror:|fatal|undefined reference|No space left|not found|"
                  r"denied", re.IGNORECASE)


def _key_line(detail: str) -> str:
    """The line of board output that says most: edgert's MISMATCH report, the compiler's
    first error; else the last line."""
    lines = [ln.strip() for ln in detail.splitlines() if ln.strip()]
    return next((ln for ln in lines if _KEY.search(ln)), lines[-1])


def remote_failure(board: Board, step: str, proc: subprocess.CompletedProcess) -> DeployError:
    """The error for a board-side failure: the script's own message, plus the output that
    explains it (build log tail, self-test output) as the error's ``detail``."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    ours = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("edgecomp-board:")]
    detail = "\n".join(ln for ln in lines if not ln.startswith("edgecomp-board:"))
    if "No space left on device" in proc.stderr:
        cls = DiskFullError
        msg = f"disk full on the board during the {step}"
    else:
        cls = _EXIT_ERRORS.get(proc.returncode, RemoteError)
        msg = ours[-1] if ours else f"the {step} failed on the board (exit status " \
                                    f"{proc.returncode})"
    err = cls(f"{board.destination}: {msg}" + (f" ({_key_line(detail)})" if detail else ""))
    err.detail = detail
    return err


def _script(ssh: Ssh, board: Board, script: str, *args: str) -> subprocess.CompletedProcess:
    return ssh.run(board, ["sh", "-s", "--", *args], stdin=script.encode())


def probe_board(ssh: Ssh, board: Board) -> Probe:
    proc = _script(ssh, board, scripts.PROBE, board.directory)
    if proc.returncode != 0:
        raise remote_failure(board, "probe", proc)
    return _parse(proc.stdout)


def runtime_build_id(sources: RuntimeSources, probe: Probe) -> str:
    """Same sources + same compiler on the same machine type = same build: skip it."""
    key = "\n".join([sources.digest, probe["cc_path"], probe["cc_version"],
                     probe["cc_machine"], probe["arch"]])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _check_tools(board: Board, probe: Probe) -> None:
    if not probe["cc"]:
        raise NoCompilerError(
            f"{board.destination}: no C compiler on the board ($CC, cc, gcc and clang are not "
            f"in the PATH of an ssh session); install one, e.g. `sudo apt install gcc make`")
    for tool in ("make", "tar"):
        if not probe[tool]:
            raise MissingToolError(f"{board.destination}: no `{tool}` on the board (not in "
                                   f"the PATH of an ssh session); install it")


def _check_space(board: Board, probe: Probe, payload_bytes: int, build: bool) -> None:
    try:
        avail = int(probe["avail_kb"])
    except ValueError:
        return  # df gave nothing usable: ENOSPC, if it happens, is still reported
    need = 2 * payload_bytes // 1024 + MARGIN_KB + (BUILD_KB if build else 0)
    if avail < need:
        raise DiskFullError(f"{board.destination}: disk full: {avail} KiB free in "
                            f"{probe['dir']}, the deploy needs about {need} KiB")


def _upload(ssh: Ssh, board: Board, token: str, payload: bytes) -> None:
    proc = ssh.run(board, ["sh", "-c", scripts.UPLOAD, "sh", board.directory, token],
                   stdin=payload)
    if proc.returncode != 0:
        err = remote_failure(board, "upload", proc)
        try:  # best effort: do not leave the partial upload behind
            ssh.run(board, ["sh", "-c", scripts.DISCARD, "sh", board.directory, token],
                    timeout=30)
        except DeployError:
            pass
        raise err


def deploy_to_board(pm: PackedModel, golden: Golden, sources: RuntimeSources, board: Board,
                    ssh: Ssh, log: Log = lambda s: None) -> DeployResult:
    """Deploy one packed model to one board; raise a DeployError subclass on any failure,
    in which case the board's active release is the one it had before."""
    t0 = time.monotonic()
    probe = probe_board(ssh, board)
    _check_tools(board, probe)
    build_id = runtime_build_id(sources, probe)
    build = build_id not in probe.built
    payload = make_payload(pm, golden, sources if build else None)
    _check_space(board, probe, len(payload), build)
    log(f"{probe['arch']}, {probe['cc_version'] or probe['cc']}; runtime {build_id} "
        f"{'needs a build' if build else 'already built'}; uploading "
        f"{(len(payload) + 1023) // 1024} KiB to {probe['dir']}")
    token = secrets.token_hex(8)
    _upload(ssh, board, token, payload)
    release = f"{pm.sha256[:12]}-{build_id}"
    log("installing" + (" (building the runtime)" if build else "") + " and self-testing")
    proc = _script(ssh, board, scripts.INSTALL, board.directory, token, build_id, probe["cc"],
                   release, pm.sha256, pm.path.name, MAKE_TARGET)
    if proc.returncode != 0:
        raise remote_failure(board, "install", proc)
    out = _parse(proc.stdout)
    if out["selftest"] != "passed":  # exit 0 must mean the script reached the self-test
        raise RemoteError(f"{board.destination}: the install finished without a self-test "
                          f"result; board output: {shlex.quote(proc.stdout[-200:])}")
    return DeployResult(board, probe["dir"], pm.sha256, build_id, out["runtime_built"] == "1",
                        out["current"], out["switched"] == "1", out["previous"],
                        out["selftest"], time.monotonic() - t0)


def rollback_board(board: Board, ssh: Ssh) -> RollbackResult:
    """Make `previous` current again (after re-running its self-test); `previous` then
    points at what was current, so a second rollback undoes the first."""
    proc = _script(ssh, board, scripts.ROLLBACK, board.directory, secrets.token_hex(8))
    if proc.returncode != 0:
        raise remote_failure(board, "rollback", proc)
    out = _parse(proc.stdout)
    return RollbackResult(board, out["current"], out["previous"])
