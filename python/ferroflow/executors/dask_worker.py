"""What runs on a Dask worker: one attempt of one task, and the small record it sends back.

The client sends each attempt as a pickled *payload* (the function, its inputs with
:class:`Upstream` placeholders, the run's context) plus the :class:`Outcome` futures of
its upstream tasks, which Dask resolves on the worker by fetching them from the workers
that hold them: upstream results travel between workers, never through the client.

The attempt runs with :func:`ferroflow.engine.attempts.inline_attempt` (the thread and
sequential executors' attempt: a timeout abandons a helper thread, a coroutine is
cancelled), with the task's :class:`~ferroflow.context.TaskContext` set, so its log
records and printed lines are captured on the worker and come back in the outcome.

Example:
    >>> import cloudpickle
    >>> payload = cloudpickle.dumps(Payload(lambda x: x + 1, "inc", None, None, "r", "w", {}, [Upstream(0)], {}))
    >>> up = run_attempt(payload, 1, {0: Outcome.of_value(41)})
    >>> up.kind, cloudpickle.loads(up.blob)
    ('ok', 42)
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from ..context import TaskContext
from ..engine.attempts import call_when, inline_attempt
from ..engine.capture import install_for_good
from ..engine.retries import RetryPolicy
from ..errors import FerroflowError
from ..safetext import describe_error

__all__ = [
    "Outcome",
    "Payload",
    "Upstream",
    "run_attempt",
    "run_group",
    "summarize",
    "summarize_group",
    "worker_version",
]

_captured = False


class Upstream:
    """Stands for the result of upstream node ``node`` in a payload's arguments."""

    __slots__ = ("node",)

    def __init__(self, node: int) -> None:
        self.node = node

    def __reduce__(self) -> tuple[type[Upstream], tuple[int]]:
        return (Upstream, (self.node,))

    def __repr__(self) -> str:
        return f"Upstream({self.node})"


@dataclass(slots=True)
class Payload:
    """One task as a worker needs it (pickled once per task by the client)."""

    fn: Callable[..., Any]
    name: str
    timeout: float | None
    when: Callable[..., Any] | None
    run_id: str
    workflow: str
    params: dict[str, Any]
    args: list[Any]
    kwargs: dict[str, Any]
    is_async: bool = False
    retry: RetryPolicy | None = None  # set for a fused task: its retries run on the worker


@dataclass(slots=True)
class Outcome:
    """How one attempt ended, as it travels back to the client (and to downstream workers).

    Attributes:
        kind: ``"ok"``, ``"err"`` (the attempt raised), ``"skip"`` (``when`` returned
            false), ``"when_err"`` (``when`` raised) or ``"blocked"`` (in a fused group: an
            upstream task failed, so it did not run).
        blob: The pickled result (``"ok"``), or None; :func:`summarize` drops it.
        error: The exception (``"err"`` / ``"when_err"``), its worker traceback noted.
        logs: The log lines and printed output captured during the attempt.
        started_at: Epoch seconds when the attempt started on the worker.
        finished_at: Epoch seconds when it ended.
        attempt: The attempt this outcome is of (a fused task retries on the worker).
        earlier: A fused task's earlier failed attempts: (error, logs) each.
    """

    kind: str
    blob: bytes | None = None
    error: BaseException | None = None
    logs: list[str] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0
    attempt: int = 1
    earlier: list[tuple[BaseException, list[str]]] = field(default_factory=list)

    @classmethod
    def of_value(cls, value: Any) -> Outcome:
        """A successful outcome holding ``value``."""
        return cls("ok", cloudpickle.dumps(value))

    def value(self) -> Any:
        """The result (``None`` when there is none: skipped)."""
        return None if self.blob is None else cloudpickle.loads(self.blob)


class _Callee:
    """The attributes of a task that :func:`inline_attempt` reads."""

    __slots__ = ("fn", "is_async", "name", "timeout")

    def __init__(self, p: Payload) -> None:
        self.fn, self.name, self.timeout, self.is_async = p.fn, p.name, p.timeout, p.is_async


def _resolve(value: Any, upstream: Mapping[int, Any], cache: dict[int, Any]) -> Any:
    if value.__class__ is not Upstream:
        return value
    node = value.node
    if node not in cache:
        cache[node] = _outcome_of(upstream, node).value()
    return cache[node]


def _outcome_of(upstream: Mapping[int, Any], node: int) -> Outcome:
    """Node ``node``'s outcome: a task's own, or its entry in a fused group's outcomes."""
    found = upstream[node]
    if found.__class__ is dict:
        found = found[node]
    out: Outcome = found
    return out


def _carried(e: BaseException) -> BaseException:
    """``e`` if it pickles, else a ``RuntimeError`` with its type and message."""
    try:
        cloudpickle.dumps(e)
    except Exception:  # noqa: BLE001 - whatever pickling raises, the error still travels
        return RuntimeError(describe_error(e))
    return e


def _failure(kind: str, e: BaseException, ctx: TaskContext, started: float) -> Outcome:
    ctx.flush_output()
    e = _carried(e)
    e.add_note(f"on the Dask worker:\n{traceback.format_exc()}")
    return Outcome(kind, None, e, ctx.logs, started, time.time())


