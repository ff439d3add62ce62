"""The live display of a run on a terminal: a Rich progress bar sharing one console with the logs.

:class:`LiveProgress` is a run's ``progress=`` callback (it also has ``task_started``, so the
run tells it when each task starts). It draws one bar: tasks finished out of the total,
failures (the same count as the run's ``stats["failed"]``), the elapsed time and the tasks
running now. Log lines go through the same Rich ``Console`` (the caller gives the log
handler that prints there), so the bar and the lines never write over each other; while
the bar is up, the per-task ``SUCCESS`` lines are folded into it (the count advances
instead) unless asked to keep them.

:func:`terminal_progress` is what ``Workflow.run()`` uses when it is given no ``progress``:
on a terminal, and when nobody configured logging (neither the root logger nor the
``ferroflow`` logger has a handler), the run shows this display and its log lines at
``INFO``; ``progress=False`` turns it off.

The status words are the :class:`~ferroflow.results.TaskStatus` values everywhere (bar,
CLI tables, JSON lines).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

from ..results import TaskRecord, TaskStatus

__all__ = ["FoldSuccess", "LiveProgress", "terminal_progress", "wants_terminal_progress"]

logger = logging.getLogger("ferroflow")

_STYLE = {
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "bold red",
    TaskStatus.SKIPPED: "yellow",
    TaskStatus.UPSTREAM_FAILED: "red",
    TaskStatus.CANCELLED: "magenta",
}
_SHOWN_RUNNING = 3  # names listed in the "running" column; the rest are counted


class FoldSuccess(logging.Filter):
    """Drops the per-task success lines (``event="task_completed"``): the bar counts them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a task's success line, True for anything else."""
        return getattr(record, "event", None) != "task_completed"


class LiveProgress:
    """A run's progress bar on a Rich console (use as a context manager around the run).

    Args:
        console: The Rich ``Console`` to draw on (the log handler should print there too).
        workflow: The workflow's name.
        total: Number of tasks.
        log_handler: The handler printing log lines on ``console``, if any: while the bar
            is up its per-task success lines are folded (see ``fold_success``), and the bar
            prints no line of its own for what that handler already shows.
        fold_success: Fold the success lines into the bar (False: keep them, e.g. at DEBUG).

    Attributes:
        done: Tasks finished so far (any final status).
        failed: Tasks that failed (``TaskStatus.FAILED``), as in the run's stats.
        running: Names of the tasks running now, in start order.
    """

    def __init__(
        self,
        console: Any,
        workflow: str,
        total: int,
        *,
        log_handler: logging.Handler | None = None,
        fold_success: bool = True,
    ) -> None:
        self.console = console
        self.workflow = workflow
        self.total = total
        self.log_handler = log_handler
        self.fold_success = fold_success
        self.done = 0
        self.failed = 0
        self.running: dict[str, None] = {}
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task_id: Any = None
        self._fold = FoldSuccess()

    def __enter__(self) -> Self:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[running]}"),
            console=self.console,
        )
        self._bar.start()
        self._task_id = self._bar.add_task(self.workflow, total=self.total, failed=0, running="")
        if self.log_handler is not None and self.fold_success:
            self.log_handler.addFilter(self._fold)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.log_handler is not None:
            self.log_handler.removeFilter(self._fold)
        if self._bar is not None:
            with self._lock:
                self.running.clear()
            self._bar.update(self._task_id, running="")
            self._bar.stop()

    def _running_text(self) -> str:
        names = list(self.running)
        if not names:
            return ""
        shown = ", ".join(names[:_SHOWN_RUNNING])
        more = f" +{len(names) - _SHOWN_RUNNING}" if len(names) > _SHOWN_RUNNING else ""
        return f"running: {shown}{more}"

    def task_started(self, name: str) -> None:
        """A task started: list it as running."""
        with self._lock:
            self.running[name] = None
            text = self._running_text()
        if self._bar is not None:
            self._bar.update(self._task_id, running=text)

    def __call__(self, record: TaskRecord) -> None:
        """A task reached its final status: advance the bar (and say why, if no log line does)."""
        with self._lock:
            self.done += 1
            if record.status is TaskStatus.FAILED:
                self.failed += 1
            self.running.pop(record.name, None)
            failed, text = self.failed, self._running_text()
        if self._bar is None:
            return
        self._bar.update(self._task_id, advance=1, failed=failed, running=text)
        if record.status is not TaskStatus.COMPLETED and not self._logged(record.status):
            from rich.markup import escape

            style = _STYLE.get(record.status, "")
            reason = f": {escape(record.reason)}" if record.reason else ""
            self.console.print(f"  [{style}]{escape(record.name)} {record.status.value}[/]{reason}", highlight=False)

    def _logged(self, status: TaskStatus) -> bool:
        """Whether the log handler on this console already shows a line for a task ending so."""
        handler = self.log_handler
        if handler is None:
            return False
        level = logging.ERROR if status is TaskStatus.FAILED else logging.INFO
        return logger.isEnabledFor(level) and handler.level <= level


def wants_terminal_progress(stream: Any = None) -> bool:
    """Whether a run given no ``progress`` shows :class:`LiveProgress`: ``stream`` (default
    ``sys.stderr``) is a terminal and nobody configured logging (the root logger and the
    ``ferroflow`` logger have no handler besides ferroflow's task log capture)."""
    from ..log import TaskLogCapture

    stream = sys.stderr if stream is None else stream
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    if logging.getLogger().handlers:
        return False
    return not any(not isinstance(h, TaskLogCapture) for h in logging.getLogger("ferroflow").handlers)


@contextmanager
def terminal_progress(workflow: str, total: int) -> Iterator[LiveProgress]:
    """Show a run on the terminal: the bar, and ``ferroflow`` log lines at ``INFO`` on the same
    console, for the duration of the block; the logger is left as it was afterwards."""
    from rich.console import Console

    from ..log import log_theme, rich_log_handler

    console = Console(stderr=True, theme=log_theme())
    handler = rich_log_handler(console)
    handler.setLevel(logging.INFO)
    log = logging.getLogger("ferroflow")
    before = (log.level, log.propagate)
    log.addHandler(handler)
    if not log.isEnabledFor(logging.INFO):
        log.setLevel(logging.INFO)
    log.propagate = False  # the root logger has no handler: its last-resort one would print twice
    try:
        with LiveProgress(console, workflow, total, log_handler=handler) as progress:
            yield progress
    finally:
        log.removeHandler(handler)
        log.setLevel(before[0])
        log.propagate = before[1]
