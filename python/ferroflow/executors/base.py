"""What the shipped executors share: worker counts and a ready-set driver on a thread pool.

The executor protocol itself (:class:`BaseExecutor`, ``Executor``, ``resolve_executor``)
lives in :mod:`ferroflow.engine.executor`; its names are importable from here too.

Example:
    >>> from ferroflow import SequentialExecutor, Workflow, task
    >>> wf = Workflow("tiny")
    >>> _ = wf.add_task(task(lambda: 1, name="one"))
    >>> SequentialExecutor().execute(wf, store=None)["one"]
    1
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._core import ReadyTracker
from ..engine.executor import BaseExecutor, Executor, resolve_executor

if TYPE_CHECKING:
    from ..engine.plan import RunPlan

__all__ = [
    "BaseExecutor",
    "Executor",
    "check_workers",
    "default_workers",
    "drive_with_pool",
    "resolve_executor",
]


def default_workers() -> int:
    """The default thread count: ``min(32, cpu_count + 4)``, as ``ThreadPoolExecutor`` uses."""
    return min(32, (os.cpu_count() or 1) + 4)


def check_workers(max_workers: int | None, where: str) -> int | None:
    """Validate a ``max_workers`` value (None = default)."""
    if max_workers is None:
        return None
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError(f"{where}: max_workers must be an int >= 1 or None, got {max_workers!r}")
    return max_workers


def drive_with_pool(plan: RunPlan, execute: Callable[[int], bool], workers: int, thread_name: str) -> None:
    """Run ``execute(node)`` on a thread pool, handing out nodes with ``_core.ReadyTracker``.

    The calling thread owns the tracker: it submits ready nodes, waits for any to finish,
    and reports them (``complete`` / ``fail``), so the tracker needs no lock.
    """
    tracker = ReadyTracker(plan.graph)
    stop = False
    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name) as pool:
        running: dict[cf.Future[bool], int] = {}

        def submit(nodes: list[int]) -> None:
            for i in nodes:
                running[pool.submit(execute, i)] = i

        try:
            submit(tracker.start())
            while running:
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    ok = fut.result()
                    if ok:
                        ready = tracker.complete(i)
                        if stop:
                            plan.mark_cancelled(ready)
                        else:
                            submit(ready)
                    else:
                        plan.mark_blocked(tracker.fail(i))
                        if plan.fail_fast and not stop:
                            stop = True
                            plan.mark_cancelled(tracker.cancel_waiting())
        except BaseException:
            plan.stopping.set()
            for fut in running:
                fut.cancel()
            plan.mark_cancelled(tracker.cancel_waiting(), "cancelled: the run was interrupted")
            raise
