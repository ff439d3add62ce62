"""Tasks: a Python function plus the options that say how to run it.

``@task`` works bare and called; ``Task(fn=..., name=...)`` builds one without the
decorator. A task is still callable as the plain function. ``a >> b`` makes ``b`` run
after ``a`` (docs/guide/tasks.md).

Example:
    >>> from ferroflow import task
    >>> @task
    ... def extract():
    ...     return [1, 2, 3]
    >>> @task(retries=2, delay=0.1)
    ... def total(data):
    ...     return sum(data)
    >>> extract >> total
    Task('total')
    >>> total([1, 2])          # a task is callable as the plain function
    3
"""

from __future__ import annotations

import collections
import inspect
import itertools
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, Protocol, TypedDict, TypeVar, Unpack, overload

from ..results import TaskStatus
from .retries import RetryPolicy

__all__ = [
    "Param",
    "Task",
    "TaskCollector",
    "TaskOptions",
    "TaskRegistry",
    "active_dags",
    "iter_closure",
    "registry",
    "task",
    "task_template",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_creation_order = itertools.count()

StatusCallback = Callable[[str, TaskStatus], object]
RetryCallback = Callable[[str, int], object]


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a task function, as the input binding needs it."""

    name: str
    kind: inspect._ParameterKind
    has_default: bool
    default: Any


_DEFAULT_RETRY = RetryPolicy()
_DEFAULT_OPTIONS = (0, 1.0, 2.0, 0.1, None, (Exception,))
_FnInfo = tuple[tuple[Param, ...], bool, str | None, int, tuple[str, ...]]
_info_cache: weakref.WeakKeyDictionary[Callable[..., Any], _FnInfo] = weakref.WeakKeyDictionary()


_last_info: tuple[object, _FnInfo | None] = (None, None)


def _fn_info(fn: Callable[..., Any]) -> _FnInfo:
    """Parameters, async-ness and first doc line of ``fn``, cached per function (many tasks
    often share one function, and reading a signature costs microseconds)."""
    global _last_info
    last_fn, last = _last_info
    if last_fn is fn and last is not None:  # tasks made in a loop: the same function again
        return last
    stated = _stated_info(fn)
    if stated is not None:
        info = (*stated[:2], _first_doc_line(fn), *stated[3:])
        _last_info = (fn, info)
        return info
    try:
        info = _info_cache[fn]
    except (KeyError, TypeError):
        params = _read_params(fn)
        info = (params, _is_async(fn), _first_doc_line(fn), _plain_arity(params), _named_params(params))
        try:
            _info_cache[fn] = info
        except TypeError:  # not weak-referenceable: just not cached
            pass
    _last_info = (fn, info)
    return info


_class_info: weakref.WeakKeyDictionary[type, _FnInfo] = weakref.WeakKeyDictionary()


def _stated_info(fn: Callable[..., Any]) -> _FnInfo | None:
    """The info of a callable object whose class states its signature (a class attribute
    ``__signature__``), read once per class: a workflow may hold thousands of such objects.
    None for anything else (functions, classes, objects that state no signature)."""
    cls = type(fn)
    if not isinstance(getattr(cls, "__signature__", None), inspect.Signature) or "__signature__" in getattr(
        fn, "__dict__", ()
    ):
        return None
    try:
        return _class_info[cls]
    except KeyError:
        params = _read_params(fn)
        info = (params, _is_async(fn), None, _plain_arity(params), _named_params(params))
        _class_info[cls] = info
        return info


def _plain_arity(params: tuple[Param, ...]) -> int:
    """The number of parameters if all are required positional-or-keyword ones, else -1."""
    plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and not p.has_default for p in params)
    return len(params) if plain else -1


_NAMED_KINDS = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY,
)


def _named_params(params: tuple[Param, ...]) -> tuple[str, ...]:
    """The names of the parameters a task's result can be bound to by name (not ``*args``
    or ``**kwargs``)."""
    return tuple(p.name for p in params if p.kind in _NAMED_KINDS)


def signature_params(fn: Callable[..., Any]) -> tuple[Param, ...]:
    """The parameters of ``fn`` (cached)."""
    return _fn_info(fn)[0]


def _read_params(fn: Callable[..., Any]) -> tuple[Param, ...]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: pass everything positionally
        return (Param("args", inspect.Parameter.VAR_POSITIONAL, False, None),)
    return tuple(
        Param(p.name, p.kind, p.default is not inspect.Parameter.empty, p.default) for p in sig.parameters.values()
    )


def _is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    return call is not None and inspect.iscoroutinefunction(call)


_NO_OPTIONS: tuple[Any, ...] = (None,) * 7


class _Option(Generic[T]):
    """A rarely set task option, kept in the task's shared ``_opts`` tuple at ``index``."""

    def __init__(self, index: int, doc: str) -> None:
        self.index = index
        self.__doc__ = doc

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Option[T]: ...
    @overload
    def __get__(self, obj: Task[..., Any], owner: type | None = None) -> T: ...
    def __get__(self, obj: Task[..., Any] | None, owner: type | None = None) -> _Option[T] | T:
        if obj is None:
            return self
        value: T = obj._opts[self.index]
        return value

    def __set__(self, obj: Task[..., Any], value: T) -> None:
        opts = list(obj._opts)
        opts[self.index] = value
        obj._opts = tuple(opts)


