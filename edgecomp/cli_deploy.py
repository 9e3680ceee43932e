"""`edgecomp deploy` and `edgecomp rollback` (registered by edgecomp/cli.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import EdgecompError


def _add_board_args(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--board", metavar="USER@HOST[:DIR]",
                       help="one board (DIR defaults to ~/edgecomp; host aliases, ports and "
                            "jump hosts come from ~/.ssh/config)")
    where.add_argument("--hosts", type=Path, metavar="FILE",
                       help="many boards, one USER@HOST[:DIR] per line, done in parallel")
    p.add_argument("--jobs", type=int, default=8, help="boards at a time with --hosts")
    p.add_argument("--ssh", metavar="CMD",
                   help="ssh program and arguments (default: $EDGECOMP_SSH or ssh)")
    p.add_argument("-F", dest="ssh_config", metavar="FILE", help="ssh config file (ssh -F)")
    p.add_argument("-o", dest="ssh_options", action="append", default=[], metavar="OPTION",
                   help="ssh option (ssh -o), repeatable, e.g. -o Port=2222")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "deploy", help="copy a model and the C runtime to boards over SSH, build, self-test, "
        "switch atomically")
    p.add_argument("model", type=Path)
    _add_board_args(p)
    p.add_argument("--runtime-src", type=Path, metavar="DIR",
                   help="the C runtime sources (default: $EDGECOMP_RUNTIME_SRC, the package, "
                        "or runtime/ of the source checkout)")
    p.add_argument("--golden-input", type=Path, metavar="FILE",
                   help="self-test input, raw int8 (default: random, seeded by the model)")
    p.add_argument("--golden-output", type=Path, metavar="FILE",
                   help="expected output 0 for --golden-input, raw int8 (default: computed "
                        "on the host by the integer reference)")
    p.set_defaults(func=cmd_deploy)

    p = subparsers.add_parser(
        "rollback", help="make the previous deployment on boards current again")
    _add_board_args(p)
    p.set_defaults(func=cmd_rollback)


def _ssh(a):
    from .deploy import Ssh

    opts = (["-F", str(a.ssh_config)] if a.ssh_config else [])
    for o in a.ssh_options:
        opts += ["-o", o]
    return Ssh(a.ssh, opts) if a.ssh else Ssh(options=opts)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _boards(a):
    from .deploy import parse_board, read_hosts_file

    if a.jobs < 1:
        raise EdgecompError(f"--jobs {a.jobs}: must be at least 1")
    return [parse_board(a.board)] if a.board else read_hosts_file(a.hosts)


def _golden(a):
    if (a.golden_input is None) != (a.golden_output is None):
        raise EdgecompError("--golden-input and --golden-output go together")
    return (a.golden_input, a.golden_output) if a.golden_input else None


def cmd_deploy(a) -> int:
    from .deploy import DeployError, deploy, deploy_many
    from .deploy.fleet import DEPLOY_HEADER, format_table, locked_printer

    boards, golden, ssh = _boards(a), _golden(a), _ssh(a)
    if a.board:
        board = boards[0]
        try:
            r = deploy(a.model, board, ssh=ssh, runtime_src=a.runtime_src, golden=golden,
                       log=lambda s: _err(f"{board.destination}: {s}"))
        except DeployError as e:
            if e.detail:
                _err(e.detail)  # the build log tail or the self-test output
            raise
        print(f"deployed {a.model.name} (sha256 {r.model_sha256[:12]}) to {board}: runtime "
              f"{r.runtime_id} ({'built' if r.built else 'already built'}), self-test "
              f"{r.selftest}, current -> {r.release}"
              + ("" if r.switched else " (already current)")
              + (f", previous -> {r.previous}" if r.previous else ""))
        return 0
    outcomes = deploy_many(a.model, boards, ssh=ssh, runtime_src=a.runtime_src, golden=golden,
                           jobs=a.jobs, log_for=locked_printer(_err))
    print(format_table(outcomes, DEPLOY_HEADER))
    return 0 if all(o.ok for o in outcomes) else 1


def cmd_rollback(a) -> int:
    from .deploy import rollback, rollback_many
    from .deploy.fleet import ROLLBACK_HEADER, format_table

    boards, ssh = _boards(a), _ssh(a)
    if a.board:
        r = rollback(boards[0], ssh=ssh)
        print(f"rolled back {boards[0]}: current -> {r.current}, previous -> {r.previous}")
        return 0
    outcomes = rollback_many(boards, ssh=ssh, jobs=a.jobs)
    print(format_table(outcomes, ROLLBACK_HEADER))
    return 0 if all(o.ok for o in outcomes) else 1
