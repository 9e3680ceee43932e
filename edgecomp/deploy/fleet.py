"""Many boards at once: one thread per board (the work is ssh and the boards' compilers),
every board gets its outcome, one failing never stops the others."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, TypeVar

from ..errors import EdgecompError
from .board import DeployResult, RollbackResult
from .target import Board

R = TypeVar("R")


@dataclass
class Outcome:
    board: Board
    result: DeployResult | RollbackResult | None
    error: Exception | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def run_parallel(boards: list[Board], work: Callable[[Board], R], jobs: int) -> list[Outcome]:
    """work(board) on every board, at most `jobs` at a time; outcomes in the boards' order."""
    def one(board: Board) -> Outcome:
        t0 = time.monotonic()
        try:
            return Outcome(board, work(board), None, time.monotonic() - t0)
        except (EdgecompError, OSError) as e:
            return Outcome(board, None, e, time.monotonic() - t0)
        except Exception as e:  # a bug must not hide the other boards' results
            return Outcome(board, None, RuntimeError(f"internal error: {e!r}"),
                           time.monotonic() - t0)

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(boards)))) as pool:
        return list(pool.map(one, boards))


def locked_printer(write: Callable[[str], None]) -> Callable[[Board], Callable[[str], None]]:
    """Per-board loggers that prefix lines with the board and never interleave them."""
    lock = threading.Lock()

    def for_board(board: Board) -> Callable[[str], None]:
        def log(msg: str) -> None:
            with lock:
                write(f"{board}: {msg}")
        return log
    return for_board


def _row(o: Outcome) -> list[str]:
    r = o.result
    if isinstance(r, DeployResult):
        return [str(o.board), "ok", r.model_sha256[:12],
                f"{r.runtime_id} ({'built' if r.built else 'cached'})", r.selftest,
                r.release if r.switched else f"{r.release} (unchanged)", f"{o.seconds:.1f}s"]
    if isinstance(r, RollbackResult):
        return [str(o.board), "ok", r.current, r.previous, f"{o.seconds:.1f}s"]
    return [str(o.board), "FAILED", f"{type(o.error).__name__}: {o.error}"]


def format_table(outcomes: list[Outcome], header: list[str]) -> str:
    """A plain text table; a failed board's error takes the place of the columns after
    'result'."""
    rows = [header] + [_row(o) for o in outcomes]
    widths = [max(len(r[i]) for r in rows if i < len(r) - 1) for i in range(len(header) - 1)]
    lines = ["  ".join([c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1]]).rstrip()
             for r in rows]
    lines.append(f"{sum(o.ok for o in outcomes)} of {len(outcomes)} boards ok")
    return "\n".join(lines)


DEPLOY_HEADER = ["board", "result", "model", "runtime", "self-test", "current", "time"]
ROLLBACK_HEADER = ["board", "result", "current", "previous", "time"]
