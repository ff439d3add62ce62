"""The run plan: one run of one workflow as executors see it, and the executor protocol.

The run path shared by every front door and every executor has three steps:
:mod:`~ferroflow.engine.planning` builds a :class:`RunPlan` (bindings, resumed results, one
runner per task), an executor drives it through the protocol below (:class:`PlanExecutor`
or :class:`AsyncPlanExecutor`; each node runs through the attempt loop of
:class:`RunPlan`), and :mod:`~ferroflow.engine.finishing` finishes it (statuses,
``RunResult``, store, report). The run path is the one place that talks to the store,
the cache and the reports.

A task with no retries, timeout, ``when``, callbacks or cache gets a *fast* runner: gather
its arguments by precomputed upstream ids, call it, store result and status. Everything
else goes through the *full* runner (``when``, cache, retry loop, timeouts, callbacks).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..context import CURRENT_TASK, TaskContext, TaskSlot
from ..errors import TaskCancelledError
from ..results import NOT_GATHERED, FailedAttempt, RunResult, TaskRecord, TaskStatus
from ..safetext import describe_error, safe_str
from ..store.store import DEFAULT_STORE
from ..trigger import Trigger, current_trigger
from .attempts import SyncAttempt, async_attempt, call_when, exit_failure, inline_attempt
from .inputs import Binding
from .retries import RetryPolicy
from .tasklog import OnFinal, OnStart, task_log_hooks

if TYPE_CHECKING:
    from .._core import Graph
    from ..store.recorder import RunRecorder
    from ..store.store import Store
    from .tasks import Task

__all__ = [
    "AsyncPlanExecutor",
    "Bindings",
    "Executor",
    "FastTable",
    "PlanExecutor",
    "RunOptions",
    "RunPlan",
    "stats_of",
]

logger = logging.getLogger("ferroflow")

_PENDING = TaskStatus.PENDING
_RUNNING = TaskStatus.RUNNING
_COMPLETED = TaskStatus.COMPLETED
_FAILED = TaskStatus.FAILED
_SKIPPED = TaskStatus.SKIPPED
_UPSTREAM_FAILED = TaskStatus.UPSTREAM_FAILED
_CANCELLED = TaskStatus.CANCELLED


@runtime_checkable
class PlanExecutor(Protocol):
    """An executor that runs a plan from a blocking call (the sync entry point)."""

    def run_plan(self, plan: RunPlan) -> None:
        """Run every runnable node of ``plan`` and mark the others; block until done."""


@runtime_checkable
class AsyncPlanExecutor(Protocol):
    """An executor that runs a plan on the running event loop (the async entry point)."""

    async def arun_plan(self, plan: RunPlan) -> None:
        """Run every runnable node of ``plan`` and mark the others, on the running loop."""


#: What ``run(executor=...)`` accepts besides a name (either entry point, or both).
Executor = PlanExecutor | AsyncPlanExecutor


@dataclass
class RunOptions:
    """The keywords of ``run()`` (see ``Workflow.run``), plus the clock and sleep used for retries.

    ``sleep`` / ``async_sleep`` / ``rand`` exist so tests can observe retry delays without
    waiting; by default delays really happen.
    """

    executor: str | Executor | None = None
    max_workers: int | None = None
    params: Mapping[str, Any] | None = None
    fail_fast: bool = False
    raise_on_failure: bool = True
    resume: str | bool | None = None
    store: Any = DEFAULT_STORE
    report_path: Any = None
    refresh: bool = False
    progress: Callable[[TaskRecord], object] | None = None
    sleep: Callable[[float], object] = time.sleep
    async_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    rand: Callable[[], float] | None = None
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _log_callback_error(what: str, name: str) -> None:
    logger.exception("%s of task %r raised; the error is ignored (the task is not affected)", what, name)


class RunPlan:
    """One run of one workflow, as executors see it.

    Executors call :meth:`execute` (sync, any thread) or :meth:`execute_async` (on a loop)
    once per node id whose upstreams completed, and report nodes that never ran with
    :meth:`mark_blocked` / :meth:`mark_cancelled`. Results and statuses live here, in flat
    per-node lists; :class:`TaskRecord` objects are built from them when someone asks
    (the store, a progress callback, ``RunResult.records``).

    Attributes:
        graph: The workflow's graph (node ids index ``tasks``).
        tasks: The tasks by node id.
        fail_fast: Stop starting tasks after the first failure.
        max_workers: The run's ``max_workers`` (None: the executor's default).
    """

    def __init__(
        self,
        *,
        workflow: str,
        graph: Graph,
        tasks: Sequence[Task[..., Any]],
        bindings: Bindings,
        table: FastTable,
        options: RunOptions,
        store: Store | None,
        run_id: str,
        resumed: Mapping[str, Any],
    ) -> None:
        self.workflow = workflow
        self.graph = graph
        self.tasks = tasks
        self.names = [t.name for t in tasks]
        self.options = options
        self.fail_fast = options.fail_fast
        self.max_workers = options.max_workers
        self.run_id = run_id
        self.params: dict[str, Any] = dict(options.params or {})
        self.store = store
        self.recorder: RunRecorder | None = None
        n = len(tasks)
        self.results: list[Any] = [None] * n
        self.status: list[TaskStatus] = [_PENDING] * n
        self.started: list[float | None] = [None] * n
        self.finished: list[float | None] = [None] * n
        self.attempts: list[int] = [0] * n
        self.errors: dict[int, BaseException] = {}
        self.tracebacks: dict[int, str] = {}
        self.reasons: dict[int, str] = {}
        self.logs: dict[int, list[str]] = {}
        # The full runner's attempt history: when the current attempt started, and every
        # attempt that raised (the fast path makes one attempt: its error is the task's).
        self.attempt_started: dict[int, float] = {}
        self.failed_attempts: dict[int, list[FailedAttempt]] = {}
        self.cached: set[int] = set()
        self.bindings = bindings
        self.fast_table = table
        self.resumed_ids: set[int] = set()
        for i, name in enumerate(self.names if resumed else ()):
            if name in resumed:
                self.resumed_ids.add(i)
                self.results[i] = resumed[name]
                self.status[i] = _COMPLETED
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.interrupted = False
        # An executor that leaves some results on a cluster sets this (they are NOT_GATHERED).
        self.results_elsewhere = False
        # Set when the run winds down (an interrupt, or a failure under fail_fast): a task
        # waiting to retry stops waiting and fails with the error it has.
        self.stopping = threading.Event()
        self._final_hook: Callable[[int], None] | None = None
        self._on_start: OnStart | None = None
        self._log_final: OnFinal | None = None
        self._block_roots: dict[int, str] = {}
        self.execute: Callable[[int], bool] = self._execute_unstarted
        self._make_ctx = self._fast_context  # one bound method: slots are matched by identity

    # ------------------------------------------------------------ lifecycle

    def begin(self) -> None:
        """Open the store record (if any) and build the node runner."""
        if self.store is not None:
            self.recorder = self.store.begin_run(
                run_id=self.run_id,
                workflow=self.workflow,
                params=self.params,
                task_names=list(self.names),
                resumed_from=self.options.extra.get("resumed_from"),
                **self._start_record(),
            )
        # The log levels are read once per run: filtered out, per-task logging costs nothing.
        log_start, self._log_final = task_log_hooks(self.run_id, self.workflow)
        self._on_start = _chain(
            self.recorder.task_started if self.recorder is not None else None,
            log_start,
            _progress_start(self.options.progress),
        )
        self._final_hook = self._make_final_hook()
        if self._final_hook is not None:
            for i in sorted(self.resumed_ids):
                self._final_hook(i)
        self.execute = self._make_execute()

    def _start_record(self) -> dict[str, Any]:
        """What the store keeps about how the run started and its graph."""
        extra = self.options.extra
        trigger: Trigger = extra.get("trigger") or current_trigger()
        ups = extra.get("upstreams")
        return {
            "target": trigger.target,
            "trigger": trigger.to_json(),
            "upstreams": None if ups is None else list(ups),
        }

    def _execute_unstarted(self, node: int) -> bool:
        raise RuntimeError("RunPlan.begin() must be called before execute()")

    def _make_final_hook(self) -> Callable[[int], None] | None:
        recorder, progress, record, log = self.recorder, self.options.progress, self.record, self._log_final
        if recorder is None and progress is None and log is None:
            return None

        def final(i: int) -> None:
            rec = record(i)
            if recorder is not None:
                recorder.task_finished(rec)
            if log is not None:
                log(rec)
            if progress is not None:
                try:
                    progress(rec)
                except Exception:
                    logger.exception("progress callback raised for task %r; ignored", rec.name)

        return final

    def record(self, i: int) -> TaskRecord:
        """The :class:`TaskRecord` of node ``i`` as it stands now."""
        status = self.status[i]
        return TaskRecord(
            self.names[i],
            status,
            self.attempts[i],
            self.started[i],
            self.finished[i],
            self.results[i] if status is _COMPLETED else None,
            self.errors.get(i),
            self.tracebacks.get(i),
            self.reasons.get(i),
            i in self.cached,
            i in self.resumed_ids,
            self.logs.get(i, []),
            self.failed_attempts.get(i, []),
        )

    # ------------------------------------------------------------ what executors call

    def _make_execute(self) -> Callable[[int], bool]:
        """The node runner: a fast inline path for plain tasks, the full runner otherwise.

        A plain task (no retries, timeout, ``when``, callbacks or cache; positional inputs
        only) costs: gather its arguments by precomputed ids, call it, store result/status.
        Its :class:`TaskContext` is only built if the task asks for it: the thread's
        :class:`TaskSlot` (set once per thread, see :meth:`thread_slot`) names the node.
        """
        fns, ups, _ = self.fast_table
        slow = self._slow_nodes()
        results, status, started, finished, attempts = (
            self.results,
            self.status,
            self.started,
            self.finished,
            self.attempts,
        )
        names, on_start, final = self.names, self._on_start, self._final_hook
        fail, slow_path, keep_logs = self._fail_attempt, self._execute_slow, self._keep_logs
        completed = self._plain_success_sink()
        now, cur_get, cur_set, slot_type, make_ctx = (
            time.time,
            CURRENT_TASK.get,
            CURRENT_TASK.set,
            TaskSlot,
            self._make_ctx,
        )
        get = results.__getitem__

        def execute(i: int) -> bool:
            if slow[i]:
                return slow_path(i)
            slot = cur_get()
            if slot.__class__ is not slot_type or slot.make is not make_ctx:
                slot = TaskSlot(make_ctx)  # a thread's first task of this run
                cur_set(slot)
            status[i] = _RUNNING
            started[i] = t0 = now()
            attempts[i] = 1
            if on_start is not None:
                on_start(names[i], t0)
            slot.node = i
            up = ups[i]
            try:
                # Arguments by upstream id; the common arities without building a list.
                k = len(up)
                if not k:
                    value = fns[i]()
                elif k == 1:
                    value = fns[i](results[up[0]])
                elif k == 2:
                    a, b = up
                    value = fns[i](results[a], results[b])
                elif k == 3:
                    a, b, c = up
                    value = fns[i](results[a], results[b], results[c])
                else:
                    value = fns[i](*map(get, up))
            except (Exception, SystemExit) as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
                slot.node = -1
                return fail(i, e, slot.taken(i))
            except BaseException:  # KeyboardInterrupt: stop the run, leave no context behind
                slot.node = -1
                slot.built = None
                raise
            slot.node = -1
            results[i] = value
            finished[i] = t1 = now()
            status[i] = _COMPLETED
            if slot.built is not None and keep_logs(i, slot):
                pass
            elif completed is not None:
                completed(names[i], t0, t1, value)
                return True
            if final is not None:
                final(i)
            return True

        return execute

    def _slow_nodes(self) -> bytearray:
        """1 for each node that takes the full runner this run (or is resumed: nothing to run)."""
        slow = bytearray(self.fast_table[2])
        for i in self.resumed_ids:
            slow[i] = 1
        return slow

    def _fast_context(self, node: int) -> TaskContext:
        """The context of node ``node``'s (first and only) attempt on the fast path."""
        return TaskContext(self.run_id, self.workflow, self.names[node], 1, self.params)

    @contextlib.contextmanager
    def thread_slot(self) -> Iterator[None]:
        """Set this run's :class:`TaskSlot` on the calling thread for a while (an executor
        running many tasks on one thread sets it once instead of once per task)."""
        token = CURRENT_TASK.set(TaskSlot(self._make_ctx))
        try:
            yield
        finally:
            CURRENT_TASK.reset(token)

    def _keep_logs(self, i: int, slot: TaskSlot) -> bool:
        """Keep what the fast-path task that just ended logged; True if it logged anything."""
        ctx = slot.taken(i)
        if ctx is None:
            return False
        ctx.flush_output()
        if ctx.logs:
            self.logs[i] = ctx.logs
            return True
        return False

    def _fail_attempt(self, i: int, error: Exception | SystemExit, ctx: TaskContext | None) -> bool:
        """The fast path's failure: keep what the attempt logged, then fail the task (a task
        calling ``sys.exit()`` fails; the run goes on)."""
        if isinstance(error, SystemExit):
            error = exit_failure(self.names[i], error)
        if ctx is not None:
            ctx.flush_output()
            if ctx.logs:
                self.logs[i] = ctx.logs
        return self._fail(i, error)

    def _plain_success_sink(self) -> Callable[[str, float, float, Any], None] | None:
        """Where the fast path reports a plain success (first attempt, no logs), if anywhere.

        The store takes the bare facts (``RunRecorder.task_completed``), so no
        :class:`TaskRecord` is built; with a progress callback or success logging the record is needed anyway
        and the final hook handles it.
        """
        if self.recorder is None or self.options.progress is not None or self._log_final is not None:
            return None
        sink: Callable[[str, float, float, Any], None] = self.recorder.task_completed
        return sink

    def _execute_slow(self, node: int) -> bool:
        """``execute`` for a node off the fast path: resumed (nothing to run) or full runner."""
        if node in self.resumed_ids:
            return True
        return self._run_full(node, inline_attempt)

    def sync_runner(self, node: int, attempt: SyncAttempt) -> Callable[[], bool]:
        """A runner for ``node`` whose attempts go through ``attempt`` (e.g. a worker process)."""
        if node in self.resumed_ids:
            return _true
        return lambda: self._run_full(node, attempt)

    def execute_async(self, node: int) -> Coroutine[Any, Any, bool]:
        """Run node ``node`` on the running event loop (await it); True if successors may run."""
        if node in self.resumed_ids:
            return _async_true()
        if self.tasks[node].is_async and not self.fast_table[2][node]:
            return self._run_fast_async(node)
        return self._run_full_async(node)

    def mark_blocked(self, nodes: Sequence[int]) -> None:
        """Mark ``nodes`` ``UPSTREAM_FAILED`` (an upstream failed, so they never run)."""
        for i in nodes:
            reason = self._blocked_reason(i)
            self._set_final(i, _CANCELLED if reason.startswith("cancelled:") else _UPSTREAM_FAILED, reason=reason)

    def mark_cancelled(
        self, nodes: Sequence[int], reason: str = "cancelled: an earlier task failed (fail_fast)"
    ) -> None:
        """Mark ``nodes`` ``CANCELLED`` (not started)."""
        for i in nodes:
            if self.status[i] is _PENDING:
                self._set_final(i, _CANCELLED, reason=reason)

    def apply_states(self, states: Sequence[int]) -> None:
        """Apply the final node states of ``_core.run_graph`` (4 blocked, 5 cancelled)."""
        # A clean run has neither: the membership scans (in C) spare two Python passes.
        if 4 in states:
            self.mark_blocked([i for i, s in enumerate(states) if s == 4])
        if 5 in states:
            self.mark_cancelled([i for i, s in enumerate(states) if s == 5])

    def cancel_pending(self, reason: str) -> None:
        """After an interrupt: every task not finished (never started, or cut off) is ``CANCELLED``."""
        for i, s in enumerate(self.status):
            if s is _PENDING or s is _RUNNING:
                self._set_final(i, _CANCELLED, reason=reason)

    # ------------------------------------------------------------ status bookkeeping

    def _blocked_reason(self, node: int) -> str:
        """Name the failed task that blocks ``node``, remembering the answer for every node
        on the way, so marking a long blocked chain stays linear."""
        roots, status, graph = self._block_roots, self.status, self.graph
        stack = [node]
        while stack:
            v = stack[-1]
            if v in roots:
                stack.pop()
                continue
            preds = graph.predecessor_ids(v)
            found: str | None = None
            nxt: int | None = None
            for p in preds:
                if status[p] is _FAILED:
                    found = f"upstream task {self.names[p]!r} failed"
                    break
                if status[p] is _CANCELLED:
                    found = f"cancelled: upstream task {self.names[p]!r} was cancelled"
                    break
                if p in roots:
                    found = roots[p]
                    break
                if status[p] is _UPSTREAM_FAILED or (nxt is None and status[p] is _PENDING):
                    nxt = p
            if found is not None or nxt is None:
                roots[v] = found or "an upstream task failed"
                stack.pop()
            else:
                stack.append(nxt)
        return roots[node]

    def _notify(self, t: Task[..., Any], status: TaskStatus) -> None:
        cb = t.on_status_change
        if cb is not None:
            try:
                cb(t.name, status)
            except Exception:  # noqa: BLE001 - a callback never fails or re-runs the task
                _log_callback_error("on_status_change", t.name)

    def _set_final(self, i: int, status: TaskStatus, *, reason: str | None = None, at: float | None = None) -> None:
        self.status[i] = status
        if reason is not None:
            self.reasons[i] = reason
        self.finished[i] = time.time() if at is None else at
        self._notify(self.tasks[i], status)
        if self._final_hook is not None:
            self._final_hook(i)

    def _fail(self, i: int, error: BaseException, *, log: bool = True) -> bool:
        if isinstance(error, TaskCancelledError):  # stopped by the user or the run: not a failure
            self._set_final(i, _CANCELLED, reason=f"cancelled: {safe_str(error)}")
            return False
        if self.fail_fast:
            self.stopping.set()
        self.errors[i] = error
        self.tracebacks[i] = "".join(traceback.format_exception(error))
        if log:
            logger.error("task %r failed: %s", self.names[i], describe_error(error))
        self._set_final(i, _FAILED)
        return False

    def _start(self, i: int, t: Task[..., Any]) -> None:
        self.status[i] = _RUNNING
        self.started[i] = now = time.time()
        if self._on_start is not None:
            self._on_start(t.name, now)
        self._notify(t, _RUNNING)

    def _complete(self, i: int, value: Any, *, cached: bool = False, at: float | None = None) -> bool:
        self.results[i] = value
        if cached:
            self.cached.add(i)
        self._set_final(i, _COMPLETED, at=at)
        return True

    def _add_logs(self, i: int, ctx: TaskContext) -> None:
        ctx.flush_output()
        if ctx.logs:
            self.logs.setdefault(i, []).extend(ctx.logs)

    # ------------------------------------------------------------ the full runner

    def _prepare(self, i: int) -> tuple[list[Any], dict[str, Any], str | None] | bool:
        """Bind inputs, evaluate ``when`` and look up the cache.

        Returns ``(args, kwargs, cache_key)`` to go on, or the runner's final bool.
        """
        t, b = self.tasks[i], self.bindings[i]
        if b.error is not None:
            return self._fail(i, TypeError(b.error))
        args, kwargs = b.gather(self.results)
        if t.when is not None:
            try:
                go = call_when(t, args, kwargs)
            except Exception as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
                logger.error("task %r: its `when` condition raised %s", t.name, describe_error(e))
                e.add_note(f"raised by the `when` condition of task {t.name!r}")
                return self._fail(i, e, log=False)
            if not go:
                self.results[i] = None
                self._set_final(i, _SKIPPED, reason="its `when` condition returned false")
                return True
        key: str | None = None
        if t.cache_ttl is not None and self.store is not None:
            from ..store.cache import cache_key

            key = cache_key(t, tuple(args), kwargs)
            if key is not None and not self.options.refresh:
                hit, value = self.store.cache_get(key)
                if hit:
                    return self._complete(i, value, cached=True)
        return args, kwargs, key

    def _after_success(self, i: int, value: Any, key: str | None, at: float | None = None) -> bool:
        t = self.tasks[i]
        if key is not None and self.store is not None and t.cache_ttl is not None:
            try:
                self.store.cache_put(key, t.name, value, t.cache_ttl)
            except Exception:
                logger.exception("task %r: could not cache its result; the run goes on", t.name)
        return self._complete(i, value, at=at)

    def _retry_or_raise(self, t: Task[..., Any], error: Exception, attempt: int) -> float:
        """The delay before the next attempt, or re-raise ``error`` if there is none."""
        policy: RetryPolicy = t.retry
        if not policy.should_retry(error, attempt):
            raise error
        delay = policy.delay_for(attempt, self.options.rand) if self.options.rand else policy.delay_for(attempt)
        logger.warning(
            "task %r attempt %d failed (%s); retry %d/%d in %.3g s",
            t.name,
            attempt,
            describe_error(error),
            attempt,
            policy.retries,
            delay,
        )
        if t.on_retry is not None:
            try:
                t.on_retry(t.name, attempt)
            except Exception:  # noqa: BLE001 - a callback never fails or re-runs the task
                _log_callback_error("on_retry", t.name)
        return delay

    def _context(self, t: Task[..., Any], attempt: int) -> TaskContext:
        return TaskContext(self.run_id, self.workflow, t.name, attempt, self.params)

    def _run_full(self, i: int, attempt_fn: SyncAttempt) -> bool:
        """The full runner: ``when``, cache, the retry loop, callbacks (see :meth:`_next_attempt`)."""
        prepared = self._prepare(i)
        if isinstance(prepared, bool):
            return prepared
        args, kwargs, key = prepared
        t = self.tasks[i]
        self._start(i, t)
        attempt = 1
        while True:
            ctx = self._attempt_context(i, t, attempt)
            try:
                value = attempt_fn(t, args, kwargs, ctx)
            except Exception as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
                delay = self._next_attempt(i, t, e, attempt, ctx)
                if delay is None:
                    return False
                if self._pause_before_retry(delay):
                    return self._not_retried(i, e)
                attempt += 1
                continue
            self._add_logs(i, ctx)
            return self._after_success(i, value, key)

    def _attempt_context(self, i: int, t: Task[..., Any], attempt: int) -> TaskContext:
        """Count attempt number ``attempt`` of node ``i`` and build its context."""
        self.attempts[i] = attempt
        self.attempt_started[i] = time.time()
        return self._context(t, attempt)

    def _next_attempt(
        self, i: int, t: Task[..., Any], error: Exception, attempt: int, ctx: TaskContext
    ) -> float | None:
        """After a failed attempt: the delay before the next one, or None when the task failed for good.

        The one retry decision of the sync and async attempt loops (they differ only in how
        they call an attempt and wait out the delay).
        """
        self._add_logs(i, ctx)
        self._keep_failed_attempt(i, error, attempt)
        try:
            return self._retry_or_raise(t, error, attempt)
        except Exception:  # noqa: BLE001 - the attempt's own error, re-raised by the policy
            self._fail(i, error)
            return None

    def _keep_failed_attempt(self, i: int, error: Exception, attempt: int) -> None:
        now = time.time()
        self.failed_attempts.setdefault(i, []).append(
            FailedAttempt(
                attempt,
                self.attempt_started.get(i, self.started[i] or now),
                now,
                describe_error(error),
                "".join(traceback.format_exception(error)),
            )
        )

    def _not_retried(self, i: int, error: Exception) -> bool:
        """Fail node ``i`` with the error of its last attempt: the run stopped before its retry."""
        error.add_note(f"task {self.names[i]!r} was not retried: the run is stopping")
        return self._fail(i, error)

    def _pause_before_retry(self, delay: float) -> bool:
        """Wait ``delay`` seconds before a retry, unless the run stops first; True if it did."""
        stopping, sleep = self.stopping, self.options.sleep
        if stopping.is_set():
            return True
        if sleep is time.sleep:
            return stopping.wait(delay)
        sleep(delay)  # an injected clock (tests)
        return stopping.is_set()

    async def _pause_before_retry_async(self, delay: float) -> bool:
        """:meth:`_pause_before_retry` on the event loop (the stop is checked every 0.1 s)."""
        stopping, sleep = self.stopping, self.options.async_sleep
        if stopping.is_set():
            return True
        if sleep is not asyncio.sleep:
            await sleep(delay)  # an injected clock (tests)
            return stopping.is_set()
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.1))
            if stopping.is_set():
                return True
        return False

    async def _run_fast_async(self, i: int) -> bool:
        t = self.tasks[i]
        up_pos = self.fast_table[1][i]
        results = self.results
        self.status[i] = _RUNNING
        self.started[i] = now = time.time()
        self.attempts[i] = 1
        if self._on_start is not None:
            self._on_start(t.name, now)
        ctx = TaskContext(self.run_id, self.workflow, t.name, 1, self.params)
        token = CURRENT_TASK.set(ctx)
        try:
            value = await t.fn(*[results[j] for j in up_pos])
        except (Exception, SystemExit) as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
            self._add_logs(i, ctx)
            return self._fail(i, exit_failure(t.name, e) if isinstance(e, SystemExit) else e)
        finally:
            CURRENT_TASK.reset(token)
        results[i] = value
        self._add_logs(i, ctx)
        self.finished[i] = time.time()
        self.status[i] = _COMPLETED
        if self._final_hook is not None:
            self._final_hook(i)
        return True

    async def _run_full_async(self, i: int) -> bool:
        """:meth:`_run_full` on the event loop."""
        prepared = self._prepare(i)
        if isinstance(prepared, bool):
            return prepared
        args, kwargs, key = prepared
        t = self.tasks[i]
        self._start(i, t)
        attempt = 1
        while True:
            ctx = self._attempt_context(i, t, attempt)
            try:
                value = await async_attempt(t, args, kwargs, ctx)
            except Exception as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
                delay = self._next_attempt(i, t, e, attempt, ctx)
                if delay is None:
                    return False
                if await self._pause_before_retry_async(delay):
                    return self._not_retried(i, e)
                attempt += 1
                continue
            self._add_logs(i, ctx)
            return self._after_success(i, value, key)

    # ------------------------------------------------------------ the end

    def stats(self) -> dict[str, Any]:
        """The ``get_workflow_stats()`` dict of this run so far."""
        return stats_of(self.status, (self.finished_at or time.time()) - self.started_at)

    def result(self) -> RunResult:
        """The ``RunResult`` of the run as it stands now."""
        status, names = self.status, self.names
        values = self.results
        stats = self.stats()
        if stats["completed"] == len(status) and not self.results_elsewhere:  # the usual case: nothing to filter
            results = dict(zip(names, values, strict=True))
        else:
            results = {
                names[i]: values[i] for i, s in enumerate(status) if s is _COMPLETED and values[i] is not NOT_GATHERED
            }
        errors = {names[i]: e for i, e in sorted(self.errors.items())}
        if self.interrupted:
            status_text = "cancelled"
        elif errors or stats["failed"]:
            status_text = "failed"
        elif _CANCELLED in status:
            status_text = "cancelled"
        else:
            status_text = "completed"
        result = RunResult(
            self.run_id,
            self.workflow,
            results,
            status=status_text,
            stats=stats,
            errors=errors,
            params=self.params,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )
        record = self.record
        result.set_records_builder(lambda: {names[i]: record(i) for i in range(len(names))})
        return result


