"""The thread executor (the default): ferroflow's Rust work-stealing scheduler.

Example:
    >>> from ferroflow import ThreadedExecutor, Workflow, task
    >>> wf = Workflow("threads")
    >>> _ = wf.add_task(task(lambda: "hi", name="greet"))
    >>> wf.run(executor=ThreadedExecutor(max_workers=2), store=None)["greet"]
    'hi'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from .._core import run_graph
from .base import BaseExecutor, check_workers, default_workers

if TYPE_CHECKING:
    from ..engine.plan import RunPlan

__all__ = ["ThreadedExecutor"]


class ThreadedExecutor(BaseExecutor):
    """Runs tasks on ``max_workers`` threads of the Rust work-stealing scheduler.

    The scheduler does the dependency bookkeeping without the GIL and calls back into
    Python only to run a task, so independent tasks that wait (I/O, sleeps, C code that
    releases the GIL) overlap, and per-task overhead stays close to the Python call itself.

    Timeouts: a thread cannot be killed. A task with ``timeout`` runs each attempt on a
    helper thread that the worker waits for; when the time is up the task is marked
    ``FAILED`` with ``TaskTimeoutError`` at once (or retried), its downstream proceeds as
    for any failure, and the helper thread is abandoned with a warning naming the task in
    the ``ferroflow`` log (it keeps running in the background until its function returns).
    Coroutine tasks run with ``asyncio.run`` on the worker and are really cancelled.

    Ctrl+C (or ``fail_fast`` after a failure): nothing new starts, tasks waiting to retry
    stop waiting and fail with the error they have, tasks still running finish (threads
    cannot be stopped from outside), then ``KeyboardInterrupt`` is raised; tasks that never
    ran are ``CANCELLED``.

    Args:
        max_workers: Worker threads (default ``min(32, cpu_count + 4)``; the run's
            ``max_workers`` overrides it).

    Example:
        >>> ThreadedExecutor(max_workers=4).max_workers
        4
    """

    name: ClassVar[str] = "thread"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = check_workers(max_workers, "ThreadedExecutor")

    def run_plan(self, plan: RunPlan) -> None:
        """Run ``plan`` on the scheduler's worker threads (blocking)."""
        workers = plan.max_workers or self.max_workers or default_workers()
        if not len(plan.tasks):
            return
        states = run_graph(plan.graph, plan.execute, workers, plan.fail_fast, on_interrupt=plan.stopping.set)
        plan.apply_states(states)

    def __repr__(self) -> str:
        return f"ThreadedExecutor(max_workers={self.max_workers!r})"