def run_attempt(payload: bytes, attempt: int, upstream: Mapping[int, Any]) -> Outcome:
    """Run attempt number ``attempt`` of the task in ``payload`` on this worker.

    ``upstream`` maps upstream node ids to their :class:`Outcome` (or to the outcomes of
    the fused group that ran them). Never raises for what the task does: its error, a ``when`` that is false or raised, a
    result that cannot be pickled all come back as an :class:`Outcome`.
    """
    global _captured
    if not _captured:
        install_for_good()  # what tasks print goes to their logs
        _captured = True
    started = time.time()
    try:
        p: Payload = cloudpickle.loads(payload)
    except Exception as e:  # noqa: BLE001 - a worker missing a module: the task fails naming it
        error = FerroflowError(
            f"the Dask worker could not load the task ({describe_error(e)}); install the module it needs "
            "on every worker, or make it importable there"
        )
        return Outcome("err", None, error, [], started, time.time())
    ctx = TaskContext(p.run_id, p.workflow, p.name, attempt, p.params)
    cache: dict[int, Any] = {}
    try:
        args = [_resolve(a, upstream, cache) for a in p.args]
        kwargs = {k: _resolve(v, upstream, cache) for k, v in p.kwargs.items()}
    except Exception as e:  # noqa: BLE001 - an upstream result that does not unpickle here
        return _failure("err", e, ctx, started)
    callee = _Callee(p)
    if p.when is not None and attempt == 1:
        try:
            go = call_when(_WhenTask(p.when), args, kwargs)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
            return _failure("when_err", e, ctx, started)
        if not go:
            ctx.flush_output()
            return Outcome("skip", None, None, ctx.logs, started, time.time())
    try:
        value = inline_attempt(callee, args, kwargs, ctx)  # type: ignore[arg-type]
    except Exception as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
        return _failure("err", e, ctx, started)
    ctx.flush_output()
    try:
        blob = cloudpickle.dumps(value)
    except Exception as e:  # noqa: BLE001 - user code may return anything; the task fails naming itself
        error = FerroflowError(
            f"task {p.name!r} returned an object that cannot be pickled ({type(value).__name__}: "
            f"{describe_error(e)}); results travel between Dask workers: return plain data"
        )
        return Outcome("err", None, error, ctx.logs, started, time.time())
    return Outcome("ok", blob, None, ctx.logs, started, time.time())


class _WhenTask:
    """The one attribute of a task that :func:`call_when` reads."""

    __slots__ = ("when",)

    def __init__(self, when: Callable[..., Any]) -> None:
        self.when = when


_FINE = ("ok", "skip")


class _Seen(dict[int, Any]):
    """The outcomes a fused group sees: its own tasks' so far, then the upstream groups'."""

    def __init__(self, upstream: Mapping[int, Any]) -> None:
        super().__init__()
        self.upstream = upstream

    def __missing__(self, node: int) -> Any:
        return self.upstream[node]


def run_group(
    payloads: list[bytes], nodes: list[int], preds: list[list[int]], upstream: Mapping[int, Any]
) -> dict[int, Outcome]:
    """Run a fused group of tasks in order on this worker: the outcome of each, by node id.

    ``preds[k]`` are the upstream ids of ``nodes[k]`` whose outcome the group must check (in
    the group or in ``upstream``): a task with an upstream that did not succeed is
    ``"blocked"`` and does not run. A task's retries run here, with their delays.
    """
    seen = _Seen(upstream)
    outs: dict[int, Outcome] = {}
    for payload, node, ps in zip(payloads, nodes, preds, strict=True):
        if any(_outcome_of(seen, p).kind not in _FINE for p in ps):
            out = seen[node] = outs[node] = Outcome("blocked", started_at=time.time(), finished_at=time.time())
            continue
        attempt = 1
        earlier: list[tuple[BaseException, list[str]]] = []
        while True:
            out = run_attempt(payload, attempt, seen)
            if out.kind != "err" or out.error is None:
                break
            policy = _policy(payload)
            if policy is None or not policy.should_retry(out.error, attempt):
                break
            earlier.append((out.error, out.logs))
            time.sleep(policy.delay_for(attempt))
            attempt += 1
        out.attempt, out.earlier = attempt, earlier
        seen[node] = outs[node] = out
    return outs


def _policy(payload: bytes) -> RetryPolicy | None:
    p: Payload = cloudpickle.loads(payload)
    return p.retry


def summarize_group(outs: dict[int, Outcome], keep: frozenset[int]) -> dict[int, Outcome]:
    """A group's outcomes with the results of the nodes not in ``keep`` dropped."""
    return {node: out if node in keep else summarize(out) for node, out in outs.items()}


def summarize(outcome: Outcome) -> Outcome:
    """``outcome`` without its result (what the client receives for a task it does not gather)."""
    return Outcome(
        outcome.kind,
        None,
        outcome.error,
        outcome.logs,
        outcome.started_at,
        outcome.finished_at,
        outcome.attempt,
        outcome.earlier,
    )


def worker_version() -> str:
    """The ferroflow version of this worker (importing it loads the compiled extension)."""
    from .._core import __version__

    return __version__
