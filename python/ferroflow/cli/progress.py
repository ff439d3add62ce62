"""Run progress on the terminal: a Rich bar on a TTY, plain lines otherwise, JSON lines with ``--json-logs``.

On a terminal the bar is :class:`~ferroflow.engine.display.LiveProgress`, drawn on the
stderr console the log handler prints on (one console: no overwriting). It folds the
per-task success lines unless ``--log-level debug``; JSON logs and the log file get every
line. Every view uses the same status words (``TaskStatus`` values).
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Self

from rich.markup import escape

from ..engine.display import LiveProgress
from ..log import console_log_handler
from ..results import RunResult, TaskRecord, TaskStatus, run_fields
from ..safetext import safe_str
from ._output import Output

__all__ = ["RunProgress", "print_run_summary"]


class RunProgress:
    """The ``progress=`` callback of a run, drawing as tasks start and finish.

    Args:
        output: Where to draw.
        workflow: The workflow's name.
        total: Number of tasks.

    Attributes:
        done: Tasks finished so far.
        failed: Tasks that failed (``TaskStatus.FAILED``: the summary's "failed" count).
    """

    def __init__(self, output: Output, workflow: str, total: int) -> None:
        self.output = output
        self.workflow = workflow
        self.total = total
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._live: LiveProgress | None = None

    def __enter__(self) -> Self:
        if self.output.live:
            handler = console_log_handler()
            fold = not logging.getLogger("ferroflow").isEnabledFor(logging.DEBUG)
            self._live = LiveProgress(
                self.output.err, self.workflow, self.total, log_handler=handler, fold_success=fold
            ).__enter__()
        elif self.output.json_mode:
            self.output.json("run_started", workflow=self.workflow, tasks=self.total)
        else:
            self.output.line(f"running {self.workflow} ({self.total} task{'s' if self.total != 1 else ''})")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)

    def task_started(self, name: str) -> None:
        """A task started (shown as running on the bar)."""
        if self._live is not None:
            self._live.task_started(name)

    def __call__(self, record: TaskRecord) -> None:
        with self._lock:
            self.done += 1
            if record.status is TaskStatus.FAILED:
                self.failed += 1
            done, failed = self.done, self.failed
        if self._live is not None:
            self._live(record)
            return
        duration = record.duration_seconds
        took = f" in {duration:.2f}s" if duration is not None else ""
        note = " (cached)" if record.cached else " (resumed)" if record.resumed else ""
        if record.attempts > 1:
            note += f" after {record.attempts} attempts"
        status = record.status.value
        if self.output.json_mode:
            self.output.json(
                "task",
                workflow=self.workflow,
                task=record.name,
                status=status,
                attempts=record.attempts,
                duration_seconds=duration,
                done=done,
                total=self.total,
                failed=failed,
                reason=record.reason,
                error=safe_str(record.error) if record.error is not None else None,
            )
        else:
            reason = f": {record.reason}" if record.reason and record.status is not TaskStatus.COMPLETED else ""
            self.output.line(f"[{done}/{self.total}] {record.name} {status}{took}{note}{reason}")


def print_run_summary(output: Output, result: RunResult, log_dir: str | None = None) -> None:
    """What happened: status, counts, failures with their error, where the logs are."""
    stats = result.stats
    elapsed = stats.get("total_time_seconds") or 0.0
    if output.json_mode:
        output.json(
            "run_finished",
            **run_fields(result, ("run_id", "workflow", "status", "stats")),
            errors={name: safe_str(err) for name, err in result.errors.items()},
            log_dir=log_dir,
        )
        return
    style = "green" if result.status == "completed" else "bold red"
    counts = ", ".join(
        f"{stats.get(key, 0)} {key}"
        for key in ("completed", "failed", "skipped")
        if stats.get(key) or key == "completed"
    )
    # The same status words as the bar, the tables and the JSON lines.
    for status in (TaskStatus.UPSTREAM_FAILED, TaskStatus.CANCELLED):
        n = sum(1 for r in result.records.values() if r.status is status)
        if n:
            counts += f", {n} {status.value}"
    for flag in ("resumed", "cached"):
        n = sum(1 for r in result.records.values() if getattr(r, flag))
        if n:
            counts += f", {n} {flag}"
    output.print(
        f"[{style}]{escape(result.workflow)}: run {result.run_id} {result.status}[/] ({counts}) in {float(elapsed):.2f}s",
        highlight=False,
    )
    for name, err in result.errors.items():
        text = safe_str(err).strip()
        first, _, rest = text.partition("\n")
        output.print(f"  [red]✗ {escape(name)}[/]: {escape(first)}", highlight=False, markup=True)
        for line in rest.splitlines()[-15:]:
            output.line(f"      {line}")
    if log_dir:
        output.line(f"task logs: {log_dir}")
