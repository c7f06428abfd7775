"""Progress of long work: a Rich bar on a terminal, nothing otherwise; log lines for exports.

* :func:`progress_bar` -- for the CLI (``invoicing process``, ``invoicing publish``): count,
  rate and ETA on stderr while stderr is a terminal; a no-op when it is not (pipes, CI, cron),
  so scripted output stays exactly the events.
* :class:`ProgressLog` -- for long loops inside workers (exports): one ``<name>.progress`` log
  line every ``every_s`` seconds with the count so far.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog


def count_lines(path: str) -> int | None:
    """Non-empty lines of a regular file (the bar's total); None for stdin and pipes."""
    if path == "-":
        return None
    p = Path(path)
    if not p.is_file():
        return None
    with p.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


@contextmanager
def progress_bar(
    description: str, total: int | None, *, unit: str = "lines", enabled: bool | None = None
) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; draws on stderr only when it is a terminal."""
    on = sys.stderr.isatty() if enabled is None else enabled
    if not on:

        def nothing(n: int = 1) -> None:
            return None

        yield nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [TextColumn("[progress.description]{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    else:
        columns += [TextColumn("{task.completed} " + unit)]
    columns += [
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    ]
    if total is not None:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    started = time.monotonic()
    # stdout redirected through the bar's console only when both are the same terminal: events
    # sent to a file or a pipe stay on stdout, byte for byte
    with Progress(
        *columns,
        console=Console(stderr=True),
        transient=False,
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
    ) as progress:
        task = progress.add_task(description, total=total, rate="")

        def advance(n: int = 1) -> None:
            progress.advance(task, n)
            done = progress.tasks[0].completed
            elapsed = max(time.monotonic() - started, 1e-6)
            progress.update(task, rate=f"{done / elapsed:,.0f} {unit}/s")

        yield advance


class ProgressLog:
    """Call :meth:`tick` per row; logs ``<event>`` with ``done`` every ``every_s`` seconds."""

    def __init__(self, event: str, *, every_s: float = 10.0, **context: Any) -> None:
        self.event = event
        self.every_s = every_s
        self.context = context
        self.done = 0
        self.started = time.monotonic()
        self._next = self.started + every_s
        self._log = structlog.get_logger("invoicing.progress")

    def tick(self, n: int = 1) -> None:
        self.done += n
        if self.done % 256 == 0 or n > 1:
            now = time.monotonic()
            if now >= self._next:
                self._next = now + self.every_s
                rate = self.done / max(now - self.started, 1e-6)
                self._log.info(self.event, done=self.done, per_s=round(rate, 1), **self.context)
