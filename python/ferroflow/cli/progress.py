"""Run progress on the terminal: a Rich bar on a TTY, plain lines otherwise, JSON lines with ``--json-logs``."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Self

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..results import RunResult, TaskRecord, TaskStatus, run_fields
from ..safetext import safe_str
from ._output import Output

__all__ = ["RunProgress", "print_run_summary"]

_BAD = {TaskStatus.FAILED, TaskStatus.UPSTREAM_FAILED, TaskStatus.CANCELLED}
_STYLE = {
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "bold red",
    TaskStatus.SKIPPED: "yellow",
    TaskStatus.UPSTREAM_FAILED: "red",
    TaskStatus.CANCELLED: "magenta",
}


class RunProgress:
    """The ``progress=`` callback of a run, drawing as tasks finish.

    Args:
        output: Where to draw.
        workflow: The workflow's name.
        total: Number of tasks.
    """

    def __init__(self, output: Output, workflow: str, total: int) -> None:
        self.output = output
        self.workflow = workflow
        self.total = total
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._task_id: Any = None

    def __enter__(self) -> Self:
        if self.output.is_tty:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[red]{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=self.output.out,
            )
            self._bar.start()
            self._task_id = self._bar.add_task(self.workflow, total=self.total, failed=0)
        elif self.output.json_mode:
            self.output.json("run_started", workflow=self.workflow, tasks=self.total)
        else:
            self.output.line(f"running {self.workflow} ({self.total} task{'s' if self.total != 1 else ''})")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, record: TaskRecord) -> None:
        with self._lock:
            self.done += 1
            if record.status in _BAD:
                self.failed += 1
            done, failed = self.done, self.failed
        duration = record.duration_seconds
        took = f" in {duration:.2f}s" if duration is not None else ""
        note = " (cached)" if record.cached else " (resumed)" if record.resumed else ""
        if record.attempts > 1:
            note += f" after {record.attempts} attempts"
        status = record.status.value
        if self._bar is not None:
            self._bar.update(self._task_id, advance=1, failed=failed)
            if record.status in _BAD or record.status is TaskStatus.SKIPPED:
                style = _STYLE.get(record.status, "")
                reason = f": {record.reason}" if record.reason else ""
                self._bar.console.print(f"  [{style}]{record.name} {status}[/]{reason}", highlight=False)
        elif self.output.json_mode:
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
            self.output.line(f"[{done}/{self.total}] {record.name} {status}{took}{note}")


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
    blocked = sum(1 for r in result.records.values() if r.status is TaskStatus.UPSTREAM_FAILED)
    if blocked:
        counts += f", {blocked} not run (upstream failed)"
    for flag in ("resumed", "cached"):
        n = sum(1 for r in result.records.values() if getattr(r, flag))
        if n:
            counts += f", {n} {flag}"
    output.print(
        f"[{style}]{result.workflow}: run {result.run_id} {result.status}[/] ({counts}) in {float(elapsed):.2f}s",
        highlight=False,
    )
    for name, err in result.errors.items():
        text = safe_str(err).strip()
        first, _, rest = text.partition("\n")
        output.print(f"  [red]✗ {name}[/]: {first}", highlight=False, markup=True)
        for line in rest.splitlines()[-15:]:
            output.line(f"      {line}")
    if log_dir:
        output.line(f"task logs: {log_dir}")
