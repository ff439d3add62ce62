"""The executor protocol, name resolution and a shared ready-set driver.

An executor runs a :class:`~ferroflow.engine.plan.RunPlan`: it calls ``plan.execute(i)`` (or
``await plan.execute_async(i)``) once for every node whose upstreams completed, and reports
the nodes that never ran (``plan.mark_blocked`` / ``plan.mark_cancelled``). Everything else
(bindings, retries, statuses, store) lives in the plan, so every executor behaves the same.

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
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from .._core import ReadyTracker

if TYPE_CHECKING:
    from ..engine.plan import RunPlan
    from ..results import RunResult

__all__ = ["BaseExecutor", "Executor", "default_workers", "drive_with_pool", "resolve_executor"]


@runtime_checkable
class Executor(Protocol):
    """What ``run(executor=...)`` accepts besides a name."""

    name: ClassVar[str]

    def run_plan(self, plan: RunPlan) -> None:
        """Run every runnable node of ``plan`` and mark the others; block until done."""

    def execute(self, workflow: Any, **run_kwargs: Any) -> RunResult:
        """Run ``workflow`` on this executor: ``workflow.run(executor=self, **run_kwargs)``."""


class BaseExecutor(ABC):
    """Shared behaviour: ``execute(workflow, **run_kwargs)``; subclasses implement ``run_plan``."""

    name: ClassVar[str] = "base"

    @abstractmethod
    def run_plan(self, plan: RunPlan) -> None:
        """Run every runnable node of ``plan`` and mark the others; block until done."""

    def execute(self, workflow: Any, **run_kwargs: Any) -> RunResult:
        """Run ``workflow`` (a ``Workflow``, ``DAG`` or ``Flow``) here and return its ``RunResult``.

        Args:
            workflow: The workflow to run.
            **run_kwargs: The other ``run()`` keywords (``params``, ``store``, ...).
        """
        result: RunResult = workflow.run(executor=self, **run_kwargs)
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


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


def resolve_executor(spec: object, max_workers: int | None) -> Any:
    """An executor object for ``run(executor=spec, max_workers=...)``.

    Names: ``"thread"`` (default), ``"sequential"``, ``"process"``, ``"async"``, ``"dask"``.
    An object with ``run_plan`` (or ``arun_plan``) is used as is.

    Raises:
        ValueError: an unknown name.
        TypeError: neither a name nor an executor object.
    """
    if spec is None or spec == "thread" or spec == "threaded":
        from .threaded import ThreadedExecutor

        return ThreadedExecutor(max_workers=max_workers)
    if isinstance(spec, str):
        if spec == "sequential":
            from .sequential import SequentialExecutor

            return SequentialExecutor()
        if spec == "process":
            from .process import ProcessExecutor

            return ProcessExecutor(max_workers=max_workers)
        if spec in ("async", "asyncio"):
            from .aio import AsyncExecutor

            return AsyncExecutor(max_concurrency=max_workers)
        if spec == "dask":
            try:
                from .dask import DaskExecutor  # type: ignore[import-not-found, unused-ignore]
            except ImportError as e:
                raise ValueError("executor 'dask' is not available in this installation") from e
            return DaskExecutor()
        raise ValueError(f"unknown executor {spec!r}: use 'thread', 'sequential', 'process', 'async' or 'dask'")
    if hasattr(spec, "run_plan") or hasattr(spec, "arun_plan"):
        return spec
    raise TypeError(f"executor must be a name or an executor object, got {type(spec).__name__}: {spec!r}")


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
