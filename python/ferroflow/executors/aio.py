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

from .._core import ReadyTracker
from ..engine.bridge import run_async_entry
from .base import BaseExecutor, check_workers

if TYPE_CHECKING:
    from ..engine.plan import RunPlan

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
        if not len(plan.tasks):
            return
        limit = self.max_concurrency or plan.max_workers
        await _AsyncRun(plan, asyncio.Semaphore(limit) if limit else None).run()

    def __repr__(self) -> str:
        return f"AsyncExecutor(use_uvloop={self.use_uvloop!r}, max_concurrency={self.max_concurrency!r})"


class _AsyncRun:
    """One run on the loop: ready nodes run as asyncio tasks; each end settles its node."""

    def __init__(self, plan: RunPlan, sem: asyncio.Semaphore | None) -> None:
        self.plan = plan
        self.sem = sem
        self.tracker = ReadyTracker(plan.graph)
        self.loop = asyncio.get_running_loop()
        self.all_done: asyncio.Future[None] = self.loop.create_future()
        self.live: list[asyncio.Task[None] | None] = [None] * len(plan.tasks)
        self.stop = False
        self.pending = 0

    async def run(self) -> None:
        self.launch(self.tracker.start())
        try:
            await self.all_done
        except BaseException:
            live = [t for t in self.live if t is not None]
            for t in live:
                t.cancel()
            if live:
                await asyncio.gather(*live, return_exceptions=True)
            self.plan.mark_cancelled(self.tracker.cancel_waiting(), "cancelled: the run was interrupted")
            raise

    async def node(self, i: int) -> None:
        # A node whose end makes others ready continues with one of them in this same
        # asyncio task (the rest get their own): a chain costs no task creation per node.
        start, execute, sem = i, self.plan.execute_async, self.sem
        try:
            while True:
                if sem is None:
                    ok = await execute(i)
                else:
                    async with sem:
                        ok = await execute(i)
                nxt = self.settle(i, ok)
                if nxt is None:
                    return
                i = nxt
        except BaseException as e:
            if not self.all_done.done():
                self.all_done.set_exception(e)
            raise
        finally:
            self.live[start] = None

    def launch(self, nodes: list[int]) -> None:
        if self.stop:
            self.plan.mark_cancelled(nodes)
            return
        create, live, node = self.loop.create_task, self.live, self.node
        self.pending += len(nodes)
        for i in nodes:
            live[i] = create(node(i))

    def settle(self, i: int, ok: bool) -> int | None:
        """Book the end of node ``i``; return a ready node to run next in the same task."""
        nxt: int | None = None
        if ok:
            ready = self.tracker.complete(i)
            if ready and not self.stop:
                nxt = ready[0]
                self.launch(ready[1:])
            elif ready:
                self.plan.mark_cancelled(ready)
        else:
            self.plan.mark_blocked(self.tracker.fail(i))
            if self.plan.fail_fast and not self.stop:
                self.stop = True
                self.plan.mark_cancelled(self.tracker.cancel_waiting())
        if nxt is None:
            self.pending -= 1
            if self.pending == 0 and not self.all_done.done():
                self.all_done.set_result(None)
        return nxt
