"""The automatic report of a workflow run: batch = the run, one step per task.

A task maps to a step whose ``id`` and ``label`` are the task name and whose
status is ``SUCCESS`` (completed, also from cache or resume), ``FAILED``, or
``SKIPPED`` (skipped, upstream failed, cancelled; the reason is a note).
``metadata`` holds ``task_status``, ``attempts``, ``cached``, ``resumed`` and,
when there are any, the captured ``logs`` and the error's ``traceback``.
Steps are built with ``model_construct`` (the data is already valid) so a run of
100k tasks gets its report quickly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .reports import PipelineReport, ReportStatus, Review, StepReport
from .results import RunResult, TaskStatus

if TYPE_CHECKING:
    from .store import RunDetail

__all__ = ["build_run_report", "report_from_rows"]

_STEP_STATUS = {
    TaskStatus.PENDING: ReportStatus.PENDING,
    TaskStatus.RUNNING: ReportStatus.RUNNING,
    TaskStatus.COMPLETED: ReportStatus.SUCCESS,
    TaskStatus.FAILED: ReportStatus.FAILED,
    TaskStatus.SKIPPED: ReportStatus.SKIPPED,
    TaskStatus.UPSTREAM_FAILED: ReportStatus.SKIPPED,
    TaskStatus.CANCELLED: ReportStatus.SKIPPED,
}
_DEFAULT_REASON = {
    TaskStatus.SKIPPED: "skipped: its condition was false",
    TaskStatus.UPSTREAM_FAILED: "not run: an upstream task failed",
    TaskStatus.CANCELLED: "cancelled before it started",
}


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _step(
    name: str,
    status: TaskStatus,
    attempts: int,
    started: float | None,
    finished: float | None,
    error: str | None,
    trace: str | None,
    reason: str | None,
    cached: bool,
    resumed: bool,
    logs: list[str],
) -> StepReport:
    step_status = _STEP_STATUS[status]
    notes: list[str] = []
    if step_status is ReportStatus.SKIPPED:
        notes.append(reason or _DEFAULT_REASON.get(status, status.value))
    elif reason:
        notes.append(reason)
    if cached:
        notes.append("result from the cache")
    if resumed:
        notes.append("result from the resumed run")
    metadata: dict[str, Any] = {"task_status": status.value, "attempts": attempts, "cached": cached, "resumed": resumed}
    if logs:
        metadata["logs"] = list(logs)
    if trace:
        metadata["traceback"] = trace
    duration = None if started is None or finished is None else (finished - started) * 1000.0
    return StepReport.model_construct(
        id=name,
        label=name,
        status=step_status,
        percent=100.0 if step_status.is_final else 0.0,
        started_at=_dt(started),
        finished_at=_dt(finished),
        duration_ms=duration,
        notes=notes,
        warnings=[],
        errors=[error] if error else [],
        checks=[],
        metadata=metadata,
        review=Review.model_construct(flagged=False, reason=None),
    )


def _message(counts: dict[str, int], total: int) -> str:
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    return f"{total} tasks: " + (", ".join(parts) if parts else "none ran")


def build_run_report(result: RunResult) -> PipelineReport:
    """The report of a finished (or partial) run.

    Example:
        >>> from ferroflow.results import RunResult, TaskRecord, TaskStatus
        >>> recs = {"a": TaskRecord("a", TaskStatus.COMPLETED, attempts=1, started_at=1.0, finished_at=1.5),
        ...         "b": TaskRecord("b", TaskStatus.UPSTREAM_FAILED)}
        >>> r = build_run_report(RunResult("r1", "etl", {}, status="failed", stats={}, records=recs))
        >>> [(s.id, s.status.value, s.duration_ms) for s in r.steps]
        [('a', 'SUCCESS', 500.0), ('b', 'SKIPPED', None)]
    """
    steps: list[StepReport] = []
    counts: dict[str, int] = {}
    for name, rec in result.records.items():
        error = None
        if rec.error is not None:
            text = str(rec.error)
            error = f"{type(rec.error).__name__}: {text}" if text else type(rec.error).__name__
        steps.append(
            _step(
                name,
                rec.status,
                rec.attempts,
                rec.started_at,
                rec.finished_at,
                error,
                rec.traceback,
                rec.reason,
                rec.cached,
                rec.resumed,
                rec.logs,
            )
        )
        counts[rec.status.value] = counts.get(rec.status.value, 0) + 1
    report = PipelineReport(
        batch_id=result.run_id,
        kind="workflow_run",
        stage=result.status,
        message=_message(counts, len(result.records)),
        progress=100.0 if result.status in ("completed", "failed", "cancelled") else None,
        metadata={
            "workflow": result.workflow,
            "run_status": result.status,
            "started_at": result.started_at,
            "finished_at": result.finished_at,
            "stats": dict(result.stats),
        },
    )
    report.steps = steps
    return report


def report_from_rows(detail: RunDetail) -> PipelineReport:
    """A report rebuilt from the store's rows (for runs still going or interrupted)."""
    steps: list[StepReport] = []
    counts: dict[str, int] = {}
    for t in detail.tasks:
        status = TaskStatus(t.status)
        steps.append(
            _step(
                t.name,
                status,
                t.attempts,
                t.started_at,
                t.finished_at,
                t.error,
                t.traceback,
                t.reason,
                t.cached,
                t.resumed,
                t.logs,
            )
        )
        counts[status.value] = counts.get(status.value, 0) + 1
    run = detail.run
    report = PipelineReport(
        batch_id=run.run_id,
        kind="workflow_run",
        stage=run.status,
        message=_message(counts, run.task_count),
        progress=round(100.0 * sum(s.status.is_final for s in steps) / run.task_count, 2) if run.task_count else None,
        metadata={
            "workflow": run.workflow,
            "run_status": run.status,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "stats": dict(run.stats),
        },
    )
    report.steps = steps
    return report
