"""The async executor: coroutine tasks run concurrently on one event loop.

Example:
    >>> import asyncio
    >>> from ferroflow import AsyncExecutor, Workflow, task
    >>> async def fetch():
    ...     await asyncio.sleep(0)
    ...     return 7
    >>> wf = Workflow("aio")
    >>> _ = wf.add_task(task(fetch))
    >>> wf.run(executor=AsyncExecutor(), store=None)["fetch"]
    7
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from .._async import run_async_entry
from .._core import ReadyTracker
from .base import BaseExecutor, check_workers

if TYPE_CHECKING:
    from .._run import RunPlan

__all__ = ["AsyncExecutor"]


class AsyncExecutor(BaseExecutor):
    """Runs coroutine tasks concurrently on one event loop, sync tasks in worker threads.

    Ready nodes come from ``_core.ReadyTracker``; each runs as an ``asyncio`` task as soon as
    its upstreams completed. From sync code (``run(executor="async")``) a new loop is
    started (on a fresh thread if this thread already runs a loop); inside a running loop
    use ``await workflow.execute_async()``.

    Timeouts cancel: a coroutine task that runs out of time is cancelled and marked
    ``FAILED`` with ``TaskTimeoutError``. A sync task cannot be cancelled: it is marked
    failed at once and its thread is abandoned with a warning in the ``ferroflow`` log.

    Args:
        use_uvloop: Run on uvloop (extra ``ferroflow[uvloop]``) when starting a new loop.
        max_concurrency: At most this many tasks at once (default: no limit).

    Example:
        >>> AsyncExecutor(max_concurrency=10).max_concurrency
        10
    """

    name: ClassVar[str] = "async"

    def __init__(self, use_uvloop: bool = False, max_concurrency: int | None = None) -> None:
        self.use_uvloop = use_uvloop
        self.max_concurrency = check_workers(max_concurrency, "AsyncExecutor(max_concurrency)")

    def run_plan(self, plan: RunPlan) -> None:
        """Run ``plan`` on a new event loop (blocking)."""
        run_async_entry(lambda: self.arun_plan(plan), use_uvloop=self.use_uvloop)

    async def arun_plan(self, plan: RunPlan) -> None:
        """Run ``plan`` on the running event loop."""
        n = len(plan.tasks)
        if not n:
            return
        limit = self.max_concurrency or plan.max_workers
        sem = asyncio.Semaphore(limit) if limit else None
        tracker = ReadyTracker(plan.graph)
        loop = asyncio.get_running_loop()
        all_done = loop.create_future()
        live: set[asyncio.Task[None]] = set()
        state = {"stop": False, "pending": 0}
        execute = plan.execute_async

        async def node(i: int) -> None:
            try:
                if sem is None:
                    ok = await execute(i)
                else:
                    async with sem:
                        ok = await execute(i)
            except BaseException as e:
                if not all_done.done():
                    all_done.set_exception(e)
                raise
            settle(i, ok)

        def launch(nodes: list[int]) -> None:
            if state["stop"]:
                plan.mark_cancelled(nodes)
                return
            for i in nodes:
                state["pending"] += 1
                t = loop.create_task(node(i))
                live.add(t)
                t.add_done_callback(live.discard)

        def settle(i: int, ok: bool) -> None:
            if ok:
                launch(tracker.complete(i))
            else:
                plan.mark_blocked(tracker.fail(i))
                if plan.fail_fast and not state["stop"]:
                    state["stop"] = True
                    plan.mark_cancelled(tracker.cancel_waiting())
            state["pending"] -= 1
            if state["pending"] == 0 and not all_done.done():
                all_done.set_result(None)

        launch(tracker.start())
        try:
            await all_done
        except BaseException:
            for t in list(live):
                t.cancel()
            if live:
                await asyncio.gather(*live, return_exceptions=True)
            plan.mark_cancelled(tracker.cancel_waiting(), "cancelled: the run was interrupted")
            raise

    def __repr__(self) -> str:
        return f"AsyncExecutor(use_uvloop={self.use_uvloop!r}, max_concurrency={self.max_concurrency!r})"
