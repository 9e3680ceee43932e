"""The C runtime sources that get built on the board: where they are and what they hash to.

A source checkout has them in runtime/ next to the edgecomp package; an installed package may
not, so --runtime-src (or EDGECOMP_RUNTIME_SRC) can point at them.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DeployError

# The whole runtime tree goes to the board (the Makefile's object rule also depends on headers
# under tests/), minus build outputs, which are never shipped.
MAKE_TARGET = "cli"  # runtime/Makefile: the standalone CLI, build/native/edgert
SKIP_DIRS = {"__pycache__", ".git"}
SKIP_SUFFIXES = (".o", ".a", ".so", ".d", ".pyc", ".swp", "~")


@dataclass(frozen=True)
class RuntimeSources:
    root: Path
    files: tuple[str, ...]  # relative POSIX paths, sorted
    digest: str             # sha256 over paths and contents


def _candidates(explicit: str | Path | None) -> list[tuple[Path, str]]:
    if explicit is not None:
        return [(Path(explicit), "--runtime-src")]
    found = []
    env = os.environ.get("EDGECOMP_RUNTIME_SRC")
    if env:
        found.append((Path(env), "EDGECOMP_RUNTIME_SRC"))
    package = Path(__file__).resolve().parents[1]
    found.append((package / "runtime_src", "the installed package"))
    found.append((package.parent / "runtime", "the source checkout"))
    return found


def _walk(root: Path) -> list[str]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        top = Path(dirpath) == root
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                       and not (top and d.startswith("build"))]
        for name in filenames:
            if not name.endswith(SKIP_SUFFIXES) and not name.startswith("."):
                files.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(files)


def hash_files(root: Path, files: list[str] | tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for rel in files:
        data = (root / rel).read_bytes()
        # Length-prefixed so that moving bytes between a name and a body changes the hash.
        h.update(f"{len(rel)}:{rel}:{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()


def find_runtime_sources(explicit: str | Path | None = None) -> RuntimeSources:
    """The runtime source tree with a Makefile, from the first place that has one."""
    tried = []
    for root, origin in _candidates(explicit):
        if (root / "Makefile").is_file():
            files = _walk(root)
            return RuntimeSources(root.resolve(), tuple(files), hash_files(root, files))
        tried.append(f"{root} ({origin})")
    raise DeployError("cannot find the C runtime sources (a directory with a Makefile): "
                      f"tried {', '.join(tried)}; pass --runtime-src DIR")
