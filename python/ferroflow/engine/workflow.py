"""``Workflow``: the explicit front door, and the engine ``DAG`` and ``Flow`` build on.

Tasks are added with their dependencies and validated at once: a duplicate name raises
``DuplicateTaskError``, an unknown dependency ``UnknownDependencyError``, and an edge that
closes a loop (declared, or made by a parameter named after a task: rule 1 of docs/guide/tasks.md)
``CycleError`` with the path. The graph lives in the Rust core (``ferroflow._core.Graph``).

Example:
    >>> from ferroflow import Task, Workflow
    >>> wf = Workflow("etl")
    >>> wf.add_task(Task(name="extract", fn=lambda: [1, 2, 3]))
    Task('extract')
    >>> wf.add_task(Task(name="load", fn=lambda rows: len(rows)), depends_on=["extract"])
    Task('load')
    >>> result = wf.run(executor="sequential", store=None)
    >>> result["load"], result.status
    (3, 'completed')
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypedDict

from .._core import Graph
from ..errors import CycleError, DuplicateTaskError, UnknownDependencyError
from ..results import RunResult, TaskRecord, TaskStatus
from ..store.store import DEFAULT_STORE
from ..trigger import current_trigger
from .atimport import refuse_run_at_import
from .bridge import run_async_entry, run_blocking
from .display import terminal_progress, wants_terminal_progress
from .executor import AsyncPlanExecutor, PlanExecutor, resolve_executor
from .finishing import execute_run, execute_run_async
from .inputs import Binding, plan_binding
from .plan import Bindings, FastTable, RunOptions, RunPlan, stats_of
from .planning import fast_table, gc_paused, plan_run
from .tasks import Task, registry

__all__ = ["Workflow"]


def _index_params(index: dict[str, list[str]], t: Task[..., Any]) -> None:
    name = t.name
    for pn in t.named_params:
        if pn != name:
            bucket = index.get(pn)
            if bucket is None:
                index[pn] = [name]
            else:
                bucket.append(name)


def _deps_in_order(
    names: Sequence[str], deps: Mapping[str, Sequence[str | Task[..., Any]]]
) -> list[Sequence[str | Task[..., Any]]]:
    """The declared upstreams of each name of ``names``, in order (empty where ``deps`` has none).

    When ``deps`` lists exactly the tasks, in their order (as bulk builders do), its values
    are read in sequence instead of looking every name up, which is several times cheaper
    for big batches.
    """
    if len(deps) == len(names) and list(deps) == names:
        return list(deps.values())
    no_deps: tuple[str, ...] = ()
    return [deps.get(name, no_deps) for name in names]


def _dep_name(dep: object, task_name: str) -> str:
    if isinstance(dep, Task):
        return dep.name
    if isinstance(dep, str):
        return dep
    raise TypeError(f"task {task_name!r}: depends_on takes task names or Tasks, got {type(dep).__name__}: {dep!r}")


class RunKeywords(TypedDict, total=False):
    """The keywords of :meth:`Workflow.run`, for the front doors that pass them through."""

    executor: Any
    max_workers: int | None
    params: Mapping[str, Any] | None
    fail_fast: bool
    raise_on_failure: bool
    resume: str | bool | None
    store: Any
    report_path: Any
    refresh: bool
    progress: Callable[[TaskRecord], object] | bool | None


def run_options(keywords: Mapping[str, Any]) -> RunOptions:
    """The :class:`RunOptions` of a ``run()`` call, from its keywords (``locals()`` of the call).

    Example:
        >>> run_options({"self": None, "fail_fast": True, "store": None, **dict.fromkeys(
        ...     ["executor", "max_workers", "params", "resume", "report_path", "progress"])}).fail_fast
        True
    """
    return RunOptions(**{k: keywords[k] for k in RunKeywords.__annotations__ if k in keywords})


class Workflow:
    """A named DAG of tasks, built explicitly.

    Args:
        name: The workflow's name (runs are recorded under it).
        description: Free text for plans and reports.
        max_workers: Default ``max_workers`` of its runs.

    Example:
        >>> from ferroflow import Workflow, task
        >>> wf = Workflow("numbers")
        >>> one = wf.add_task(task(lambda: 1, name="one"))
        >>> two = wf.add_task(task(lambda one: one + 1, name="two"))   # `one` is injected by name
        >>> wf.get_dependencies("two")
        ['one']
        >>> wf.run(store=None)["two"]
        2
    """

    def __init__(self, name: str, *, description: str | None = None, max_workers: int | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Workflow name must be a non-empty str, got {name!r}")
        self.name = name
        self.description = description
        self.max_workers = max_workers
        self._graph = Graph()
        self._tasks: dict[str, Task[..., Any]] = {}
        self._index: dict[str, int] = {}
        self._order: list[Task[..., Any]] = []
        self._deps: dict[str, tuple[str, ...]] = {}
        # parameter name -> tasks with a parameter of that name; rebuilt lazily after bulk adds
        self._param_index: dict[str, list[str]] | None = {}
        self._last: RunPlan | None = None
        self._up_ids: list[tuple[int, ...]] = []
        self._named: list[bool] = []
        self._fast_cache: FastTable | None = None

    # ------------------------------------------------------------ building

    def add_task(
        self,
        task: Task[..., Any] | Callable[..., Any],
        depends_on: Iterable[str | Task[..., Any]] | str | Task[..., Any] | None = None,
    ) -> Task[..., Any]:
        """Add a task after its dependencies, validating at once.

        Args:
            task: A :class:`Task` (or a plain function, wrapped in one).
            depends_on: Names (or tasks) this task runs after, in the order their results
                fill its positional parameters.

        Returns:
            The task added.

        Raises:
            DuplicateTaskError: the name is taken.
            UnknownDependencyError: a dependency is not in the workflow.
            CycleError: the task would close a loop (``.cycle`` gives the path).

        Example:
            >>> from ferroflow import Workflow, task
            >>> wf = Workflow("w")
            >>> a = wf.add_task(task(lambda: 1, name="a"))
            >>> wf.add_task(task(lambda x: x, name="b"), depends_on=["a"])
            Task('b')
        """
        t = task if type(task) is Task else self._as_task(task)
        name = t.name
        tasks = self._tasks
        if name in tasks:
            raise DuplicateTaskError(
                f"workflow {self.name!r} already has a task named {name!r}; task names must be unique"
            )
        graph, index = self._graph, self._index
        found = self._listed_upstreams(t, depends_on, index)
        if found is not None:
            upstreams, up_ids, named = found
        else:
            if depends_on is None:
                deps: Iterable[str | Task[..., Any]] = ()
            elif isinstance(depends_on, (str, Task)):
                deps = (depends_on,)
            else:
                deps = depends_on
            listed, listed_ids, named = self._bulk_upstreams(t, deps, index)
            upstreams, up_ids = tuple(listed), tuple(listed_ids)
        by_param = self._param_index
        if by_param is None:
            by_param = self._params_by_name()
        waiting = by_param.get(name)
        downstream = [d for d in waiting if name not in self._deps[d]] if waiting else ()
        node = graph.add_node_after(name, up_ids)  # edges into a new node cannot close a loop
        if downstream:
            try:
                for down in downstream:
                    graph.add_edge_ids(node, index[down])
            except BaseException:
                self._rebuild_graph()
                raise
        # Commit (the graph part is in place).
        self._fast_cache = None
        index[name] = len(self._order)
        self._order.append(t)
        tasks[name] = t
        self._deps[name] = upstreams
        self._up_ids.append(up_ids)
        self._named.append(named)
        _index_params(by_param, t)
        registry.unregister(t)  # it belongs to this workflow now; the default registry keeps strays only
        for down in downstream:
            self._inject(name, down)
        return t

    @staticmethod
    def _listed_upstreams(
        t: Task[..., Any],
        depends_on: Iterable[str | Task[..., Any]] | str | Task[..., Any] | None,
        index: Mapping[str, int],
    ) -> tuple[tuple[str, ...], tuple[int, ...], bool] | None:
        """:meth:`_bulk_upstreams` for the usual ``depends_on`` (None, or a list of distinct
        names of tasks already in the workflow) in a few C-level passes; None for anything
        else (which the general path then normalises or rejects)."""
        name = t.name
        if depends_on is None:
            upstreams: tuple[str, ...] = ()
            up_ids: tuple[int, ...] = ()
        elif type(depends_on) is list and name not in depends_on:
            try:
                up_ids = tuple(map(index.__getitem__, depends_on))
            except (KeyError, TypeError):  # an unknown name, a Task, an unhashable value
                return None
            if len(up_ids) > 1 and len(set(up_ids)) < len(up_ids):
                return None
            upstreams = tuple(depends_on)
        else:
            return None
        named = False
        for pn in t.named_params:  # rule 1: a parameter named after another task
            if pn != name and pn in index:
                named = True
                if pn not in upstreams:
                    upstreams += (pn,)
                    up_ids += (index[pn],)
        # Tuples (not lists): the collector stops tracking tuples of strings and ints, so a
        # big workflow does not make every later collection rescan its wiring.
        return upstreams, up_ids, named

    def _as_task(self, task: object) -> Task[..., Any]:
        if isinstance(task, Task):
            return task
        if callable(task):
            return Task(task)
        raise TypeError(
            f"workflow {self.name!r}: add_task expects a Task or a callable, got {type(task).__name__}: {task!r}"
        )

    def _unknown_message(self, name: str, dep: str, known: Iterable[str]) -> str:
        candidates = list(known)
        # A suggestion scans every name: skip it for huge workflows so the error stays instant.
        close = difflib.get_close_matches(dep, candidates, n=1) if len(candidates) <= 5000 else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (
            f"task {name!r} depends on {dep!r}, which is not a task of workflow {self.name!r}{hint}; "
            "add the dependency first"
        )

    def _inject(self, up: str, down: str) -> None:
        """Record that ``down`` (added earlier) takes ``up``'s result through a parameter."""
        self._deps[down] += (up,)
        i = self._index[down]
        self._up_ids[i] += (self._index[up],)
        self._named[i] = True

    def _rebuild_graph(self) -> None:
        """Rebuild the graph from the committed tasks (after a rejected ``add_task``)."""
        graph = Graph()
        edges = [(up, name) for name, ups in self._deps.items() for up in ups]
        graph.extend(list(self._tasks), edges)
        self._graph = graph

    def _add_many(self, tasks: Sequence[Task[..., Any]], deps: Mapping[str, Sequence[str | Task[..., Any]]]) -> None:
        """Add many tasks at once (one bulk graph build, linear time); all or nothing.

        ``deps`` maps a task name to its declared upstreams (which may be in the batch).
        """
        with gc_paused():
            self._add_many_unpaused(tasks, deps)

    def _add_many_unpaused(
        self, tasks: Sequence[Task[..., Any]], deps: Mapping[str, Sequence[str | Task[..., Any]]]
    ) -> None:
        existing = self._tasks
        base = len(self._order)
        names = [t.name for t in tasks]
        new_index = dict(zip(names, range(base, base + len(names)), strict=True))
        if len(new_index) < len(names) or (existing and not existing.keys().isdisjoint(names)):
            self._raise_duplicate(names)
        # Node ids of every name a new task may depend on (the batch, then what was there).
        ids_of = new_index if not existing else {**self._index, **new_index}
        # Parameter names that name a task, found once per distinct parameter list (tasks
        # made from one function share it), so that most parameters cost no lookup.
        signatures = {id(t.params): t.params for t in tasks}.values()
        task_params = {p.name for params in signatures for p in params if p.name in ids_of}
        new_deps: list[list[str]] = []
        new_up_ids: list[list[int]] = []
        new_named: list[bool] = []
        upstreams, no_deps = self._bulk_upstreams, ()
        if task_params:
            for t in tasks:
                declared, ids, named = upstreams(t, deps.get(t.name, no_deps), ids_of, task_params)
                new_deps.append(declared)
                new_up_ids.append(ids)
                new_named.append(named)
        else:
            self._plain_upstreams(tasks, names, deps, ids_of, new_deps, new_up_ids)
            new_named = [False] * len(tasks)
        later: list[tuple[int, str]] = []  # (new node, earlier task taking its result by name)
        if existing:
            by_param = self._params_by_name()
            for new in names:
                for other in by_param.get(new, ()):
                    if new not in self._deps[other]:
                        later.append((new_index[new], other))
        self._graph.extend_upstreams(names, new_up_ids, [(node, self._index[other]) for node, other in later])
        self._param_index = None  # cheaper to rebuild on demand than to maintain in a bulk add
        if self._index:
            self._index.update(new_index)
        else:  # a first bulk add: the batch's index is the whole index
            self._index = new_index
        self._order.extend(tasks)
        existing.update(zip(names, tasks, strict=True))
        self._deps.update(zip(names, map(tuple, new_deps), strict=True))
        self._up_ids.extend(map(tuple, new_up_ids))
        self._named.extend(new_named)
        for node, other in later:
            self._inject(names[node - base], other)
        self._fast_cache = None

    def _plain_upstreams(
        self,
        tasks: Sequence[Task[..., Any]],
        names: Sequence[str],
        deps: Mapping[str, Sequence[str | Task[..., Any]]],
        ids_of: Mapping[str, int],
        out_deps: list[list[str]],
        out_ids: list[list[int]],
    ) -> None:
        """Upstreams of a batch in which no parameter names a task (so nothing is injected).

        The common case (a list or tuple of distinct, known dependency names) costs one
        list comprehension per task; anything else (another iterable, a ``Task`` given, a
        duplicate, an unknown name, a self dependency) goes through :meth:`_bulk_upstreams`, which normalises or raises
        exactly as a single ``add_task`` would. Appends to ``out_deps`` and ``out_ids``.
        """
        slow = self._bulk_upstreams
        for t, name, ups in zip(tasks, names, _deps_in_order(names, deps), strict=True):
            ids: list[int] | None = None
            if isinstance(ups, (list, tuple)):
                try:
                    ids = [ids_of[dep] for dep in ups]
                except (KeyError, TypeError):  # a Task, an unknown name, an unhashable value
                    ids = None
            if ids is None or name in ups or (len(ids) > 1 and len(set(ids)) < len(ids)):
                declared, ids, _ = slow(t, ups, ids_of, ())
                out_deps.append(declared)
            else:
                out_deps.append(list(ups))  # type: ignore[arg-type]
            out_ids.append(ids)

    def _raise_duplicate(self, names: Sequence[str]) -> None:
        seen: set[str] = set()
        for name in names:
            if name in self._tasks or name in seen:
                raise DuplicateTaskError(
                    f"workflow {self.name!r} has two tasks named {name!r}; task names must be unique"
                )
            seen.add(name)

    def _params_by_name(self) -> dict[str, list[str]]:
        """Parameter name -> names of the tasks with such a (named) parameter."""
        if self._param_index is None:
            index: dict[str, list[str]] = {}
            for t in self._order:
                _index_params(index, t)
            self._param_index = index
        return self._param_index

    def _bulk_upstreams(
        self,
        t: Task[..., Any],
        deps: Iterable[str | Task[..., Any]],
        ids_of: Mapping[str, int],
        task_params: Container[str] | None = None,
    ) -> tuple[list[str], list[int], bool]:
        """Declared upstreams of ``t`` (validated), then the name-injected ones, with their
        node ids, and whether a parameter of ``t`` is named after one of them (binding
        rule 1); ``ids_of`` maps every name ``t`` may depend on to its node id, and
        ``task_params`` (if given) holds the parameter names that may name a task."""
        name, get = t.name, ids_of.get
        items = deps if isinstance(deps, (list, tuple)) else list(deps)
        declared: list[str] = []
        ids: list[int] = []
        seen: set[str] | list[str] = set() if len(items) > 8 else declared
        for dep in items:
            dn = dep if type(dep) is str else _dep_name(dep, name)
            if dn == name:
                raise CycleError(f"task {name!r} depends on itself: {name} -> {name}", [name, name])
            node = get(dn)
            if node is None:
                raise UnknownDependencyError(self._unknown_message(name, dn, ids_of))
            if dn in seen:
                continue
            declared.append(dn)
            ids.append(node)
            if seen is not declared:
                seen.add(dn)  # type: ignore[union-attr]
        named = False
        for pn in t.named_params:
            if pn in seen:
                named = True
            elif pn != name and (task_params is None or pn in task_params):
                node = get(pn)
                if node is not None:
                    declared.append(pn)
                    ids.append(node)
                    named = True
                    if seen is not declared:
                        seen.add(pn)  # type: ignore[union-attr]
        return declared, ids, named

    # ------------------------------------------------------------ inspection

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task[..., Any]]:
        return iter(list(self._order))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, tasks={len(self._order)})"

    @property
    def graph(self) -> Graph:
        """The underlying ``ferroflow._core.Graph`` (node ids in insertion order)."""
        return self._graph

    def get_task(self, name: str) -> Task[..., Any]:
        """The task called ``name``.

        Raises:
            KeyError: no such task.
        """
        try:
            return self._tasks[name]
        except KeyError:
            raise KeyError(f"workflow {self.name!r} has no task {name!r}") from None

    def get_dependencies(self, name: str) -> list[str]:
        """The names ``name`` runs after: declared ones in order, then name-injected ones."""
        self.get_task(name)
        return list(self._deps[name])

    def get_dependents(self, name: str) -> list[str]:
        """The names that run directly after ``name``."""
        self.get_task(name)
        return self._graph.successors(name)

    def get_all_tasks(self) -> dict[str, Task[..., Any]]:
        """Every task by name, in the order added (a new dict each call).

        Example:
            >>> from ferroflow import Workflow, task
            >>> wf = Workflow("p")
            >>> for n in "ba":
            ...     _ = wf.add_task(task(lambda: 0, name=n))
            >>> list(wf.get_all_tasks()), wf.get_all_tasks()["a"].name
            (['b', 'a'], 'a')
        """
        return {t.name: t for t in self._order}

    def get_execution_plan(self) -> list[list[Task[..., Any]]]:
        """The tasks in Kahn layers: each task one layer after its last upstream.

        Example:
            >>> from ferroflow import Workflow, task
            >>> wf = Workflow("p")
            >>> for n in "abc":
            ...     _ = wf.add_task(task(lambda: 0, name=n), depends_on=["a"] if n != "a" else None)
            >>> [[t.name for t in layer] for layer in wf.get_execution_plan()]
            [['a'], ['b', 'c']]
        """
        order = self._order
        return [[order[i] for i in layer] for layer in self._graph.layer_ids()]

    def _node(self, name: str) -> int:
        idx = self._index.get(name)
        if idx is None:
            raise KeyError(f"workflow {self.name!r} has no task {name!r}")
        return idx

    def _last_plan(self, idx: int) -> RunPlan | None:
        last = self._last
        if last is None or idx >= len(last.status):
            return None
        return last

    def get_task_status(self, name: str) -> TaskStatus:
        """The status of ``name`` in the latest run (``PENDING`` before any run)."""
        idx = self._node(name)
        last = self._last_plan(idx)
        return TaskStatus.PENDING if last is None else last.status[idx]

    def get_task_result(self, name: str) -> Any:
        """The result of ``name`` in the latest run (``None`` if it has none)."""
        idx = self._node(name)
        last = self._last_plan(idx)
        if last is None or last.status[idx] is not TaskStatus.COMPLETED:
            return None
        return last.results[idx]

    def get_task_record(self, name: str) -> TaskRecord | None:
        """The :class:`TaskRecord` of ``name`` in the latest run, if there was one."""
        idx = self._node(name)
        last = self._last_plan(idx)
        return None if last is None else last.record(idx)

    def get_workflow_stats(self) -> dict[str, Any]:
        """Counts of the latest run: ``total_tasks, completed, failed, skipped, pending,
        running, total_time_seconds`` (tasks that never ran count as pending)."""
        last = self._last
        if last is None:
            return stats_of([TaskStatus.PENDING] * len(self._order), 0.0)
        return last.stats()

    def visualize(self, format: str = "ascii") -> str:
        """Draw the workflow as ``"ascii"``, ``"mermaid"`` or ``"dot"`` text.

        Example:
            >>> from ferroflow import Workflow, task
            >>> wf = Workflow("v")
            >>> _ = wf.add_task(task(lambda: 0, name="a"))
            >>> print(wf.visualize("mermaid"))
            flowchart TD
                n0["a"]
        """
        from .visualize import render

        statuses = None
        if self._last is not None:
            statuses = list(self._last.status)
        return render(self.name, self._order, self._deps, self._index, self._graph.layer_ids(), format, statuses)

    # ------------------------------------------------------------ running

    def run(
        self,
        executor: Any = None,
        max_workers: int | None = None,
        params: Mapping[str, Any] | None = None,
        fail_fast: bool = False,
        raise_on_failure: bool = True,
        resume: str | bool | None = None,
        store: Any = DEFAULT_STORE,
        report_path: Any = None,
        refresh: bool = False,
        progress: Callable[[TaskRecord], object] | bool | None = None,
    ) -> RunResult:
        """Run the workflow and return its :class:`RunResult` (a mapping name → result).

        Args:
            executor: ``"thread"`` (default), ``"sequential"``, ``"process"``, ``"async"``,
                or an executor object.
            max_workers: Worker count (default: the workflow's, else the executor's).
            params: Run parameters, bound to task parameters of the same name.
            fail_fast: After the first failure, start nothing new (``CANCELLED``).
            raise_on_failure: Raise ``WorkflowError`` when a task failed.
            resume: A run id (or True: the last failed run) whose completed tasks are reused.
            store: Where the run is recorded: default location, a ``.db`` path, a
                directory, a store object, or ``None`` for nothing.
            report_path: Also write the run report (JSON) there.
            refresh: Recompute cached tasks (and refresh their cache entries).
            progress: Called with each task's :class:`TaskRecord` when it reaches its
                final status (from any thread; its exceptions are logged); an object that
                also has ``task_started(name)`` is told when each task starts. ``None``
                (default): on a terminal, when no logging is configured (neither the root
                nor the ``ferroflow`` logger has a handler), show a progress bar and the
                run's log lines from ``INFO`` (warnings, failures, skips) on stderr; off
                otherwise. ``False``: never. ``True``: the bar even without a terminal check.

        Returns:
            The :class:`RunResult`.

        Raises:
            WorkflowError: a task failed (``.result`` is the partial result).
            StoreError: the store cannot be used, or ``resume`` names no usable run.
        """
        options = run_options(locals())
        display = self._display(options)
        if display is None:
            return self._run(options)
        with display as live:
            options.progress = live
            return self._run(options)

    def _display(self, options: RunOptions) -> AbstractContextManager[Any] | None:
        """The terminal display of a run given its ``progress`` (see :meth:`run`), or None."""
        progress: object = options.progress
        if progress is False or progress is True:
            options.progress = None
        if progress is False or (progress is None and not wants_terminal_progress()):
            return None
        if progress is None or progress is True:
            return terminal_progress(self.name, len(self._order))
        return None

    def _plan(self, options: RunOptions) -> RunPlan:
        """Plan a run: the fast table (reused across runs while the workflow is unchanged and
        no run parameter targets a task parameter) and lazily planned input bindings."""
        if options.max_workers is None:
            options.max_workers = self.max_workers
        params = options.params or {}
        index, deps, order = self._index, self._deps, list(self._order)
        by_param = self._params_by_name() if params else {}
        affected = {index[name] for key in params for name in by_param.get(key, ())}
        table = self._fast_cache
        if table is None or affected:
            with gc_paused():
                table = fast_table(order, self._up_ids, self._named, affected)
            if not affected:
                self._fast_cache = table

        def binding(i: int) -> Binding:
            t = order[i]
            return plan_binding(t.name, t.params, [(u, index[u]) for u in deps[t.name]], params)

        options.extra.setdefault("upstreams", self._up_ids)
        options.extra.setdefault("trigger", current_trigger())
        plan = plan_run(self.name, self._graph, order, Bindings(binding), table, options)
        self._last = plan
        return plan

    def _run(self, options: RunOptions) -> RunResult:
        """Run with ``options`` (the body of :meth:`run`; subclasses wrap this or ``run``)."""
        refuse_run_at_import("its workflow")
        executor = resolve_executor(options.executor, options.max_workers or self.max_workers)
        plan = self._plan(options)
        if isinstance(executor, PlanExecutor):
            return execute_run(plan, executor)
        arun = executor.arun_plan
        return run_async_entry(lambda: execute_run_async(plan, arun))

    async def execute_async(
        self,
        executor: Any = "async",
        max_workers: int | None = None,
        params: Mapping[str, Any] | None = None,
        fail_fast: bool = False,
        raise_on_failure: bool = True,
        resume: str | bool | None = None,
        store: Any = DEFAULT_STORE,
        report_path: Any = None,
        refresh: bool = False,
        progress: Callable[[TaskRecord], object] | bool | None = None,
    ) -> RunResult:
        """Run on the running event loop (``await wf.execute_async()``); same keywords as :meth:`run`.

        With the default ``executor="async"`` the tasks run on this loop; with another
        executor the blocking run happens in a worker thread.

        Example:
            >>> import asyncio
            >>> from ferroflow import Workflow, task
            >>> async def hello():
            ...     return "hello"
            >>> wf = Workflow("a")
            >>> _ = wf.add_task(task(hello))
            >>> asyncio.run(wf.execute_async(store=None))["hello"]
            'hello'
        """
        options = run_options(locals())
        display = self._display(options)
        if display is None:
            return await self._run_async(options)
        with display as live:
            options.progress = live
            return await self._run_async(options)

    async def _run_async(self, options: RunOptions) -> RunResult:
        refuse_run_at_import("its workflow")
        executor = resolve_executor(options.executor, options.max_workers or self.max_workers)
        plan = self._plan(options)
        if isinstance(executor, AsyncPlanExecutor):
            return await execute_run_async(plan, executor.arun_plan)
        sync = executor
        return await run_blocking(lambda: execute_run(plan, sync))
