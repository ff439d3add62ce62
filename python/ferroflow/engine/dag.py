"""``DAG``: the operator front door. Tasks wired with ``>>`` / ``<<`` form the graph.

Which tasks a DAG holds:

- ``DAG(name, tasks=[...])``: those tasks and all their ancestors;
- ``with DAG(name) as dag:``: the tasks created or wired inside the block (and their
  ancestors);
- ``DAG(name)`` otherwise: every task of the default registry (``ferroflow.registry``).

Example:
    >>> from ferroflow import DAG, task
    >>> with DAG("etl") as dag:
    ...     @task
    ...     def extract():
    ...         return [1, 2, 3]
    ...     @task
    ...     def total(data):
    ...         return sum(data)
    ...     _ = extract >> total
    >>> dict(dag.run(executor="sequential", store=None))
    {'extract': [1, 2, 3], 'total': 6}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, Self, Unpack

from ..results import RunResult, TaskStatus
from .tasks import Task, active_dags, iter_closure, registry
from .workflow import RunKeywords, Workflow

__all__ = ["DAG"]


class WorkflowFront(ABC):
    """The inspection and run API of a front door that builds a :class:`Workflow`."""

    name: str
    max_workers: int | None

    @abstractmethod
    def _workflow(self) -> Workflow:
        """The workflow this front door stands for (DAG and Flow build it their own way)."""

    @property
    def workflow(self) -> Workflow:
        """The :class:`Workflow` this front door builds (built and validated on first use)."""
        return self._workflow()

    def run(self, **options: Unpack[RunKeywords]) -> RunResult:
        """Run it; same keywords and result as :meth:`Workflow.run` (a mapping name → result)."""
        return self._workflow().run(**options)

    async def execute_async(self, executor: Any = "async", **run_kwargs: Any) -> RunResult:
        """``await`` a run on the running loop; see :meth:`Workflow.execute_async`."""
        return await self._workflow().execute_async(executor, **run_kwargs)

    def visualize(self, format: str = "ascii") -> str:
        """Draw it as ``"ascii"``, ``"mermaid"`` or ``"dot"`` text."""
        return self._workflow().visualize(format)

    def get_execution_plan(self) -> list[list[Task[..., Any]]]:
        """The tasks in Kahn layers."""
        return self._workflow().get_execution_plan()

    def get_task(self, name: str) -> Task[..., Any]:
        """The task called ``name`` (``KeyError`` if none)."""
        return self._workflow().get_task(name)

    def get_dependencies(self, name: str) -> list[str]:
        """The names ``name`` runs after."""
        return self._workflow().get_dependencies(name)

    def get_all_tasks(self) -> dict[str, Task[..., Any]]:
        """Every task by name, in the order added."""
        return self._workflow().get_all_tasks()

    def get_task_status(self, name: str) -> TaskStatus:
        """The status of ``name`` in the latest run."""
        return self._workflow().get_task_status(name)

    def get_task_result(self, name: str) -> Any:
        """The result of ``name`` in the latest run."""
        return self._workflow().get_task_result(name)

    def get_workflow_stats(self) -> dict[str, Any]:
        """Counts of the latest run (see :meth:`Workflow.get_workflow_stats`)."""
        return self._workflow().get_workflow_stats()

    @property
    def tasks(self) -> list[Task[..., Any]]:
        """Every task."""
        return list(self._workflow().get_all_tasks().values())

    def __len__(self) -> int:
        return len(self._workflow())

    def __contains__(self, name: object) -> bool:
        return name in self._workflow()


class DAG(WorkflowFront):
    """A workflow made of tasks wired with ``>>`` / ``<<``.

    Args:
        name: The workflow's name.
        tasks: Run these tasks and all their ancestors (default: see the module doc).
        max_workers: Default ``max_workers`` of its runs.
        description: Free text for plans and reports.

    Raises:
        DuplicateTaskError, CycleError: when the tasks are collected (at once with
            ``tasks=``, at the end of a ``with`` block, else on first use).

    Example:
        >>> from ferroflow import DAG, task
        >>> a = task(lambda: 1, name="a")
        >>> b = task(lambda a: a + 1, name="b")
        >>> _ = a >> b
        >>> DAG("ab", tasks=[b]).run(store=None)["b"]
        2
    """

    def __init__(
        self,
        name: str,
        tasks: Iterable[Task[..., Any]] | None = None,
        max_workers: int | None = None,
        *,
        description: str | None = None,
    ) -> None:
        self.name = name
        self.max_workers = max_workers
        self.description = description
        self._collected: dict[int, Task[..., Any]] = {}
        self._explicit = tasks is not None
        self._built: Workflow | None = None
        if tasks is not None:
            for t in tasks:
                if not isinstance(t, Task):
                    raise TypeError(f"DAG {name!r}: tasks= takes Tasks, got {type(t).__name__}: {t!r}")
                self._collected[id(t)] = t
            self._workflow()

    def __enter__(self) -> Self:
        self._explicit = True
        active_dags().append(self)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        stack = active_dags()
        if stack and stack[-1] is self:
            stack.pop()
        elif self in stack:
            stack.remove(self)
        if exc_type is None:
            self._workflow()

    def collect(self, t: Task[..., Any]) -> None:
        """Take ``t`` into this DAG (tasks created or wired inside its ``with`` block come here)."""
        if id(t) not in self._collected:
            self._collected[id(t)] = t
            self._built = None

    def add(self, *tasks: Task[..., Any]) -> DAG:
        """Add tasks (and their ancestors) to the DAG; returns it."""
        self._explicit = True
        for t in tasks:
            self.collect(t)
        return self

    def _workflow(self) -> Workflow:
        if self._built is None:
            if self._explicit:
                roots = list(self._collected.values())
                # Ancestors wired only by a parameter's name come from the default registry.
                by_name = {t.name: t for t in registry.tasks} | {t.name: t for t in roots}
                members = sorted(iter_closure(roots, by_name), key=lambda t: t._seq)
            else:
                members = sorted(iter_closure(registry.tasks), key=lambda t: t._seq)
            inside = {id(t) for t in members}
            deps = {t.name: [u.name for u in t.upstream if id(u) in inside] for t in members}
            wf = Workflow(self.name, description=self.description, max_workers=self.max_workers)
            wf._add_many(members, deps)
            self._built = wf
        return self._built

    def __repr__(self) -> str:
        return f"DAG({self.name!r}, tasks={len(self._workflow())})"
