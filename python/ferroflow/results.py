"""What a run produces: task statuses, per-task records and the ``RunResult``.

These types are shared by the engine (which fills them), the store (which
records them) and the reports (which render them).
"""

from __future__ import annotations

import traceback as tb
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .safetext import describe_error, safe_repr

__all__ = [
    "NOT_GATHERED",
    "RUN_FIELDS",
    "FailedAttempt",
    "RunResult",
    "TaskRecord",
    "TaskStatus",
    "error_text",
    "run_fields",
]


class _NotGathered:
    """The type of :data:`NOT_GATHERED` (one instance)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<result kept on the cluster>"

    def __reduce__(self) -> str:
        return "NOT_GATHERED"


NOT_GATHERED: Any = _NotGathered()
"""The result of a task that completed on a cluster whose result was not brought back
(``DaskExecutor(gather="sinks")``): ``TaskRecord.result`` holds it, ``RunResult`` leaves
the task out, and the store records the task without a result, so resuming runs it again."""


class TaskStatus(StrEnum):
    """The life of a task in one run.

    ``PENDING -> RUNNING -> COMPLETED | FAILED``; a task whose ``when`` is false
    is ``SKIPPED``; downstream of a failure ``UPSTREAM_FAILED``; not started
    under ``fail_fast`` ``CANCELLED``.
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether the task will not change status again in this run."""
        return self not in (TaskStatus.PENDING, TaskStatus.RUNNING)


@dataclass(slots=True)
class FailedAttempt:
    """One attempt of a task that raised.

    Attributes:
        number: 1 for the first attempt, 2 for the first retry, ...
        started_at: Epoch seconds.
        finished_at: Epoch seconds.
        error: ``Type: message`` of what it raised.
        traceback: The formatted traceback.
    """

    number: int
    started_at: float
    finished_at: float
    error: str
    traceback: str

    def to_json(self) -> dict[str, Any]:
        """The attempt as the store keeps it."""
        return {
            "number": self.number,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "traceback": self.traceback,
        }


@dataclass(slots=True)
class TaskRecord:
    """Everything one run knows about one task.

    Attributes:
        name: The task name.
        status: Its final (or current) status.
        attempts: Attempts made (0 if it never ran: skipped, blocked, cached, resumed).
        started_at: Epoch seconds of the first attempt's start, if it ran.
        finished_at: Epoch seconds when it reached its final status.
        result: The return value (``None`` is a result like any other).
        error: The exception that failed it, if any.
        traceback: The formatted traceback of ``error``.
        reason: Why it did not run (skipped / upstream failed / cancelled).
        cached: The result came from the cache.
        resumed: The result came from the run being resumed.
        logs: Log lines captured while it ran.
        failed_attempts: Every attempt that raised, oldest first: its number, start,
            end, error and traceback (the last one is ``error`` when the task failed).
    """

    name: str
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None
    error: BaseException | None = None
    traceback: str | None = None
    reason: str | None = None
    cached: bool = False
    resumed: bool = False
    logs: list[str] = field(default_factory=list)
    failed_attempts: list[FailedAttempt] = field(default_factory=list)

    @property
    def duration_seconds(self) -> float | None:
        """Wall time from first start to finish, if it ran."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class RunResult(Mapping[str, Any]):
    """The outcome of a run: a mapping of task name to result, plus metadata.

    Only tasks that produced a result (completed, cached or resumed) are keys;
    ``None`` results are kept.

    Attributes:
        run_id: Unique id of the run (also its id in the store).
        workflow: The workflow's name.
        status: ``"completed"``, ``"failed"`` or ``"cancelled"``.
        stats: The keys of ``Workflow.get_workflow_stats()``.
        report: The run's ``PipelineReport`` (``None`` until built).
        errors: Task name to the exception that failed it.
        records: Task name to its :class:`TaskRecord`.
    """

    def __init__(
        self,
        run_id: str,
        workflow: str,
        results: dict[str, Any],
        *,
        status: str,
        stats: dict[str, Any],
        errors: dict[str, BaseException] | None = None,
        records: dict[str, TaskRecord] | None = None,
        report: Any = None,
        params: dict[str, Any] | None = None,
        started_at: float | None = None,
        finished_at: float | None = None,
    ) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self._results = results
        self.status = status
        self.stats = stats
        self.errors: dict[str, BaseException] = errors or {}
        self._records: dict[str, TaskRecord] | None = records if records is not None else {}
        self._records_builder: Callable[[], dict[str, TaskRecord]] | None = None
        self._report = report
        self._report_builder: Callable[[], Any] | None = None
        self.params: dict[str, Any] = params or {}
        self.started_at = started_at
        self.finished_at = finished_at

    @property
    def report(self) -> Any:
        """The run's ``PipelineReport``, built on first access when the run set a builder."""
        if self._report is None and self._report_builder is not None:
            builder, self._report_builder = self._report_builder, None
            self._report = builder()
        return self._report

    @report.setter
    def report(self, value: Any) -> None:
        self._report = value
        self._report_builder = None

    def set_report_builder(self, builder: Callable[[], Any]) -> None:
        """Build the report lazily with ``builder()`` when ``report`` is first read."""
        self._report_builder = builder

    @property
    def records(self) -> dict[str, TaskRecord]:
        """Task name to its :class:`TaskRecord` (built on first access when the run set a builder)."""
        if self._records_builder is not None:
            builder, self._records_builder = self._records_builder, None
            self._records = builder()
        return self._records if self._records is not None else {}

    @records.setter
    def records(self, value: dict[str, TaskRecord]) -> None:
        self._records = value
        self._records_builder = None

    def set_records_builder(self, builder: Callable[[], dict[str, TaskRecord]]) -> None:
        """Build ``records`` lazily with ``builder()`` when first read."""
        self._records_builder = builder

    @property
    def results(self) -> dict[str, Any]:
        """Task name to result, as a plain dict."""
        return dict(self._results)

    @property
    def failed_tasks(self) -> list[str]:
        """Names of the tasks that failed."""
        return list(self.errors)

    def __getitem__(self, name: str) -> Any:
        return self._results[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    @property
    def ok(self) -> bool:
        """Whether the run completed without failures."""
        return self.status == "completed"

    def __repr__(self) -> str:
        return (
            f"RunResult(run_id={self.run_id!r}, workflow={self.workflow!r}, status={self.status!r}, "
            f"results={{{', '.join(f'{safe_repr(k)}: {safe_repr(v)}' for k, v in self._results.items())}}})"
        )


def error_text(record: TaskRecord) -> tuple[str | None, str | None]:
    """``("Type: message", formatted traceback)`` of a record's error.

    Example:
        >>> error_text(TaskRecord("t", TaskStatus.FAILED, error=KeyError("k"), traceback="tb"))
        ("KeyError: 'k'", 'tb')
        >>> error_text(TaskRecord("t", TaskStatus.COMPLETED))
        (None, None)
    """
    err = record.error
    if err is None:
        return None, record.traceback
    text = describe_error(err)
    trace = record.traceback
    if trace is None and err.__traceback__ is not None:
        trace = "".join(tb.format_exception(type(err), err, err.__traceback__))
    return text, trace


#: What every view of a run shows about it (a ``RunResult``, the store's ``RunSummary``,
#: the run report's header, the CLI's JSON lines), in this order.
RUN_FIELDS = ("run_id", "workflow", "status", "params", "started_at", "finished_at", "stats")


def run_fields(run: object, names: Sequence[str] = RUN_FIELDS) -> dict[str, Any]:
    """The :data:`RUN_FIELDS` (or ``names``, a selection of them) of ``run``, by name.

    Example:
        >>> result = RunResult("r1", "etl", {}, status="completed", stats={"completed": 0})
        >>> run_fields(result, ("run_id", "workflow", "status"))
        {'run_id': 'r1', 'workflow': 'etl', 'status': 'completed'}
    """
    return {name: getattr(run, name) for name in names}