FastTable = tuple[list[Callable[..., Any]], list[tuple[int, ...]], bytearray]
"""Per node: the function to call, the upstream ids passed positionally, and 1 when the node
needs the full runner (0: the fast inline path)."""


class Bindings:
    """The input binding of each node, planned on first use (fast nodes never need one).

    Example:
        >>> from ferroflow.engine.inputs import Binding
        >>> b = Bindings(lambda i: Binding(f"t{i}", [], [], {}, None))
        >>> b[3].task_name
        't3'
    """

    __slots__ = ("_done", "_make")

    def __init__(self, make: Callable[[int], Binding]) -> None:
        self._make = make
        self._done: dict[int, Binding] = {}

    def __getitem__(self, node: int) -> Binding:
        b = self._done.get(node)
        if b is None:
            b = self._done[node] = self._make(node)
        return b


def _chain(*hooks: OnStart | None) -> OnStart | None:
    """One start hook calling each of ``hooks`` that is not None, in order (None if none is)."""
    live = [h for h in hooks if h is not None]
    if len(live) <= 1:
        return live[0] if live else None

    def chained(name: str, at: float) -> None:
        for hook in live:
            hook(name, at)

    return chained


def _progress_start(progress: object) -> OnStart | None:
    """The start hook of a ``progress=`` object with a ``task_started(name)`` method, if it has one."""
    started = getattr(progress, "task_started", None)
    if not callable(started):
        return None

    def on_start(name: str, _at: float) -> None:
        try:
            started(name)
        except Exception:
            logger.exception("progress.task_started raised for task %r; ignored", name)

    return on_start


def _true() -> bool:
    return True


async def _async_true() -> bool:
    return True


def stats_of(statuses: Sequence[TaskStatus], elapsed: float) -> dict[str, Any]:
    """The ``get_workflow_stats()`` dict for a list of statuses."""
    counts = collections.Counter(statuses)
    return {
        "total_tasks": len(statuses),
        "completed": counts[_COMPLETED],
        "failed": counts[_FAILED],
        "skipped": counts[_SKIPPED],
        # Tasks that never ran (blocked by a failure or cancelled) count as pending.
        "pending": counts[_PENDING] + counts[_UPSTREAM_FAILED] + counts[_CANCELLED],
        "running": counts[_RUNNING],
        "total_time_seconds": round(max(0.0, elapsed), 6),
    }


# ---------------------------------------------------------------- the whole run
