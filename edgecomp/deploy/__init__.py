"""`edgecomp deploy` / `edgecomp rollback`: put a packed model and the C runtime on boards over
SSH, build the runtime there, self-test bit for bit against the host, switch atomically.

    from edgecomp.deploy import deploy, rollback
    result = deploy("resnet.ecm", "nvidia@jetson.local")
    rollback("nvidia@jetson.local")

See docs/deploy.md for the board layout and the guarantees.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .board import DeployResult, RollbackResult, deploy_to_board, rollback_board
from .errors import (AuthRefusedError, BuildError, DeployError, DiskFullError, HostKeyError,
                     HostUnreachableError, MissingToolError, NoCompilerError,
                     NothingToRollBackError, RemoteError, SelfTestError, SshError, TargetError)
from .fleet import Outcome, run_parallel
from .golden import Golden, compute_golden, golden_from_files, load_packed
from .sources import find_runtime_sources
from .ssh import Ssh
from .target import Board, parse_board, read_hosts_file

__all__ = [
    "AuthRefusedError", "Board", "BuildError", "DeployError", "DeployResult", "DiskFullError",
    "Golden", "HostKeyError", "HostUnreachableError", "MissingToolError", "NoCompilerError",
    "NothingToRollBackError", "Outcome", "RemoteError", "RollbackResult", "SelfTestError",
    "Ssh", "SshError", "TargetError", "deploy", "deploy_many", "parse_board",
    "read_hosts_file", "rollback", "rollback_many",
]

Log = Callable[[str], None]


def _board(b: Board | str) -> Board:
    return b if isinstance(b, Board) else parse_board(b)


def _prepare(model: str | Path, golden: Golden | tuple[Path, Path] | None,
             runtime_src: str | Path | None):
    pm = load_packed(model)
    if golden is None:
        golden = compute_golden(pm)
    elif not isinstance(golden, Golden):
        golden = golden_from_files(pm, *golden)
    return pm, golden, find_runtime_sources(runtime_src)


def deploy(model: str | Path, board: Board | str, *, ssh: Ssh | None = None,
           runtime_src: str | Path | None = None,
           golden: Golden | tuple[Path, Path] | None = None,
           log: Log = lambda s: None) -> DeployResult:
    """Deploy one model to one board. golden: the self-test vector (default: a random input
    and the host's integer reference output for it), or (input.bin, expected.bin) files."""
    pm, g, sources = _prepare(model, golden, runtime_src)
    return deploy_to_board(pm, g, sources, _board(board), ssh or Ssh(), log)


def deploy_many(model: str | Path, boards: list[Board | str], *, ssh: Ssh | None = None,
                runtime_src: str | Path | None = None,
                golden: Golden | tuple[Path, Path] | None = None, jobs: int = 8,
                log_for: Callable[[Board], Log] = lambda b: (lambda s: None)) -> list[Outcome]:
    """Deploy to every board in parallel; the model, golden vector and sources are prepared
    once. Returns one Outcome per board, in order."""
    pm, g, sources = _prepare(model, golden, runtime_src)
    ssh = ssh or Ssh()
    return run_parallel([_board(b) for b in boards],
                        lambda b: deploy_to_board(pm, g, sources, b, ssh, log_for(b)), jobs)


def rollback(board: Board | str, *, ssh: Ssh | None = None) -> RollbackResult:
    return rollback_board(_board(board), ssh or Ssh())


def rollback_many(boards: list[Board | str], *, ssh: Ssh | None = None,
                  jobs: int = 8) -> list[Outcome]:
    ssh = ssh or Ssh()
    return run_parallel([_board(b) for b in boards], lambda b: rollback_board(b, ssh), jobs)