class _Wiring:
    """A task's ``>>`` / ``<<`` neighbours (``up_ids``: ids of ``upstream`` for big fan-ins)."""

    __slots__ = ("downstream", "up_ids", "upstream")

    def __init__(self) -> None:
        self.upstream: list[Task[..., Any]] = []
        self.downstream: list[Task[..., Any]] = []
        self.up_ids: set[int] | None = None


class Task(Generic[P, R]):
    """A unit of work in a workflow.

    Args:
        fn: The function to run (sync or ``async``).
        name: Unique name within a workflow; defaults to the function's name.
        retries: Extra attempts after a failure.
        delay: Seconds before the first retry.
        backoff: Multiplier per retry (``delay * backoff**(n-1)``).
        jitter: ± fraction of random jitter on each delay; 0 disables it.
        max_delay: Cap on one delay, in seconds.
        retry_on: Exception types that are retried.
        timeout: Seconds per attempt (see the executors for how it is enforced).
        when: Predicate receiving the same inputs as the task; False → ``SKIPPED``.
        cache_ttl: Cache the result in the store for this many seconds.
        cache_key: ``callable(inputs) -> str`` overriding the input hash.
        cache_version: Bump to invalidate cached results.
        on_status_change: ``callback(task_name, TaskStatus)`` on every transition.
        on_retry: ``callback(task_name, attempt)``; attempt is 1 for the first retry.
        description: Free text shown in plans and reports.

    Raises:
        TypeError: ``fn`` (or a callback) is not callable, or an option has a wrong type.
        ValueError: An option is out of range (negative retries, timeout <= 0, ...).

    Example:
        >>> from ferroflow import Task
        >>> t = Task(fn=lambda: 42, name="answer", retries=1)
        >>> t()
        42
        >>> t.name, t.retries
        ('answer', 1)
    """

    # Few slots on purpose: a big workflow holds many tasks and the garbage collector
    # visits every slot of each on every full pass. Rarely set options share one tuple
    # (``_opts``, read through the descriptors below); wiring lives in ``_wiring``.
    __slots__ = (
        "__weakref__",
        "_is_async",
        "_opts",
        "_registry",
        "_seq",
        "_wiring",
        "description",
        "fn",
        "name",
        "named_params",
        "params",
        "plain_arity",
        "retry",
    )

    timeout: _Option[float | None] = _Option(0, "Seconds per attempt, or None.")
    when: _Option[Callable[..., object] | None] = _Option(1, "Predicate on the task's inputs; False skips it.")
    cache_ttl: _Option[float | None] = _Option(2, "Seconds a cached result stays valid, or None (no cache).")
    cache_key: _Option[Callable[..., str] | None] = _Option(3, "Custom cache key function, or None.")
    cache_version: _Option[str | int | None] = _Option(4, "Bump to invalidate cached results.")
    on_status_change: _Option[StatusCallback | None] = _Option(5, "Called with (name, status) on each change.")
    on_retry: _Option[RetryCallback | None] = _Option(6, "Called with (name, attempt) before each retry.")

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        *,
        retries: int = 0,
        delay: float = 1.0,
        backoff: float = 2.0,
        jitter: float = 0.1,
        max_delay: float | None = None,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        timeout: float | None = None,
        when: Callable[..., object] | None = None,
        cache_ttl: float | None = None,
        cache_key: Callable[..., str] | None = None,
        cache_version: str | int | None = None,
        on_status_change: StatusCallback | None = None,
        on_retry: RetryCallback | None = None,
        description: str | None = None,
    ) -> None:
        if not callable(fn):
            which = f"task {name!r}: " if isinstance(name, str) else ""
            raise TypeError(f"{which}Task fn must be callable, got {type(fn).__name__}: {fn!r}")
        if name is None:
            name = getattr(fn, "__name__", None)
            if not isinstance(name, str) or name == "<lambda>":
                raise TypeError(f"Task of {fn!r} needs a name: pass name=... (lambdas have none)")
        if type(name) is not str or not name:
            raise TypeError(f"Task name must be a non-empty str, got {name!r}")
        if when is not None or cache_key is not None or on_status_change is not None or on_retry is not None:
            _check_callbacks(name, when=when, cache_key=cache_key, on_status_change=on_status_change, on_retry=on_retry)
        if timeout is not None and not timeout > 0:
            raise ValueError(f"task {name!r}: timeout must be > 0 seconds, got {timeout!r}")
        if cache_ttl is not None and not cache_ttl > 0:
            raise ValueError(f"task {name!r}: cache_ttl must be > 0 seconds, got {cache_ttl!r}")
        self.fn: Callable[P, R] = fn
        self.name: str = name
        retry_on = retry_on if isinstance(retry_on, tuple) else (retry_on,)
        if (retries, delay, backoff, jitter, max_delay, retry_on) == _DEFAULT_OPTIONS:
            self.retry = _DEFAULT_RETRY  # the common case: no validation, no allocation
        else:
            self.retry = RetryPolicy(retries, delay, backoff, jitter, max_delay, retry_on, task_name=name)
        opts = (timeout, when, cache_ttl, cache_key, cache_version, on_status_change, on_retry)
        self._opts: tuple[Any, ...] = _NO_OPTIONS if opts == _NO_OPTIONS else opts
        last_fn, info = _last_info  # tasks made in a loop: the same function again
        if last_fn is not fn or info is None:
            info = _fn_info(fn)
        params, is_async, doc_line, self.plain_arity, self.named_params = info
        self.description = description if description is not None else doc_line
        self._is_async = is_async
        self.params: tuple[Param, ...] = params
        # Created on first use: most tasks of big workflows are never wired with >>.
        self._wiring: _Wiring | None = None
        self._seq = next(_creation_order)
        stack = _active.stack  # the innermost open `with DAG(...)` block takes it, else the registry
        if stack:
            self._registry: TaskRegistry | tuple[TaskRegistry, ...] | None = None
            stack[-1].collect(self)
        else:  # registry.register(self), inline for a new task
            self._registry = registry
            log = registry._log
            log.append(self)
            if len(log) >= registry._tidy_at:
                registry._compact()

    # ------------------------------------------------------------ options

    @property
    def __wrapped__(self) -> Callable[P, R]:
        """The plain function (as ``functools.wraps`` would expose it)."""
        return self.fn

    def is_async(self) -> bool:
        """Whether the function is a coroutine function (``async def``), awaited when run.

        A plain function that returns a coroutine (``lambda: fetch(uid)``) is not one, but
        every executor awaits what it returns all the same.

        Example:
            >>> async def fetch() -> int:
            ...     return 1
            >>> Task(fetch).is_async(), Task(lambda: 1, name="one").is_async()
            (True, False)
        """
        return self._is_async

    @property
    def retries(self) -> int:
        """Extra attempts after a failure."""
        return self.retry.retries

    @property
    def needs_full_runner(self) -> bool:
        """Whether running it needs more than a plain call (retries, timeout, when, callbacks, cache)."""
        if self._opts is _NO_OPTIONS and self.retry is _DEFAULT_RETRY:  # the usual task: no option set
            return False
        timeout, when, cache_ttl, _, _, on_status_change, on_retry = self._opts
        return bool(
            self.retry.retries
            or timeout is not None
            or when is not None
            or cache_ttl is not None
            or on_status_change is not None
            or on_retry is not None
        )

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the plain function, without any orchestration."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Task({self.name!r})"

    def _named_copy(self, name: str) -> Task[P, R]:
        """A task with this one's function and options, called ``name``, with no wiring and
        registered nowhere (how a workflow gives a task added by name through
        ``Workflow.add_tasks(names, fn=...)`` its own object, on first use)."""
        t: Task[P, R] = Task.__new__(Task)
        t.fn, t.name, t.retry, t._opts = self.fn, name, self.retry, self._opts
        t.params, t._is_async, t.plain_arity, t.named_params = (
            self.params,
            self._is_async,
            self.plain_arity,
            self.named_params,
        )
        t.description = self.description
        t._wiring = None
        t._registry = None
        t._seq = next(_creation_order)
        return t

    def __getstate__(self) -> dict[str, Any]:
        # Neighbours are wiring, not part of the task: pickling one task must not pull the graph.
        state = {k: getattr(self, k) for k in Task.__slots__ if k != "__weakref__"}
        state["_wiring"] = None
        state["_registry"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, "_is_async" if k == "is_async" else k, v)

    # ------------------------------------------------------------ wiring

    @property
    def upstream(self) -> list[Task[..., Any]]:
        """Tasks wired before this one with ``>>`` / ``<<``, in wiring order."""
        w = self._wiring
        return list(w.upstream) if w is not None else []

    @property
    def downstream(self) -> list[Task[..., Any]]:
        """Tasks wired after this one with ``>>`` / ``<<``, in wiring order."""
        w = self._wiring
        return list(w.downstream) if w is not None else []

    def set_upstream(self, *others: Task[..., Any]) -> None:
        """Make this task run after each of ``others`` (same as ``other >> self``)."""
        for other in others:
            _link(other, self)

    def set_downstream(self, *others: Task[..., Any]) -> None:
        """Make each of ``others`` run after this task (same as ``self >> other``)."""
        for other in others:
            _link(self, other)

    @overload
    def __rshift__(self, other: list[Task[..., Any]]) -> list[Task[..., Any]]: ...
    @overload
    def __rshift__(self, other: TaskT) -> TaskT: ...
    def __rshift__(self, other: Any) -> Any:
        """``a >> b``: b runs after a; returns b (or the list)."""
        for t in _as_tasks(other, ">>"):
            _link(self, t)
        return other

    def __rrshift__(self, other: list[Task[..., Any]]) -> Task[P, R]:
        """``[a, b] >> c``: c runs after a and b; returns c."""
        for t in _as_tasks(other, ">>"):
            _link(t, self)
        return self

    @overload
    def __lshift__(self, other: list[Task[..., Any]]) -> list[Task[..., Any]]: ...
    @overload
    def __lshift__(self, other: TaskT) -> TaskT: ...
    def __lshift__(self, other: Any) -> Any:
        """``a << b``: a runs after b; returns b (or the list), so ``c << b << a`` chains."""
        for t in _as_tasks(other, "<<"):
            _link(t, self)
        return other

    def __rlshift__(self, other: list[Task[..., Any]]) -> Task[P, R]:
        """``[w] << z``: each of w runs after z; returns z."""
        for t in _as_tasks(other, "<<"):
            _link(self, t)
        return self


