"""Per-task lines on the ``ferroflow`` logger: start (DEBUG), success (SUCCESS), not run (INFO).

Failures (ERROR) and retries (WARNING) are logged where they happen (the run plan and
the attempt loop); this module adds the rest of a task's life:

- ``task 'load' started`` at ``DEBUG``;
- ``task 'load' completed in 0.012s`` at ``SUCCESS`` (with ``(cached)``, ``(resumed)``
  or ``after 3 attempts`` when that applies);
- ``task 'load' skipped: its `when` condition returned false`` at ``INFO``, and the same
  for a task that never ran (``upstream_failed`` or ``cancelled``, with the reason).

Every line carries ``event`` (``task_started``, ``task_completed``, ``task_skipped``,
``task_not_run``), ``task``, ``run_id``, ``workflow`` and, on success,
``duration_seconds`` as record attributes, so JSON logs get them as fields and a display
can recognise a line without parsing its text.

The levels are checked once per run (:func:`task_log_hooks`): when the logger filters
them out, the run's hot path has nothing more to do than before.

Example:
    >>> log = logging.getLogger("ferroflow")
    >>> before = log.level
    >>> log.setLevel(logging.WARNING)   # nothing below WARNING: no hooks, nothing to do per task
    >>> task_log_hooks("run-1", "wf")
    (None, None)
    >>> log.setLevel(before)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..results import TaskRecord, TaskStatus

__all__ = ["SUCCESS", "OnFinal", "OnStart", "task_log_hooks"]

logger = logging.getLogger("ferroflow")

SUCCESS = 25  # ferroflow.log.LogLevel.SUCCESS (the log layer sits above this one)

OnStart = Callable[[str, float], None]
OnFinal = Callable[[TaskRecord], None]

_NOT_RUN = (TaskStatus.UPSTREAM_FAILED, TaskStatus.CANCELLED)


def task_log_hooks(run_id: str, workflow: str) -> tuple[OnStart | None, OnFinal | None]:
    """The start and final hooks that log a run's tasks, or None where the level is filtered out.

    Args:
        run_id: The run's id (a field of every line).
        workflow: The workflow's name (a field of every line).

    Returns:
        ``(on_start(name, started_at), on_final(record))``; each is None when ``logger``
        would drop every line it logs.
    """
    on_start: OnStart | None = None
    on_final: OnFinal | None = None
    if logger.isEnabledFor(logging.DEBUG):

        def started(name: str, _at: float) -> None:
            logger.debug(
                "task %r started",
                name,
                extra={"event": "task_started", "task": name, "run_id": run_id, "workflow": workflow},
            )

        on_start = started
    success, info = logger.isEnabledFor(SUCCESS), logger.isEnabledFor(logging.INFO)
    if success or info:

        def final(rec: TaskRecord) -> None:
            status = rec.status
            fields: dict[str, object] = {
                "task": rec.name,
                "run_id": run_id,
                "workflow": workflow,
                "status": status.value,
            }
            if status is TaskStatus.COMPLETED:
                if success:
                    _log_success(rec, fields)
            elif info and status is TaskStatus.SKIPPED:
                logger.info("task %r skipped: %s", rec.name, rec.reason, extra={"event": "task_skipped", **fields})
            elif info and status in _NOT_RUN:
                logger.info(
                    "task %r not run (%s): %s",
                    rec.name,
                    status.value,
                    rec.reason,
                    extra={"event": "task_not_run", **fields},
                )

        on_final = final
    return on_start, on_final


def _log_success(rec: TaskRecord, fields: dict[str, object]) -> None:
    if rec.resumed:
        logger.log(SUCCESS, "task %r completed (resumed)", rec.name, extra={"event": "task_completed", **fields})
        return
    duration = rec.duration_seconds or 0.0
    note = " (cached)" if rec.cached else f" after {rec.attempts} attempts" if rec.attempts > 1 else ""
    logger.log(
        SUCCESS,
        "task %r completed in %.3fs%s",
        rec.name,
        duration,
        note,
        extra={"event": "task_completed", "duration_seconds": round(duration, 6), **fields},
    )
