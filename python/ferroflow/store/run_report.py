"""The automatic report of a workflow run: batch = the run, one step per task.

A task maps to a step whose ``id`` and ``label`` are the task name and whose
status is ``SUCCESS`` (completed, also from cache or resume), ``FAILED``, or
``SKIPPED`` (skipped, upstream failed, cancelled; the reason is a note).
``metadata`` holds ``task_status``, ``attempts``, ``cached``, ``resumed`` and,
when there are any, the captured ``logs`` and the error's ``traceback``.
The batch is assembled with ``model_construct`` around steps that are already
validated, so a run of 100k tasks is not validated twice.

The batch's status rolls up from the steps (``ReportStatus`` keeps its five values): a
cancelled run (interrupted, or stopped by ``fail_fast``) is ``FAILED`` with the reason
``cancelled: ...`` in its ``errors``, and a run that did not complete has as ``percent``
the share of its tasks that finished (completed, failed or skipped), never 100% for
tasks that never ran.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..reports.models import REPORT_VERSION, PipelineReport, ReportStatus, StepReport
from ..results import RunResult, TaskStatus, error_text, run_fields
from ..safetext import json_default

if TYPE_CHECKING:
    from .records import RunDetail

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
_FINISHED = (TaskStatus.COMPLETED.value, TaskStatus.FAILED.value, TaskStatus.SKIPPED.value)
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
    return StepReport(
        id=name,
        label=name,
        status=step_status,
        percent=100.0 if step_status.is_final else 0.0,
        started_at=_dt(started),
        finished_at=_dt(finished),
        duration_ms=duration,
        notes=notes,
        errors=[error] if error else [],
        metadata=metadata,
    )


def _header(
    steps: list[StepReport],
    *,
    run_id: str,
    workflow: str,
    status: str,
    params: dict[str, Any],
    started_at: float | None,
    finished_at: float | None,
    stats: dict[str, Any],
    counts: dict[str, int],
    total: int,
    cancel_reason: str | None = None,
) -> PipelineReport:
    parts = [f"{n} {name}" for name, n in counts.items() if n]
    if status == "completed":
        progress = 100.0
    elif status in ("failed", "cancelled"):
        # The share of tasks that finished: tasks that never ran (cancelled, upstream failed) did not.
        finished = sum(counts.get(name, 0) for name in _FINISHED)
        progress = round(100.0 * finished / total, 2) if total else 0.0
    else:
        done = sum(n for name, n in counts.items() if TaskStatus(name).is_final)
        progress = round(100.0 * done / total, 2) if total else 0.0
    errors = [cancel_reason or "cancelled: the run was cancelled"] if status == "cancelled" else []
    now = datetime.now(UTC)
    # model_construct: the steps are valid already, and validating 100k of them would take seconds.
    return PipelineReport.model_construct(
        report_version=REPORT_VERSION,
        batch_id=run_id,
        kind="workflow_run",
        steps=steps,
        files=[],
        errors=errors,
        output_path=None,
        stage=status,
        message=f"{total} tasks: " + (", ".join(parts) if parts else "none ran"),
        progress=progress,
        created_at=_dt(started_at) or now,
        updated_at=_dt(finished_at) or now,
        metadata={
            "workflow": workflow,
            "run_status": status,
            "params": json.loads(json.dumps(params, default=json_default)),
            "started_at": started_at,
            "finished_at": finished_at,
            "stats": json.loads(json.dumps(stats, default=json_default)),
        },
    )


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
    cancel_reason: str | None = None
    for name, rec in result.records.items():
        error = trace = None
        if rec.error is not None or rec.traceback is not None:
            error, trace = error_text(rec)
        steps.append(
            _step(
                name,
                rec.status,
                rec.attempts,
                rec.started_at,
                rec.finished_at,
                error,
                trace,
                rec.reason,
                rec.cached,
                rec.resumed,
                rec.logs,
            )
        )
        counts[rec.status.value] = counts.get(rec.status.value, 0) + 1
        if rec.status is TaskStatus.CANCELLED and cancel_reason is None:
            cancel_reason = rec.reason
    return _header(steps, **run_fields(result), counts=counts, total=len(result.records), cancel_reason=cancel_reason)


def report_from_rows(detail: RunDetail) -> PipelineReport:
    """The run report rebuilt from the store's rows (equal to the one the run built)."""
    steps: list[StepReport] = []
    counts: dict[str, int] = {}
    cancel_reason: str | None = None
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
        if status is TaskStatus.CANCELLED and cancel_reason is None:
            cancel_reason = t.reason
    run = detail.run
    return _header(
        steps, **run_fields(run), counts=counts, total=max(run.task_count, len(steps)), cancel_reason=cancel_reason
    )