TaskT = TypeVar("TaskT", bound=Task[..., Any])


def _check_callbacks(name: str, **callbacks: object) -> None:
    for label, cb in callbacks.items():
        if cb is not None and not callable(cb):
            raise TypeError(f"task {name!r}: {label} must be callable, got {cb!r}")


def _first_doc_line(fn: object) -> str | None:
    doc = getattr(fn, "__doc__", None)
    if isinstance(doc, str) and doc.strip():
        return doc.strip().splitlines()[0]
    return None


def _as_tasks(value: object, op: str) -> list[Task[..., Any]]:
    items: list[object] = list(value) if isinstance(value, (list, tuple)) else [value]
    tasks: list[Task[..., Any]] = []
    for item in items:
        if not isinstance(item, Task):
            raise TypeError(f"{op} expects a Task or a list of Tasks, got {type(item).__name__}: {item!r}")
        tasks.append(item)
    return tasks


def _link(up: Task[..., Any], down: Task[..., Any]) -> None:
    if up is down:
        from ..errors import CycleError

        raise CycleError(f"task {up.name!r} cannot depend on itself: {up.name} -> {up.name}", [up.name, up.name])
    wd = down._wiring
    if wd is None:
        wd = down._wiring = _Wiring()
    wu = up._wiring
    if wu is None:
        wu = up._wiring = _Wiring()
    ups = wd.upstream
    if len(ups) < 16:  # short lists: a scan; a big fan-in: a set of ids, so wiring stays linear
        known = any(t is up for t in ups)
    else:
        if wd.up_ids is None or len(wd.up_ids) != len(ups):
            wd.up_ids = {id(t) for t in ups}
        known = id(up) in wd.up_ids
    if not known:
        ups.append(up)
        wu.downstream.append(down)
        if wd.up_ids is not None:
            wd.up_ids.add(id(up))
    _track_wired(up, down)


