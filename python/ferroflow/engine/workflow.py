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

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypedDict, Unpack, overload

from .._core import Graph
from ..errors import CycleError, DuplicateTaskError, UnknownDependencyError
from ..results import RunResult, TaskRecord, TaskStatus
from ..store.store import DEFAULT_STORE
from ..trigger import current_trigger
from .atimport import refuse_run_at_import
from .bridge import run_async_entry, run_blocking
from .bulk import as_deps, duplicate_error, first_batch_error, replay_cycle, upstreams_of
from .display import terminal_progress, wants_terminal_progress
from .executor import AsyncPlanExecutor, PlanExecutor, resolve_executor
from .finishing import execute_run, execute_run_async
from .inputs import Binding, plan_binding
from .plan import Bindings, FastTable, RunOptions, RunPlan, stats_of
from .planning import fast_table, gc_paused, plan_run
from .tasks import Task, TaskOptions, registry, task_template

__all__ = ["Workflow"]


def _index_params(index: dict[str, list[str]], name: str, named_params: tuple[str, ...]) -> None:
    for pn in named_params:
        if pn != name:
            bucket = index.get(pn)
            if bucket is None:
                index[pn] = [name]
            else:
                bucket.append(name)


def _deps_in_order(names: Sequence[str], deps: Mapping[str, Any]) -> list[Any]:
    """The declared upstreams of each name of ``names``, in order (empty where ``deps`` has none).

    When ``deps`` lists exactly the tasks, in their order (as bulk builders do), its values
    are read in sequence instead of looking every name up, which is several times cheaper
    for big batches.
    """
    if len(deps) == len(names) and list(deps) == names:
        return list(deps.values())
    no_deps: tuple[str, ...] = ()
    return [deps.get(name, no_deps) for name in names]


def _listed_upstreams(
    t: Task[..., Any],
    depends_on: Iterable[str | Task[..., Any]] | str | Task[..., Any] | None,
    index: Mapping[str, int],
) -> tuple[tuple[int, ...], bool] | None:
    """The upstream ids of ``t`` for the usual ``depends_on`` (None, or a list of distinct
    names of tasks already in the workflow) in a few C-level passes, and whether a
    parameter names one of them; None for anything else (which :func:`upstreams_of`
    then normalises or rejects, as it would have)."""
    if depends_on is None:
        up_ids: tuple[int, ...] = ()
    elif type(depends_on) is list:
        try:
            up_ids = tuple(map(index.__getitem__, depends_on))
        except (KeyError, TypeError):  # an unknown name (or itself), a Task, an unhashable value
            return None
        k = len(up_ids)
        if k > 1 and (up_ids[0] == up_ids[1] if k == 2 else len(set(up_ids)) < k):
            return None
    else:
        return None
    named = False
    name = t.name
    for pn in t.named_params:  # rule 1: a parameter named after another task
        if pn != name:
            node = index.get(pn)
            if node is not None:
                named = True
                if node not in up_ids:
                    up_ids += (node,)
    # Tuples (not lists): the collector stops tracking tuples of ints, so a big workflow
    # does not make every later collection rescan its wiring.
    return up_ids, named


