"""Boards: `user@host[:dir]` strings and --hosts files."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import TargetError

DEFAULT_DIR = "edgecomp"  # relative to the remote user's home (where ssh commands start)

# user@host, host, user@[v6addr]; the part after the first ':' outside brackets is the dir.
_BOARD = re.compile(r"^(?P<dest>(?:[^@\s:\[\]]+@)?(?:\[[0-9A-Za-z:.%_-]+\]|[^@\s:\[\]]+))"
                    r"(?::(?P<dir>.*))?$")


@dataclass(frozen=True)
class Board:
    destination: str  # what ssh gets: an alias of ~/.ssh/config, host or user@host
    directory: str = DEFAULT_DIR

    def __str__(self) -> str:
        return f"{self.destination}:{self.directory}"


def _remote_dir(raw: str, spec: str) -> str:
    d = raw.strip() or DEFAULT_DIR
    if d == "~":
        raise TargetError(f"board {spec!r}: the home directory itself cannot be the target; "
                          f"name a directory, e.g. {spec.split(':')[0]}:~/edgecomp")
    if d.startswith("~/"):
        d = d[2:]  # ssh commands start in the home directory: relative means the same
    elif d.startswith("~"):
        raise TargetError(f"board {spec!r}: ~user paths are not supported; use an absolute "
                          f"path")
    if "\n" in d or "\0" in d:
        raise TargetError(f"board {spec!r}: the directory contains a newline or NUL")
    return d.rstrip("/") or "/"


def parse_board(spec: str) -> Board:
    """`user@host[:dir]` (dir defaults to ~/edgecomp). Host names are ssh's: aliases from
    ~/.ssh/config work, ports and jump hosts come from there."""
    spec = spec.strip()
    m = _BOARD.match(spec)
    if not m:
        raise TargetError(f"board {spec!r}: expected user@host[:dir]")
    dest = m.group("dest")
    host = dest.rsplit("@", 1)[-1]
    if host.startswith("-") or dest.startswith("-"):
        # ssh would read it as an option (for example -oProxyCommand=...).
        raise TargetError(f"board {spec!r}: a host name cannot start with '-'")
    # ssh takes a bare IPv6 address; the brackets only separate it from the dir here.
    dest = dest.replace("[", "").replace("]", "")
    return Board(dest, _remote_dir(m.group("dir") or "", spec))


def read_hosts_file(path: str | Path) -> list[Board]:
    """One board per line; blank lines and '#' comments are ignored."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise TargetError(f"--hosts {path}: {e.strerror or e}") from None
    boards: list[Board] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            board = parse_board(line)
        except TargetError as e:
            raise TargetError(f"{path}:{n}: {e}") from None
        if board in boards:
            raise TargetError(f"{path}:{n}: board {board} is listed twice")
        boards.append(board)
    if not boards:
        raise TargetError(f"--hosts {path}: no boards listed")
    return boards