# ---------------------------------------------------------------- the default registry and `with DAG` blocks


class TaskRegistry:
    """The default set of tasks a ``DAG(name)`` without ``tasks=`` runs.

    Every task created outside a ``with DAG(...)`` block is registered under its name
    (a later task with the same name replaces the earlier one) until it is added to a
    ``Workflow`` or a ``Flow``, which then owns it. ``clear()`` empties it.

    Example:
        >>> from ferroflow import registry, task
        >>> registry.clear()
        >>> @task
        ... def hello():
        ...     return "hi"
        >>> [t.name for t in registry]
        ['hello']
        >>> registry.clear(); len(registry)
        0
    """

    def __init__(self) -> None:
        # Every registration, in order: a deque, whose appends are atomic, so the path each
        # new task takes needs no lock. A task in it counts while it is marked as held by
        # this registry (``Task._registry``) and no later registration has its name; reads
        # and ``_compact`` drop the rest.
        self._log: collections.deque[Task[..., Any]] = collections.deque()
        self._lock = threading.Lock()
        self._tidy_at = _TIDY_MIN
        self._unregistered = 0  # bumped on each unregister: reads know their cache is stale
        self._cached: tuple[int, int, dict[str, Task[..., Any]]] | None = None

    def register(self, t: Task[..., Any]) -> None:
        """Add ``t`` (replacing a task of the same name)."""
        held = t._registry
        if held is None or held is self:
            t._registry = self
        elif not self._holds(t):  # the task is in another registry too (rare)
            t._registry = (*held, self) if isinstance(held, tuple) else (held, self)
        log = self._log
        log.append(t)
        if len(log) >= self._tidy_at:
            self._compact()

    def unregister(self, t: Task[..., Any]) -> None:
        """Remove ``t`` if it is registered."""
        held = t._registry
        if held is self:
            t._registry = None
        elif isinstance(held, tuple) and self in held:
            rest = tuple(r for r in held if r is not self)
            t._registry = rest if len(rest) > 1 else rest[0]
        else:
            return
        self._unregistered += 1

    def _holds(self, t: Task[..., Any]) -> bool:
        held = t._registry
        return held is self or (isinstance(held, tuple) and self in held)

    def clear(self) -> None:
        """Forget every registered task."""
        with self._lock:
            log = self._log
            for _ in range(len(log)):
                self.unregister(log.popleft())
            self._cached = None

    def _compact(self) -> dict[str, Task[..., Any]]:
        """Drop what no longer counts from the log; the registered tasks by name, in order."""
        with self._lock:
            log = self._log
            cached = self._cached
            if cached is not None and cached[0] == len(log) and cached[1] == self._unregistered:
                return cached[2]
            # Exactly the entries present now: registrations racing with this one land
            # after them and stay.
            entries = [log.popleft() for _ in range(len(log))]
            # A later registration replaces (and moves) the name: the position of the
            # last registration of each name, in order (C-level passes, no call per entry).
            last = sorted(dict(zip([t.name for t in entries], itertools.count())).values())
            live: dict[str, Task[..., Any]] = {
                t.name: t
                for t in map(entries.__getitem__, last)
                if (held := t._registry) is self or (type(held) is tuple and self in held)
            }
            log.extendleft(reversed(live.values()))
            self._tidy_at = max(_TIDY_MIN, 2 * len(live))
            self._cached = (len(log), self._unregistered, live)
            return live

    @property
    def tasks(self) -> list[Task[..., Any]]:
        """The registered tasks, in registration order."""
        return list(self._compact().values())

    def get(self, name: str) -> Task[..., Any] | None:
        """The registered task called ``name``, if any."""
        return self._compact().get(name)

    def __iter__(self) -> Iterator[Task[..., Any]]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self._compact())

    def __contains__(self, item: object) -> bool:
        live = self._compact()
        if isinstance(item, Task):
            return live.get(item.name) is item
        return item in live


