"""The sequential executor: the reference every other executor is tested against.

Example:
    >>> from ferroflow import SequentialExecutor, Workflow, task
    >>> wf = Workflow("seq")
    >>> a = wf.add_task(task(lambda: 2, name="a"))
    >>> b = wf.add_task(task(lambda a: a * 10, name="b"))
    >>> wf.run(executor=SequentialExecutor(), store=None)["b"]
    20
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from .base import BaseExecutor

if TYPE_CHECKING:
    from ..engine.plan import RunPlan

__all__ = ["SequentialExecutor"]


class SequentialExecutor(BaseExecutor):
    """Runs every task on the calling thread, one at a time, in topological order.

    When a task fails, its descendants are marked ``UPSTREAM_FAILED`` at once and skipped;
    with ``fail_fast=True`` everything not started yet is ``CANCELLED``.

    Timeouts behave as on the thread executor: the attempt runs on a helper thread the
    executor waits for; when the time is up the task is marked ``FAILED`` with
    ``TaskTimeoutError`` at once, downstream proceeds as for any failure, and the helper
    thread (which cannot be killed) is abandoned with a warning in the ``ferroflow`` log.
    Coroutine tasks run with ``asyncio.run`` and are really cancelled on timeout.

    Example:
        >>> from ferroflow import SequentialExecutor
        >>> SequentialExecutor().name
        'sequential'
    """

    name: ClassVar[str] = "sequential"

    def run_plan(self, plan: RunPlan) -> None:
        """Run ``plan`` in topological order on this thread."""
        order = plan.graph.topological_ids()
        with plan.thread_slot():
            self._run_in_order(plan, order)

    @staticmethod
    def _run_in_order(plan: RunPlan, order: list[int]) -> None:
        execute = plan.execute
        bad = bytearray(len(order))
        for pos, i in enumerate(order):
            if bad[i]:
                continue
            if execute(i):
                continue
            blocked = sorted(plan.graph.id_of(n) for n in plan.graph.descendants(plan.tasks[i].name))
            blocked = [j for j in blocked if not bad[j]]
            for j in blocked:
                bad[j] = 1
            plan.mark_blocked(blocked)
            if plan.fail_fast:
                plan.mark_cancelled([j for j in order[pos + 1 :] if not bad[j]])
                return
