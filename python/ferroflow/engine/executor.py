"""The executor protocol: what ``run(executor=...)`` accepts, and how names become executors.

An executor runs a :class:`~ferroflow.engine.plan.RunPlan`, the public type of one run
as executors see it (its docstring lists what an executor may use): it calls
``plan.execute(i)`` (or ``await plan.execute_async(i)``) once for every node whose
upstreams completed, and reports the nodes that never ran (``plan.mark_blocked`` /
``plan.mark_cancelled``). Everything else (bindings, retries, statuses, the store)
lives in the plan, so every executor behaves the same. See ``docs/writing-an-executor.md``.

An executor is any object with a ``run_plan(plan)`` method (:class:`PlanExecutor`) or an
``async arun_plan(plan)`` method (:class:`AsyncPlanExecutor`); :class:`BaseExecutor` is
the base class that adds ``execute(workflow)`` and recognises both protocols in
``isinstance`` checks.

Example:
    >>> from ferroflow import Workflow, task
    >>> class Inline(BaseExecutor):
    ...     name = "inline"
    ...     def run_plan(self, plan):
    ...         for i in plan.graph.topological_ids():
    ...             plan.execute(i)
    >>> wf = Workflow("tiny")
    >>> _ = wf.add_task(task(lambda: 1, name="one"))
    >>> Inline().execute(wf, store=None)["one"]
    1
    >>> class OnlyTheMethod:   # no base class: the protocol is enough
    ...     def run_plan(self, plan):
    ...         for i in plan.graph.topological_ids():
    ...             plan.execute(i)
    >>> isinstance(OnlyTheMethod(), BaseExecutor), wf.run(executor=OnlyTheMethod(), store=None)["one"]
    (True, 1)
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from .plan import AsyncPlanExecutor, Executor, PlanExecutor

if TYPE_CHECKING:
    from ..results import RunResult
    from .plan import RunPlan

__all__ = ["EXECUTOR_NAMES", "AsyncPlanExecutor", "BaseExecutor", "Executor", "PlanExecutor", "resolve_executor"]


class BaseExecutor(ABC):
    """The public base of executors: ``execute(workflow, **run_kwargs)`` over ``run_plan``.

    Subclasses implement :meth:`run_plan` (and may add ``async arun_plan(plan)``, which
    ``await wf.execute_async(executor=...)`` prefers). ``isinstance(obj, BaseExecutor)``
    is also true for an object of any class that offers ``run_plan`` or ``arun_plan``:
    that is how ``run(executor=obj)`` recognises an executor.
    """

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

    @classmethod
    def __subclasshook__(cls, other: type) -> bool:
        if cls is BaseExecutor and any(callable(getattr(other, m, None)) for m in ("run_plan", "arun_plan")):
            return True
        return NotImplemented  # type: ignore[no-any-return]  # ABC protocol: fall back to subclassing


#: Executor names -> (module, class, the keyword that receives ``max_workers``). The
#: engine names the executors it ships by module path, so that it never imports the
#: ``executors`` package (which imports the engine): docs/architecture.md.
EXECUTOR_NAMES: dict[str, tuple[str, str, str | None]] = {
    "thread": ("ferroflow.executors.threaded", "ThreadedExecutor", "max_workers"),
    "threaded": ("ferroflow.executors.threaded", "ThreadedExecutor", "max_workers"),
    "sequential": ("ferroflow.executors.sequential", "SequentialExecutor", None),
    "process": ("ferroflow.executors.process", "ProcessExecutor", "max_workers"),
    "async": ("ferroflow.executors.aio", "AsyncExecutor", "max_concurrency"),
    "asyncio": ("ferroflow.executors.aio", "AsyncExecutor", "max_concurrency"),
    "dask": ("ferroflow.executors.dask", "DaskExecutor", None),
}


def resolve_executor(spec: object, max_workers: int | None) -> Executor:
    """An executor object for ``run(executor=spec, max_workers=...)``.

    Names: ``"thread"`` (default), ``"sequential"``, ``"process"``, ``"async"``, ``"dask"``.
    An object with ``run_plan`` (or ``arun_plan``) is used as is.

    Raises:
        ValueError: an unknown name.
        TypeError: neither a name nor an executor object.

    Example:
        >>> resolve_executor("sequential", None)
        SequentialExecutor()
        >>> resolve_executor("fast", None)
        Traceback (most recent call last):
        ...
        ValueError: unknown executor 'fast': use 'thread', 'sequential', 'process', 'async' or 'dask'
    """
    if spec is None:
        spec = "thread"
    if isinstance(spec, str):
        entry = EXECUTOR_NAMES.get(spec)
        if entry is None:
            raise ValueError(f"unknown executor {spec!r}: use 'thread', 'sequential', 'process', 'async' or 'dask'")
        module_name, class_name, workers_keyword = entry
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            if spec == "dask":
                raise ValueError("executor 'dask' is not available in this installation") from e
            raise
        kwargs = {workers_keyword: max_workers} if workers_keyword else {}
        executor: Executor = getattr(module, class_name)(**kwargs)
        return executor
    if isinstance(spec, (PlanExecutor, AsyncPlanExecutor)):
        return spec
    raise TypeError(f"executor must be a name or an executor object, got {type(spec).__name__}: {spec!r}")
