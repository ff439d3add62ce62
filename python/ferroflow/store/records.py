"""What the store hands out about runs and tasks, and how its rows become those records."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..processes import process_birth, same_process

__all__ = [
    "FINAL_STATUSES",
    "HOST",
    "RunDetail",
    "RunSummary",
    "TaskSummary",
    "attempts_of",
    "effective_status",
    "logged_summary",
    "own_birth",
    "pending_summary",
    "run_summary",
    "task_summary",
]

HOST = socket.gethostname()


def own_birth() -> str | None:
    """This process's :func:`~ferroflow.processes.process_birth`, recorded beside its pid."""
    return process_birth(os.getpid())


# Run ids with a live recorder in this process: a 'running' row of ours that is
# not in here belongs to a run that died without finishing.
ACTIVE_RUNS: set[str] = set()


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One row of the run history.

    Attributes:
        run_id: The run's id.
        workflow: The workflow's name.
        status: ``running``, ``completed``, ``failed``, ``cancelled``, or
            ``interrupted`` (marked running, but its process is gone).
        params: The run parameters (JSON view).
        started_at: Epoch seconds.
        finished_at: Epoch seconds, ``None`` while running or if interrupted.
        resumed_from: The run this one resumed, if any.
        task_count: Number of tasks in the workflow.
        stats: The final ``RunResult.stats`` (empty until finished).
        target: What was run, as it can be run again (a flow, a file, ``module:attr``), if known.
        trigger: How it was started: ``{"kind": "python" | "cli" | "schedule" | "watch" |
            "dashboard", "target": ..., "detail": {...}}``.
        pid: The process that ran it.
        host: The host that ran it.
    """

    run_id: str
    workflow: str
    status: str
    params: dict[str, Any]
    started_at: float
    finished_at: float | None
    resumed_from: str | None
    task_count: int
    stats: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    trigger: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None
    host: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of the run, if it finished."""
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """What the store knows about one task of one run (the result itself: :meth:`Store.load_result`)."""

    name: str
    status: str
    attempts: int
    started_at: float | None
    finished_at: float | None
    error: str | None
    traceback: str | None
    reason: str | None
    has_result: bool
    result_json: str | None
    cached: bool
    resumed: bool
    logs: list[str]
    failed_attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_seconds(self) -> float | None:
        """Wall time from start to finish, if it ran."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


def attempts_of(task: TaskSummary) -> list[dict[str, Any]]:
    """Every attempt of a task that raised, the last one included when the task failed.

    Each is ``{number, started_at, finished_at, error, traceback}``.
    """
    attempts = [dict(a) for a in task.failed_attempts]
    if task.status == "failed" and task.error is not None and (not attempts or attempts[-1]["error"] != task.error):
        attempts.append(
            {
                "number": task.attempts or len(attempts) + 1,
                "started_at": task.started_at,
                "finished_at": task.finished_at,
                "error": task.error,
                "traceback": task.traceback,
            }
        )
    return attempts


@dataclass(frozen=True, slots=True)
class RunDetail:
    """A run and its tasks (in workflow order), and its graph when the store has it."""

    run: RunSummary
    tasks: list[TaskSummary]
    upstreams: dict[str, list[str]] = field(default_factory=dict)

    def task(self, name: str) -> TaskSummary:
        """The task called ``name``; ``KeyError`` if the run has none."""
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)


def effective_status(row: sqlite3.Row) -> str:
    """A run's status, with ``interrupted`` for a 'running' run whose process is gone.

    The process is named by host, pid and birth (its start time), so a pid the
    kernel has since handed to another process does not keep a dead run running.
    """
    status: str = row["status"]
    if status != "running":
        return status
    pid, host = row["pid"], row["host"]
    if host != HOST or pid is None:
        return status
    if pid == os.getpid():
        return status if row["run_id"] in ACTIVE_RUNS else "interrupted"
    return status if same_process(int(pid), _column(row, "pid_birth")) else "interrupted"


def _json_or_empty(text: str | None) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}


def run_summary(row: sqlite3.Row) -> RunSummary:
    """A ``runs`` row as a :class:`RunSummary`."""
    return RunSummary(
        run_id=row["run_id"],
        workflow=row["workflow"],
        status=effective_status(row),
        params=_json_or_empty(row["params"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        resumed_from=row["resumed_from"],
        task_count=row["task_count"],
        stats=_json_or_empty(row["stats"]),
        target=_column(row, "target"),
        trigger=_json_or_empty(_column(row, "trigger")) or {"kind": "python", "target": None, "detail": {}},
        pid=row["pid"],
        host=row["host"],
    )


def _column(row: sqlite3.Row, name: str) -> Any:
    return row[name] if name in row.keys() else None  # noqa: SIM118 - `in row` looks at the values


def task_summary(row: sqlite3.Row) -> TaskSummary:
    """A ``tasks`` row as a :class:`TaskSummary`."""
    logs = _json_or_empty(row["logs"])
    return TaskSummary(
        name=row["name"],
        status=row["status"],
        attempts=row["attempts"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        traceback=row["traceback"],
        reason=row["reason"],
        has_result=bool(row["has_result"]),
        result_json=row["result_json"],
        cached=bool(row["cached"]),
        resumed=bool(row["resumed"]),
        logs=logs if isinstance(logs, list) else [],
        failed_attempts=_json_list(_column(row, "attempt_log")),
    )


def _json_list(text: str | None) -> list[Any]:
    value = _json_or_empty(text)
    return value if isinstance(value, list) else []


def pending_summary(name: str) -> TaskSummary:
    """A task of a run that has not started yet."""
    return TaskSummary(
        name=name,
        status="pending",
        attempts=0,
        started_at=None,
        finished_at=None,
        error=None,
        traceback=None,
        reason=None,
        has_result=False,
        result_json=None,
        cached=False,
        resumed=False,
        logs=[],
    )


def logged_summary(entry: tuple[Any, ...]) -> TaskSummary:
    """A compact ``task_log`` entry as a :class:`TaskSummary`."""
    done = len(entry) == 3
    return TaskSummary(
        name=entry[0],
        status="completed" if done else "running",
        attempts=1 if done else 0,
        started_at=entry[1],
        finished_at=entry[2] if done else None,
        error=None,
        traceback=None,
        reason=None,
        has_result=done,
        result_json="null" if done else None,
        cached=False,
        resumed=False,
        logs=[],
    )


FINAL_STATUSES = frozenset({"completed", "failed", "skipped", "upstream_failed", "cancelled"})