_TIDY_MIN = 1024
"""The registry's log is compacted when it reaches this size, or twice its live size."""


registry = TaskRegistry()


class TaskCollector(Protocol):
    """What an open ``with DAG(...)`` block offers the tasks created or wired inside it."""

    def collect(self, t: Task[..., Any]) -> None:
        """Take ``t`` into the block's workflow (once)."""


class _ActiveDags(threading.local):
    """The ``with DAG(...)`` blocks open in this thread, innermost last."""

    def __init__(self) -> None:
        # Set up front on each thread's first use: reading a missing attribute of a
        # thread-local (a caught AttributeError) would cost every new task ~0.3 µs.
        self.stack: list[TaskCollector] = []


_active = _ActiveDags()


def active_dags() -> list[TaskCollector]:
    """The ``with DAG(...)`` blocks open in this thread, innermost last (the list itself)."""
    return _active.stack


class _Discard:
    """A collector that keeps nothing (see :func:`task_template`)."""

    def collect(self, t: Task[..., Any]) -> None:
        """Keep nothing."""


_DISCARD = _Discard()


def task_template(fn: Callable[P, R], options: TaskOptions) -> Task[P, R]:
    """A :class:`Task` of ``fn`` with ``options`` that no ``with DAG(...)`` block and no
    registry takes: the shared template of many tasks made from one function.

    Validation and signature inspection happen here, once, for all of them.
    """
    stack = _active.stack
    stack.append(_DISCARD)
    try:
        return Task(fn, **options)
    finally:
        stack.pop()


