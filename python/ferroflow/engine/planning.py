"""Planning a run: its id, store and resumed results, the fast-path table, the :class:`RunPlan`.

A task with no retries, timeout, ``when``, callbacks or cache gets a *fast* runner: gather
its arguments by precomputed upstream ids, call it, store result and status. Everything
else goes through the *full* runner (``when``, cache, retry loop, timeouts, callbacks):
see :mod:`ferroflow.engine.plan`.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..safetext import json_default
from ..store.store import open_store
from . import bridge
from .plan import Bindings, FastTable, RunOptions, RunPlan

if TYPE_CHECKING:
    from .._core import Graph
    from ..store.store import Store
    from .tasks import Task


__all__ = ["fast_table", "gc_paused", "new_run_id", "plan_run"]

logger = logging.getLogger("ferroflow")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects at once.

    Building a plan allocates a few objects per task and frees none, which makes the
    collector rescan the growing heap over and over; pausing it keeps planning linear.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_issued: tuple[str, set[str]] = ("", set())
_issued_lock = threading.Lock()


def new_run_id() -> str:
    """A readable, time-sortable, unique run id (``20260101-120000-3fa9c1``).

    Ids this process issued within the same second are never drawn twice (hundreds of runs a
    second would otherwise meet the birthday bound of the 24 random bits).
    """
    global _issued
    with _issued_lock:
        second = time.strftime("%Y%m%d-%H%M%S")
        if _issued[0] != second:
            _issued = (second, set())
        while (suffix := secrets.token_hex(3)) in _issued[1]:
            pass
        _issued[1].add(suffix)
        return f"{second}-{suffix}"


def fast_table(
    tasks: Sequence[Task[..., Any]],
    up_ids: Sequence[Sequence[int]],
    named: Sequence[bool],
    forced_slow: Iterable[int] = (),
) -> FastTable:
    """Which nodes take the fast path, and with which upstream ids.

    For those nodes the input rules (docs/guide/tasks.md) reduce to "the first k upstreams
    fill the k required positional parameters", with ``*args`` after them taking the rest.

    A node takes the full runner when it has options (retries, timeout, when, callbacks,
    cache), parameters other than required positional ones and a final ``*args``, a
    parameter named after an upstream (``named``), too few upstreams, or a run parameter
    to bind (``forced_slow``).
    """
    n = len(tasks)
    fns: list[Callable[..., Any]] = [t.fn for t in tasks]
    ups: list[tuple[int, ...]] = [()] * n
    slow = bytearray(n)
    rest: dict[int, int] = {}  # id(params) -> required positionals before *args, or -1
    for i, (t, u, by_name) in enumerate(zip(tasks, up_ids, named, strict=True)):
        k, takes_all = t.plain_arity, False
        if k < 0:
            # ``f(a, b, *rest)``: the first upstreams fill a, b and *rest takes the others,
            # so every upstream is passed positionally, in order.
            k = rest.get(id(t.params), -2)
            if k == -2:
                k = rest[id(t.params)] = _positionals_before_rest(t.params)
            takes_all = True
        if k < 0 or by_name or len(u) < k or t.needs_full_runner:
            slow[i] = 1
            continue
        if takes_all or len(u) == k:
            ups[i] = tuple(u)
        elif k:
            ups[i] = tuple(u[:k])
        if t.is_async:
            fns[i] = _sync_coroutine_caller(t.fn)
    for i in forced_slow:
        slow[i] = 1
    return fns, ups, slow


def _positionals_before_rest(params: Sequence[Any]) -> int:
    """``k`` when the parameters are ``k`` required positional ones then ``*args``, else -1."""
    *head, last = params or (None,)
    if last is None or last.kind is not inspect.Parameter.VAR_POSITIONAL:
        return -1
    plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and not p.has_default for p in head)
    return len(head) if plain else -1


def _sync_coroutine_caller(coro_fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return bridge.run_coroutine_sync(coro_fn(*args))

    return call


def _resolve_store(options: RunOptions) -> Store | None:
    return open_store(options.store)


def _resolve_resume(store: Store | None, options: RunOptions, workflow: str) -> tuple[str | None, dict[str, Any]]:
    if options.resume is None or options.resume is False:
        return None, {}
    if store is None:
        raise StoreError(f"workflow {workflow!r}: resume={options.resume!r} needs a store, but store=None was given")
    run_id, results = store.resume_results(options.resume, workflow)
    _warn_changed_params(store, run_id, workflow, dict(options.params or {}))
    return run_id, results


def _warn_changed_params(store: Store, run_id: str, workflow: str, params: dict[str, Any]) -> None:
    """Resuming reuses results computed with the earlier run's parameters: say so when they differ."""
    earlier = store.get_run_summary(run_id).params
    now = json.loads(json.dumps(params, default=json_default))  # compared as the store keeps them
    changed = sorted(k for k in earlier.keys() | now.keys() if earlier.get(k) != now.get(k))
    if changed:
        logger.warning(
            "workflow %r resumes run %s, whose parameters differ (%s): its completed tasks are reused as they"
            " are, computed with the earlier values; run without resume= to recompute them",
            workflow,
            run_id,
            ", ".join(changed),
        )


def plan_run(
    workflow: str,
    graph: Graph,
    tasks: Sequence[Task[..., Any]],
    bindings: Bindings,
    table: FastTable,
    options: RunOptions,
) -> RunPlan:
    """Open the store, resolve resume, and build the plan (not started yet)."""
    store = _resolve_store(options)
    resumed_from, resumed = _resolve_resume(store, options, workflow)
    if resumed_from is not None:
        options.extra["resumed_from"] = resumed_from
    return RunPlan(
        workflow=workflow,
        graph=graph,
        tasks=tasks,
        bindings=bindings,
        table=table,
        options=options,
        store=store,
        run_id=options.run_id or new_run_id(),
        resumed=resumed,
    )
