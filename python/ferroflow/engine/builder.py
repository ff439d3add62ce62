"""``Flow``: the builder front door, stage by stage.

- ``.add(t)``: ``t`` runs after every task of the previous stage, and is the new stage;
- ``.branch(*ts)``: each of ``ts`` runs after the previous stage; together they are the new stage;
- ``.merge(t)``: ``t`` runs after every task of the current stage.

A parameter named after any earlier task receives its result (rule 1 of docs/guide/tasks.md, "How a task gets its inputs"), so a merge
step sees every earlier stage by name.

Example:
    >>> from ferroflow import Flow
    >>> def fetch_user():
    ...     return {"id": 1}
    >>> def fetch_orders(user):
    ...     return ["o1"]
    >>> def fetch_recs(user):
    ...     return ["r1"]
    >>> def combine(fetch_user, fetch_orders, fetch_recs):
    ...     return (fetch_user["id"], fetch_orders + fetch_recs)
    >>> flow = Flow("users").add(fetch_user).branch(fetch_orders, fetch_recs).merge(combine)
    >>> flow.run(store=None)["combine"]
    (1, ['o1', 'r1'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import DuplicateTaskError
from .dag import WorkflowFront
from .tasks import Task, registry
from .workflow import Workflow

__all__ = ["Flow"]


class Flow(WorkflowFront):
    """A workflow built as a sequence of stages.

    Args:
        name: The workflow's name.
        max_workers: Default ``max_workers`` of its runs.
        description: Free text for plans and reports.

    Example:
        >>> from ferroflow import Flow, task
        >>> f = Flow("f").add(task(lambda: 2, name="two")).add(task(lambda x: x * x, name="square"))
        >>> f.run(store=None)["square"]
        4
    """

    def __init__(self, name: str, max_workers: int | None = None, *, description: str | None = None) -> None:
        self.name = name
        self.max_workers = max_workers
        self.description = description
        self._wf = Workflow(name, description=description, max_workers=max_workers)
        self._stage: list[str] = []
        self._names: set[str] = set()
        self._pending: list[Task[..., Any]] = []
        self._pending_deps: dict[str, list[str]] = {}

    @property
    def stage(self) -> list[str]:
        """Names of the tasks of the current (last) stage."""
        return list(self._stage)

    def _take(self, t: Task[..., Any] | Callable[..., Any], deps: list[str]) -> str:
        if isinstance(t, Task):
            task = t
        elif callable(t):
            task = Task(t)
        else:
            raise TypeError(f"flow {self.name!r}: expected a Task or a callable, got {type(t).__name__}: {t!r}")
        if task.name in self._names:
            raise DuplicateTaskError(
                f"flow {self.name!r} already has a task named {task.name!r}; task names must be unique"
            )
        self._names.add(task.name)
        registry.unregister(task)  # it belongs to this flow now
        self._pending.append(task)
        self._pending_deps[task.name] = deps
        return task.name

    def add(self, t: Task[..., Any] | Callable[..., Any]) -> Flow:
        """Add a stage of one task that runs after every task of the previous stage."""
        self._stage = [self._take(t, list(self._stage))]
        return self

    def branch(self, *ts: Task[..., Any] | Callable[..., Any]) -> Flow:
        """Add a stage of tasks that each run after the previous stage (in parallel)."""
        if not ts:
            raise ValueError(f"flow {self.name!r}: branch() needs at least one task")
        previous = list(self._stage)
        self._stage = [self._take(t, previous) for t in ts]
        return self

    def merge(self, t: Task[..., Any] | Callable[..., Any]) -> Flow:
        """Add a task that runs after every task of the current stage."""
        self._stage = [self._take(t, list(self._stage))]
        return self

    def _workflow(self) -> Workflow:
        if self._pending:
            pending, deps = self._pending, self._pending_deps
            self._pending, self._pending_deps = [], {}
            try:
                self._wf._add_many(pending, deps)
            except BaseException:
                for task in pending:
                    self._names.discard(task.name)
                raise
        return self._wf

    def __repr__(self) -> str:
        return f"Flow({self.name!r}, tasks={len(self._names)})"