class _TaskView(Sequence[Task[..., Any]]):
    """The tasks of a workflow by node id, each made on first use (see ``Workflow._task_at``)."""

    __slots__ = ("_n", "_wf")

    def __init__(self, wf: Workflow, n: int) -> None:
        self._wf = wf
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Task[..., Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[Task[..., Any]]: ...
    def __getitem__(self, i: int | slice) -> Task[..., Any] | list[Task[..., Any]]:
        if isinstance(i, slice):
            return [self._wf._task_at(k) for k in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return self._wf._task_at(i % self._n)


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
        # What the workflow holds per task, by node id (docs/guide/tasks.md, "Big
        # workflows"): its name, its Task (or the shared template of tasks added by name,
        # until one is asked for) and whether a parameter is named after an upstream.
        # Its upstreams (declared ones in order, then the name-injected ones) live in the
        # graph only. Strs, ints and bytes: nothing the garbage collector keeps scanning.
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._order: list[Task[..., Any]] = []
        self._named = bytearray()
        self._templates: dict[int, Task[..., Any]] = {}  # id -> template (kept alive: ids stay unique)
        self._materialize = threading.Lock()
        # parameter name -> tasks with a parameter of that name; rebuilt lazily after bulk adds
        self._param_index: dict[str, list[str]] | None = {}
        self._last: RunPlan | None = None
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
        index = self._index
        if name in index:
            raise duplicate_error(self.name, name)
        found: tuple[tuple[int, ...], bool] | None = None
        if type(depends_on) is list and not t.named_params:
            # The usual call, inline (a call per task costs more than this check): a
            # list of distinct names of tasks already in the workflow, no parameter
            # that could name a task.
            try:
                ids = tuple(map(index.__getitem__, depends_on))
            except (KeyError, TypeError):  # an unknown name (or itself), a Task, an unhashable value
                pass
            else:
                k = len(ids)
                if k < 2 or (
                    ids[0] != ids[1]
                    if k == 2
                    else (ids[0] != ids[1] and ids[0] != ids[2] and ids[1] != ids[2])
                    if k == 3
                    else len(set(ids)) == k
                ):
                    found = (ids, False)
        else:
            found = _listed_upstreams(t, depends_on, index)
        if found is not None:
            up_ids, named = found
        else:
            _, listed_ids, named = upstreams_of(self.name, name, t.named_params, as_deps(depends_on), index)
            up_ids = tuple(listed_ids)
        by_param = self._param_index
        if by_param is None:
            by_param = self._params_by_name()
        waiting = by_param.get(name)  # earlier tasks with a parameter named after this one
        if waiting:  # edges out of the new node may close a loop: the core checks them, all or nothing
            downs = [index[down] for down in waiting]
            node = self._graph.add_node_linked(name, up_ids, downs)
            for down_id in downs:
                self._named[down_id] = 1
        else:  # edges into a new node cannot close a loop
            node = self._graph.add_node_after(name, up_ids)
        # Commit (the graph part is in place).
        self._fast_cache = None
        index[name] = node
        self._names.append(name)
        self._order.append(t)
        self._named.append(named)
        if t.named_params:
            _index_params(by_param, name, t.named_params)
        if t._registry is registry:  # it belongs to this workflow now; the default registry keeps strays only
            t._registry = None  # registry.unregister(t), inline for the usual case
            registry._unregistered += 1
        elif t._registry is not None:
            registry.unregister(t)
        return t

    def add_tasks(
        self,
        tasks: Iterable[Task[..., Any] | Callable[..., Any] | str],
        depends_on: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        fn: Callable[..., Any] | None = None,
        **options: Unpack[TaskOptions],
    ) -> None:
        """Add many tasks in one call: the bulk door for big and generated workflows.

        Either ``tasks`` are :class:`Task` objects (or plain functions), or, with ``fn=``,
        they are names: one task per name, all running ``fn`` with ``options`` (the
        keywords of :class:`Task`). Tasks made from names share one template until one of
        them is asked for (``get_task``, iteration), so a million of them cost no more
        than their names, their upstreams and a place in the graph.

        The graph gets the whole batch in one call to the Rust core. A task may depend on
        any task already in the workflow or in the batch (later ones too). Every check of
        :meth:`add_task` is made, with the same exceptions and messages, for the first
        task (in the order given) that fails it; a failed call leaves the workflow as it
        was.

        Args:
            tasks: The tasks, or (with ``fn``) their names.
            depends_on: The upstreams of each task: a mapping name -> upstreams (tasks it
                does not name have none), or a sequence with one entry per task. An entry
                is what :meth:`add_task` takes as ``depends_on``.
            fn: The function every named task runs.
            **options: Task options (``retries``, ``timeout``, ...) for the tasks made
                from ``fn``.

        Raises:
            DuplicateTaskError: a name is taken, or given twice.
            UnknownDependencyError: a dependency is neither in the workflow nor in the batch.
            CycleError: the batch would close a loop (``.cycle`` gives the path).
            TypeError: names without ``fn``, options without ``fn``, or an entry that is
                not a name, a task or a function.
            ValueError: ``depends_on`` has a different length than ``tasks``, or a
                mapping names a task that is not in the batch.

        Example:
            >>> from ferroflow import Workflow
            >>> def add(*xs):
            ...     return sum(xs) + 1
            >>> wf = Workflow("generated")
            >>> wf.add_tasks(["a", "b", "c"], {"b": ["a"], "c": ["a", "b"]}, fn=add)
            >>> wf.run(store=None)["c"]
            4
        """
        items = tasks if isinstance(tasks, list) else list(tasks)
        template: Task[..., Any] | None = None
        if fn is not None:
            if "name" in options:
                raise TypeError(f"workflow {self.name!r}: add_tasks takes the names as tasks, not name=")
            for item in items:
                if type(item) is not str or not item:
                    raise TypeError(
                        f"workflow {self.name!r}: add_tasks with fn= takes task names (non-empty str), "
                        f"got {type(item).__name__}: {item!r}"
                    )
            if not items:
                return
            names: list[str] = items  # type: ignore[assignment]
            template = task_template(fn, {**options, "name": names[0]})
            entries: list[Task[..., Any]] = [template] * len(names)
        else:
            if options:
                raise TypeError(
                    f"workflow {self.name!r}: add_tasks options ({', '.join(sorted(options))}) apply to fn=; "
                    "give each Task its own options instead"
                )
            entries = [t if type(t) is Task else self._add_tasks_entry(t) for t in items]
            names = [t.name for t in entries]
        deps = self._batch_deps(names, depends_on)
        with gc_paused():
            self._add_batch(names, entries, deps)
        if template is not None:
            self._templates[id(template)] = template
        else:
            unregister = registry.unregister
            for t in entries:
                unregister(t)  # they belong to this workflow now

    def _add_tasks_entry(self, item: object) -> Task[..., Any]:
        if isinstance(item, str):
            raise TypeError(
                f"workflow {self.name!r}: add_tasks got the name {item!r} but no fn=; "
                "pass fn= to make tasks from names, or give Tasks"
            )
        return self._as_task(item)

    def _batch_deps(self, names: list[str], depends_on: Mapping[str, Any] | Sequence[Any] | None) -> list[Any]:
        """One ``depends_on`` entry per task of ``names``, in order."""
        if depends_on is None:
            return [()] * len(names)
        if isinstance(depends_on, Mapping):
            if len(depends_on) > len(names) or not set(depends_on).issubset(names):
                batch = set(names)
                stray = next(k for k in depends_on if k not in batch)
                raise ValueError(
                    f"workflow {self.name!r}: add_tasks depends_on names {stray!r}, which is not a task of this call"
                )
            return _deps_in_order(names, depends_on)
        if isinstance(depends_on, (str, bytes)) or not isinstance(depends_on, Sequence):
            raise TypeError(
                f"workflow {self.name!r}: add_tasks depends_on takes a mapping name -> upstreams or one entry "
                f"per task, got {type(depends_on).__name__}"
            )
        if len(depends_on) != len(names):
            raise ValueError(
                f"workflow {self.name!r}: add_tasks got {len(names)} tasks but {len(depends_on)} depends_on entries"
            )
        return depends_on if isinstance(depends_on, list) else list(depends_on)

    def _as_task(self, task: object) -> Task[..., Any]:
        if isinstance(task, Task):
            return task
        if callable(task):
            return Task(task)
        raise TypeError(
            f"workflow {self.name!r}: add_task expects a Task or a callable, got {type(task).__name__}: {task!r}"
        )

    def _add_many(self, tasks: Sequence[Task[..., Any]], deps: Mapping[str, Sequence[str | Task[..., Any]]]) -> None:
        """Add many tasks at once (one bulk graph build, linear time); all or nothing.

        ``deps`` maps a task name to its declared upstreams (which may be in the batch).
        The engine of ``DAG`` and ``Flow``; :meth:`add_tasks` is the public door.
        """
        names = [t.name for t in tasks]
        with gc_paused():
            self._add_batch(names, tasks, _deps_in_order(names, deps))

    def _add_batch(self, names: list[str], tasks: Sequence[Task[..., Any]], deps: Sequence[Any]) -> None:
        """Add task ``tasks[k]`` called ``names[k]`` after ``deps[k]`` for every k; all or nothing.

        The common case (lists or tuples of names, no parameter named after a task) goes
        to the core as it is: one call resolves and links every upstream. Anything else
        is resolved here by :func:`upstreams_of`; any error goes through
        :func:`first_batch_error` and :func:`replay_cycle`, so that it is the error
        ``add_task`` would raise.
        """
        if not names:
            return
        index, graph = self._index, self._graph
        base = len(self._names)
        later = self._later_edges(names, base) if base else []
        ids_of: dict[str, int] | None = None
        named: bytes | bytearray = bytes(len(names))
        signatures = {id(t.named_params): t.named_params for t in tasks}.values()
        params = {p for named_params in signatures for p in named_params}
        try:
            if params:  # some parameter may name a task (binding rule 1): resolve here
                raise TypeError
            graph.extend_named(names, deps, later)
        except TypeError:  # an entry that is not a list or tuple of names, or names by parameter
            ids_of = {**index, **dict(zip(names, range(base, base + len(names)), strict=False))}
            if len(ids_of) - len(index) < len(names) or not index.keys().isdisjoint(names):
                first_batch_error(self.name, index, names, tasks, deps, ids_of)
            up_ids, named = self._resolve_batch(names, tasks, deps, ids_of, params)
            try:
                graph.extend_upstreams(names, up_ids, later)
            except CycleError:
                self._raise_batch_error(names, tasks, deps, ids_of, up_ids, later)
                raise
        except (DuplicateTaskError, UnknownDependencyError, CycleError):
            ids_of = {**index, **dict(zip(names, range(base, base + len(names)), strict=False))}
            first_batch_error(self.name, index, names, tasks, deps, ids_of)
            up_ids, _ = self._resolve_batch(names, tasks, deps, ids_of, params)
            self._raise_batch_error(names, tasks, deps, ids_of, up_ids, later)
            raise
        # Commit (the graph part is in place).
        if index:
            index.update(zip(names, range(base, base + len(names)), strict=False))
        else:  # a first bulk add: the batch's index is the whole index
            self._index = dict(zip(names, range(len(names)), strict=False))
        self._names.extend(names)
        self._order.extend(tasks)
        self._named.extend(named)
        self._param_index = None  # cheaper to rebuild on demand than to maintain in a bulk add
        for _, other in later:
            self._named[other] = 1
        self._fast_cache = None

    def _later_edges(self, names: list[str], base: int) -> list[tuple[int, int]]:
        """The edges from the batch's nodes (ids from ``base``) into earlier tasks that take
        their results by name."""
        by_param = self._params_by_name()
        index = self._index
        return [(node, index[other]) for node, new in enumerate(names, start=base) for other in by_param.get(new, ())]

    def _resolve_batch(
        self,
        names: list[str],
        tasks: Sequence[Task[..., Any]],
        deps: Sequence[Any],
        ids_of: Mapping[str, int],
        params: set[str],
    ) -> tuple[list[list[int]], bytearray]:
        """Upstream ids and ``named`` flags of a batch, each task checked by :func:`upstreams_of`."""
        task_params = {p for p in params if p in ids_of}
        up_ids: list[list[int]] = []
        flags = bytearray()
        wf = self.name
        for name, t, dep in zip(names, tasks, deps, strict=True):
            _, ids, by_name = upstreams_of(wf, name, t.named_params, as_deps(dep), ids_of, task_params)
            up_ids.append(ids)
            flags.append(by_name)
        return up_ids, flags

    def _raise_batch_error(
        self,
        names: list[str],
        tasks: Sequence[Task[..., Any]],
        deps: Sequence[Any],
        ids_of: Mapping[str, int],
        up_ids: list[list[int]],
        later: list[tuple[int, int]],
    ) -> None:
        """Raise the error ``add_task`` would raise first for this batch (the core refused it)."""
        existing = self._names
        first_batch_error(self.name, set(existing), names, tasks, deps, ids_of)
        every = [*self._graph.predecessor_lists(), *up_ids]
        error = replay_cycle([*existing, *names], every, len(existing), later)
        if error is not None:
            raise error

    def _params_by_name(self) -> dict[str, list[str]]:
        """Parameter name -> names of the tasks with such a (named) parameter."""
        if self._param_index is None:
            index: dict[str, list[str]] = {}
            for name, t in zip(self._names, self._order, strict=True):
                if t.named_params:
                    _index_params(index, name, t.named_params)
            self._param_index = index
        return self._param_index

    # ------------------------------------------------------------ inspection

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[Task[..., Any]]:
        return iter(self._all_tasks())

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
        return self._task_at(self._node(name))

    def _task_at(self, node: int) -> Task[..., Any]:
        """The task of node ``node``; a task added by name gets its own object on first use."""
        t = self._order[node]
        if self._templates and id(t) in self._templates:
            with self._materialize:
                t = self._order[node]
                if id(t) in self._templates:
                    t = self._order[node] = t._named_copy(self._names[node])
        return t

    def get_dependencies(self, name: str) -> list[str]:
        """The names ``name`` runs after: declared ones in order, then name-injected ones."""
        self._node(name)
        return self._graph.predecessors(name)

    def _dependency_names(self) -> dict[str, list[str]]:
        names = self._names
        ups = self._graph.predecessor_lists()
        return {name: [names[u] for u in up] for name, up in zip(names, ups, strict=True)}

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
        return {t.name: t for t in self._all_tasks()}

    def _all_tasks(self) -> list[Task[..., Any]]:
        """Every task in the order added (tasks added by name get their objects here)."""
        if self._templates:
            return [self._task_at(i) for i in range(len(self._order))]
        return list(self._order)

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
        order = self._all_tasks()
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
        return render(
            self.name,
            self._all_tasks(),
            self._dependency_names(),
            self._index,
            self._graph.layer_ids(),
            format,
            statuses,
        )

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
        index, names, graph, order = self._index, self._names, self._graph, list(self._order)
        by_param = self._params_by_name() if params else {}
        affected = {index[name] for key in params for name in by_param.get(key, ())}
        table = self._fast_cache
        ups: list[tuple[int, ...]] | None = None
        if table is None or affected:
            with gc_paused():
                ups = graph.predecessor_lists()
                table = fast_table(order, ups, self._named, affected)
            if not affected:
                self._fast_cache = table

        def binding(i: int) -> Binding:
            return plan_binding(names[i], order[i].params, [(names[u], u) for u in graph.predecessor_ids(i)], params)

        if options.store is not None:  # the store keeps the graph of each run
            options.extra.setdefault("upstreams", graph.predecessor_lists() if ups is None else ups)
        options.extra.setdefault("trigger", current_trigger())
        tasks: Sequence[Task[..., Any]] = _TaskView(self, len(order)) if self._templates else order
        plan = plan_run(self.name, self._graph, tasks, list(names), Bindings(binding), table, options, self._index)
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
