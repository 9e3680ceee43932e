"""Byte progress for transfers: a rich bar on a terminal, nothing otherwise (pipes, CI, tests)."""
from __future__ import annotations

import sys


class TransferProgress:
    def __init__(self, total: int, description: str, enabled: bool = True):
        self.total, self.description = total, description
        self.enabled = enabled and sys.stderr.isatty()
        self._bar = None

    def __enter__(self) -> "TransferProgress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                       TimeRemainingColumn, TransferSpeedColumn)
            # stderr: stdout carries the report (and JSON) a script may parse
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
                                 console=Console(file=sys.stderr))
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total)
        return self

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