def _track_wired(up: Task[..., Any], down: Task[..., Any]) -> None:
    stack = active_dags()
    if stack:
        stack[-1].collect(up)
        stack[-1].collect(down)


# ---------------------------------------------------------------- the decorator


class TaskOptions(TypedDict, total=False):
    """The options of a task: the keywords of :func:`task` and of :class:`Task` after ``fn``.

    :class:`Task` spells them out in its signature (building a task is on the hot path of
    big workflows; ``tests/engine/test_tasks.py`` checks that the two lists agree).
    """

    name: str | None
    retries: int
    delay: float
    backoff: float
    jitter: float
    max_delay: float | None
    retry_on: type[BaseException] | tuple[type[BaseException], ...]
    timeout: float | None
    when: Callable[..., object] | None
    cache_ttl: float | None
    cache_key: Callable[..., str] | None
    cache_version: str | int | None
    on_status_change: StatusCallback | None
    on_retry: RetryCallback | None
    description: str | None


@overload
def task(fn: Callable[P, R], /, **options: Unpack[TaskOptions]) -> Task[P, R]: ...
@overload
def task(**options: Unpack[TaskOptions]) -> Callable[[Callable[P, R]], Task[P, R]]: ...
def task(
    fn: Callable[P, R] | None = None, /, **options: Unpack[TaskOptions]
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Turn a function into a :class:`Task`, bare (``@task``) or with options (``@task(retries=3)``).

    ``task(fn, name=..., retries=...)`` also works without the decorator syntax.

    Args:
        fn: The function (bare form).
        **options: The options of :class:`Task` (:class:`TaskOptions`).

    Returns:
        The task, or a decorator making one.

    Example:
        >>> from ferroflow import task
        >>> @task(name="double", retries=1)
        ... def twice(x):
        ...     return 2 * x
        >>> twice.name, twice(4)
        ('double', 8)
    """
    if fn is not None:  # bare form, or task(fn, name=..., ...) without the decorator syntax
        return Task(fn, **options)

    def decorate(f: Callable[P, R]) -> Task[P, R]:
        return Task(f, **options)

    return decorate


def iter_closure(
    roots: Iterable[Task[..., Any]], by_name: Mapping[str, Task[..., Any]] | None = None
) -> list[Task[..., Any]]:
    """``roots`` and every task upstream of them, in discovery order.

    Upstreams are the ``>>`` wiring and, when ``by_name`` is given, the tasks that
    parameters are named after (rule 1 of docs/guide/tasks.md). Iterative, so arbitrarily long
    chains do not hit the recursion limit.
    """
    seen: dict[int, Task[..., Any]] = {}
    order: list[Task[..., Any]] = []
    stack: list[Task[..., Any]] = list(roots)[::-1]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen[id(t)] = t
        order.append(t)
        if t._wiring is not None:
            stack.extend(reversed(t._wiring.upstream))
        if by_name:
            stack.extend(u for p in reversed(t.params) if (u := by_name.get(p.name)) is not None and u is not t)
    return order
