"""Running a plan on an executor and finishing it: statuses, ``RunResult``, store, report."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..errors import WorkflowError
from ..results import RunResult, TaskStatus
from ..safetext import describe_error
from .capture import capture_output
from .plan import PlanExecutor, RunPlan

__all__ = ["abandon_runs", "active_runs", "execute_run", "execute_run_async", "finish_run"]

#: The plans running in this process (their executors have not returned yet).
_ACTIVE: dict[int, RunPlan] = {}
_ACTIVE_LOCK = threading.Lock()
#: The runs of this process recorded as interrupted while some of their tasks may still run.
_INTERRUPTED: list[str] = []


def active_runs() -> list[RunPlan]:
    """The plans of the runs going on in this process."""
    with _ACTIVE_LOCK:
        return list(_ACTIVE.values())


def abandon_runs() -> list[str]:
    """Give up on every run going on here, before exiting at once: each is recorded ``cancelled``.

    Tasks still running are recorded ``CANCELLED`` ("abandoned"); the run can be resumed.
    Their threads are not stopped (they cannot be): the caller is expected to exit.

    Returns:
        The ids of the runs abandoned, and of those already recorded as interrupted whose
        executor returned without waiting for their running tasks (e.g. ``async``, whose
        thread tasks the interpreter still waits for at exit).
    """
    with _ACTIVE_LOCK:
        plans = list(_ACTIVE.values())
        _ACTIVE.clear()
        earlier = list(_INTERRUPTED)
        _INTERRUPTED.clear()
    for plan in plans:
        plan.interrupted = True
        plan.cancel_pending("cancelled: abandoned by a second interrupt")
        plan.finished_at = time.time()
        if plan.recorder is not None:
            plan.recorder.finish(_with_report(plan))
    ids = [plan.run_id for plan in plans]
    return ids + [run_id for run_id in earlier if run_id not in ids]


def _enter(plan: RunPlan) -> bool:
    with _ACTIVE_LOCK:
        _ACTIVE[id(plan)] = plan
    return True


def _leave(plan: RunPlan) -> bool:
    """Whether the run was still ours to finish (not abandoned meanwhile)."""
    with _ACTIVE_LOCK:
        return _ACTIVE.pop(id(plan), None) is not None


def execute_run(plan: RunPlan, executor: PlanExecutor) -> RunResult:
    """Run ``plan`` on ``executor`` (blocking) and finish it."""
    plan.begin()
    _enter(plan)
    try:
        with capture_output():
            executor.run_plan(plan)
    except BaseException:
        if _leave(plan):
            _record_interrupted(plan)
        raise
    _leave(plan)
    return finish_run(plan)


async def execute_run_async(plan: RunPlan, run_plan_async: Callable[[RunPlan], Awaitable[None]]) -> RunResult:
    """Run ``plan`` with an async executor on the running loop and finish it."""
    plan.begin()
    _enter(plan)
    try:
        with capture_output():
            await run_plan_async(plan)
    except BaseException:
        if _leave(plan):
            _record_interrupted(plan)
        raise
    _leave(plan)
    return finish_run(plan)


def finish_run(plan: RunPlan) -> RunResult:
    """Turn a finished plan into its ``RunResult``; record it; raise if asked to."""
    plan.finished_at = time.time()
    result = plan.result()
    _attach_report(result, plan)
    if plan.recorder is not None:
        plan.recorder.finish(result)
    if plan.options.report_path is not None:
        from ..reports.models import dump_report

        target = Path(plan.options.report_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        dump_report(target, result.report)
    if result.status == "failed" and plan.options.raise_on_failure:
        raise _workflow_error(result)
    return result


def _attach_report(result: RunResult, plan: RunPlan) -> None:
    def build() -> Any:
        from ..store.run_report import build_run_report

        return build_run_report(result)

    result.set_report_builder(build)


def _workflow_error(result: RunResult) -> WorkflowError:
    failed = [(n, e) for n, e in result.errors.items()]
    shown = "; ".join(f"{n} ({describe_error(e)})" for n, e in failed[:5])
    more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
    blocked = sum(1 for r in result.records.values() if r.status is TaskStatus.UPSTREAM_FAILED)
    tail = f"; {blocked} downstream task(s) did not run" if blocked else ""
    tracebacks = {n: r.traceback or "" for n, r in result.records.items() if r.status is TaskStatus.FAILED}
    return WorkflowError(
        f"workflow {result.workflow!r} failed (run {result.run_id}): {len(failed)} task(s) failed: {shown}{more}{tail}",
        result=result,
        errors=result.errors,
        tracebacks=tracebacks,
    )


def _record_interrupted(plan: RunPlan) -> None:
    """The executor raised (Ctrl+C, a crash): what did not finish is cancelled, the run recorded."""
    plan.interrupted = True
    plan.cancel_pending("cancelled: the run was interrupted")
    plan.finished_at = time.time()
    if plan.recorder is not None:
        plan.recorder.finish(_with_report(plan))
    with _ACTIVE_LOCK:
        _INTERRUPTED.append(plan.run_id)


def _with_report(plan: RunPlan) -> RunResult:
    result = plan.result()
    _attach_report(result, plan)
    return result
