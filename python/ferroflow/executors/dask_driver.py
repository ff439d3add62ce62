"""The client side of the Dask executor: the ready set, submissions, outcomes, retries.

The run's tasks are cut into *units* (:mod:`~ferroflow.executors.dask_fusion`): one task
each, or a fused group of short tasks that runs as one Dask task. One thread (the
caller's) owns a ``_core.ReadyTracker`` over the units. A unit is submitted with the
futures of its upstream units as arguments, so Dask moves their results from worker to
worker, and, as plain Dask futures are, *ahead* of its upstream units' ends when it can
be: a unit whose tasks have no retries, no cache, no binding error and are not resumed
(a *look-ahead* unit) is submitted as soon as each of its upstream units is either
finished well or itself a submitted look-ahead unit, so the scheduler starts it the
moment its inputs exist, without a round trip through this client. Such a unit runs
like a fused group (its upstream outcomes are checked on the worker: one that failed
makes it ``UPSTREAM_FAILED`` there); its tasks show ``RUNNING`` here when their last
upstream unit finished, as on every executor. Finished futures arrive on a queue (a Dask
done-callback puts them there) and are gathered in batches; each task's outcome goes
through :class:`~ferroflow.engine.remote.RemoteSteps`, which keeps statuses, callbacks,
retries and the store as on every executor.

A single task's retries wait on a timer here (``on_retry`` runs when the retry is
decided, a stopping run does not retry); a fused task retries on the worker, and its
``on_retry`` calls and statuses are replayed here, in order, when the group's outcome
arrives. A task whose upstream failed is ``UPSTREAM_FAILED`` (decided here for a single
task, on the worker inside a group).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import queue
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle

from .._core import Graph, ReadyTracker
from ..engine.remote import RemoteCall, RemoteSteps
from ..errors import FerroflowError
from ..results import NOT_GATHERED, TaskStatus
from ..safetext import describe_error
from .dask_worker import Outcome, Payload, Upstream, run_attempt, run_group, summarize, summarize_group

if TYPE_CHECKING:
    from ..engine.plan import RunPlan

# ``distributed`` is only partly typed: its client and futures are handled as ``Any``.
Client = Any
Future = Any

__all__ = ["DaskDriver"]

_INTERRUPTED = "cancelled: the run was interrupted"
_FAIL_FAST = "cancelled: an earlier task failed (fail_fast)"
_GOOD = (TaskStatus.COMPLETED, TaskStatus.SKIPPED)
_UNDECIDED = (TaskStatus.PENDING, TaskStatus.RUNNING)
_LINGER_S = 0.05  # how long completions of units submitted ahead are collected before a gather
_BLOCKED = Outcome("blocked")


class _Inflight:
    __slots__ = ("attempt", "calls", "unit", "waited")

    def __init__(self, unit: int, attempt: int, calls: list[RemoteCall], waited: Future) -> None:
        self.unit, self.attempt, self.calls, self.waited = unit, attempt, calls, waited


class DaskDriver:
    """Runs one plan on one Dask client (see the module docstring).

    Args:
        plan: The run plan.
        client: A connected ``distributed.Client`` with at least one worker.
        gather: ``"all"``: every result comes back to the client (the ``RunResult`` holds
            them all); ``"sinks"``: only the results of tasks without downstream tasks.
        units: The units (lists of node ids in topological order), default one per task.
    """

    def __init__(self, plan: RunPlan, client: Client, gather: str, units: Sequence[list[int]] | None = None) -> None:
        self.plan = plan
        self.client = client
        self.steps = RemoteSteps(plan)
        n = len(plan.tasks)
        self.preds = [plan.graph.predecessor_ids(i) for i in range(n)]
        self.units: list[list[int]] = list(units) if units is not None else [[i] for i in range(n)]
        self.unit_of = [0] * n
        for u, nodes in enumerate(self.units):
            for i in nodes:
                self.unit_of[i] = u
        self.tracker = ReadyTracker(self._unit_graph())
        self.outside = [0] * n  # successors in other units not finished yet, per node
        for i, ps in enumerate(self.preds):
            for p in ps:
                if self.unit_of[p] != self.unit_of[i]:
                    self.outside[p] += 1
        self.sink = [True] * n
        for ps in self.preds:
            for p in ps:
                self.sink[p] = False
        self.gather_all = gather == "all"
        self.inputs: list[Any] = [Upstream(i) for i in range(n)]
        self.futures: dict[int, Future] = {}  # node -> the future holding its outcome
        self.inflight: dict[Any, _Inflight] = {}
        self.done: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self.timers: list[tuple[float, int, int, int, Exception]] = []
        self._seq = itertools.count()
        self.stop = False
        self.submitted = 0
        self._payloads: dict[int, bytes] = {}
        self._keep_call: dict[int, RemoteCall] = {}  # the call of a task waiting to retry
        fused = any(len(nodes) > 1 for nodes in self.units)
        self._workers: list[str] = sorted(client.nthreads()) if fused else []
        self._next_worker = 0
        self._succ_units: list[list[int]] = [[] for _ in self.units]
        self._waiting_subs = [0] * len(self.units)  # upstream units neither finished nor launched ahead
        for a, b in self._unit_edges:
            self._succ_units[a].append(b)
            self._waiting_subs[b] += 1
        self._ahead = [all(self._can_go_ahead(i) for i in nodes) for nodes in self.units]
        self._launched: set[int] = set()  # units submitted as look-ahead (group-style) units
        self._finished: set[int] = set()
        self._to_release: list[int] = []  # launched or finished units whose successors to count down
        self._handed: set[int] = set()  # launched units the ready set has handed out
        self._early: dict[int, tuple[_Inflight, Any, Future | None]] = {}  # ends that came before that
        self._replay: list[tuple[_Inflight, Any, Future | None]] = []  # early ends now due
        self._waiting_here = 0  # units in flight that were not submitted ahead

    def _can_go_ahead(self, node: int) -> bool:
        """A task that can be submitted before its upstream tasks end (see the module doc)."""
        plan = self.plan
        t = plan.tasks[node]
        return (
            t.retry.retries == 0
            and t.cache_ttl is None
            and node not in plan.resumed_ids
            and plan.bindings[node].error is None
        )

    def _unit_graph(self) -> Graph:
        g = Graph()
        g.extend([str(u) for u in range(len(self.units))])
        edges = {(self.unit_of[p], u) for u, nodes in enumerate(self.units) for i in nodes for p in self.preds[i]}
        self._unit_edges = sorted((a, b) for a, b in edges if a != b)
        g.extend_ids(self._unit_edges)
        return g

    # ------------------------------------------------------------ the loop

    def run(self) -> None:
        """Run every unit (blocking); on an interrupt, cancel what runs and re-raise."""
        try:
            self._ready(self.tracker.start())
            while self.inflight or self.timers:
                self._wait_and_process()
        except BaseException:
            self.plan.stopping.set()
            self._cancel_inflight(_INTERRUPTED)
            self.plan.mark_cancelled(self._nodes(self.tracker.cancel_waiting()), _INTERRUPTED)
            raise
        finally:
            self.futures.clear()

    def _only_ahead(self) -> bool:
        """No unit in flight or waiting to retry needs this client to go on (see the module doc)."""
        return not self.timers and not self._waiting_here

    def _nodes(self, units: Sequence[int]) -> list[int]:
        return [i for u in units for i in self.units[u]]

    def _wait_and_process(self) -> None:
        wait = 1.0
        if self.timers:
            wait = min(wait, max(0.0, self.timers[0][0] - time.monotonic()))
        batch: list[Future] = []
        try:
            batch.append(self.done.get(timeout=wait))
            # While only units submitted ahead run, nothing waits on this client: gather
            # their outcomes in fewer, larger round trips (each one costs the scheduler).
            until = time.monotonic() + (_LINGER_S if self._only_ahead() else 0.0)
            while True:
                left = until - time.monotonic()
                batch.append(self.done.get(timeout=left) if left > 0 else self.done.get_nowait())
        except queue.Empty:
            pass
        self._process(batch)
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, node, attempt, error = heapq.heappop(self.timers)
            if self.stop or self.plan.stopping.is_set():
                self._after_task(node, self.steps.not_retried(node, error))
            else:
                self._submit_task(node, attempt, self._keep_call.pop(node))
        while self._replay:
            self._end(*self._replay.pop())

    def _process(self, batch: list[Future]) -> None:
        live = [(f, self.inflight.pop(f.key)) for f in batch if f.key in self.inflight]
        if not live:
            return
        self._waiting_here -= sum(1 for _, w in live if w.unit not in self._launched)
        ok = [(f, w) for f, w in live if f.status == "finished"]
        outcomes: list[Any] = self.client.gather([f for f, _ in ok]) if ok else []
        ends: list[tuple[_Inflight, Any, Future | None]] = [
            (w, out, None) for (_, w), out in zip(ok, outcomes, strict=True)
        ]
        ends.extend((w, None, f) for f, w in live if f.status != "finished")
        for end in ends:
            u = end[0].unit
            if u in self._launched and u not in self._handed:
                self._early[u] = end  # its upstream units' outcomes are not all booked yet
            else:
                self._end(*end)
        while self._replay:
            self._end(*self._replay.pop())

    def _end(self, w: _Inflight, out: Any, lost: Future | None) -> None:
        """Book the outcome of a unit's future (``lost``: the future that ended without one)."""
        if lost is not None:
            self._lost(w, lost)
        elif len(self.units[w.unit]) == 1 and not isinstance(out, dict):
            self._outcome(self.units[w.unit][0], w.attempt, w.calls[0], out)
        else:
            self._group_outcome(w, out)

    def _lost(self, w: _Inflight, f: Future) -> None:
        """A future that ended without an outcome: the cluster lost it, or it was cancelled."""
        try:
            exc = f.exception(timeout=5)
            detail = describe_error(exc)
        except Exception as e:  # noqa: BLE001 - whatever the cluster says, the task fails naming it
            detail = describe_error(e)
        nodes = self.units[w.unit]
        for node in nodes:
            if self.plan.status[node] in _GOOD or self.plan.status[node] is TaskStatus.FAILED:
                continue
            if any(self.plan.status[p] not in _GOOD for p in self.preds[node]):
                self.plan.mark_blocked([node])
                continue
            error = FerroflowError(f"task {self.plan.names[node]!r}: Dask could not run it ({detail})")
            self.steps.failed(node, error)
        self._after_unit(w.unit)

    def _outcome(self, node: int, attempt: int, call: RemoteCall, out: Outcome) -> None:
        """The outcome of one attempt of a single (not fused) task."""
        steps = self.steps
        if out.kind == "ok":
            value = out.value() if out.blob is not None else NOT_GATHERED
            done = steps.succeeded(node, value, attempt, out.logs, out.started_at, call.cache_key, out.finished_at)
            self._after_task(node, done)
        elif out.kind == "skip":
            self._after_task(node, steps.skipped(node, out.logs))
        elif out.kind == "when_err":
            assert isinstance(out.error, Exception)
            self._after_task(node, steps.when_failed(node, out.error, out.logs))
        else:
            error = out.error
            assert isinstance(error, Exception)
            delay = steps.attempt_failed(node, error, attempt, out.logs, out.started_at)
            if delay is None:
                self._after_task(node, False)
            elif self.stop or self.plan.stopping.is_set():
                self._after_task(node, steps.not_retried(node, error))
            else:
                heapq.heappush(self.timers, (time.monotonic() + delay, next(self._seq), node, attempt + 1, error))
                self._keep_call[node] = call

    def _group_outcome(self, w: _Inflight, outs: dict[int, Outcome]) -> None:
        """The outcomes of a fused group, replayed task by task in the group's order."""
        steps, failed = self.steps, False
        for node in self.units[w.unit]:
            out = outs[node]
            if out.kind == "blocked":
                self.plan.mark_blocked([node])
                continue
            for k, (error, logs) in enumerate(out.earlier, start=1):
                assert isinstance(error, Exception)
                steps.attempt_failed(node, error, k, logs, out.started_at if k == 1 else None)
            if out.kind == "ok":
                value = out.value() if out.blob is not None else NOT_GATHERED
                steps.succeeded(node, value, out.attempt, out.logs, out.started_at, None, out.finished_at)
            elif out.kind == "skip":
                steps.skipped(node, out.logs)
            elif out.kind == "when_err":
                assert isinstance(out.error, Exception)
                failed = not steps.when_failed(node, out.error, out.logs) or failed
            else:
                assert isinstance(out.error, Exception)
                if steps.attempt_failed(node, out.error, out.attempt, out.logs, out.started_at) is not None:
                    steps.not_retried(node, out.error)  # the worker gave up first (the run is stopping)
                failed = True
        self._after_unit(w.unit, failed)

    # ------------------------------------------------------------ submitting

    def _ready(self, units: Sequence[int]) -> None:
        """Prepare and submit ready units; tasks answered here (resumed, cached) unlock more."""
        stack = list(units)
        while stack:
            u = stack.pop()
            nodes = self.units[u]
            if u in self._launched:
                self._handed.add(u)
                early = self._early.pop(u, None)
                if early is not None:
                    self._replay.append(early)
                else:
                    self._began(u)  # submitted ahead: its inputs exist now, so it can start
                continue
            if self.stop:
                self.plan.mark_cancelled(nodes, _FAIL_FAST)
                continue
            if len(nodes) > 1 or self._ahead[u]:
                self._submit_group(u, ready=True)
                continue
            node = nodes[0]
            if any(self.plan.status[p] not in _GOOD for p in self.preds[node]):
                self.plan.mark_blocked([node])
                stack.extend(self._finish_unit(u, False))
                continue
            if self.steps.needs_values(node):
                self._fetch_values(self.preds[node])
            prepared = self.steps.prepare(node, self.inputs)
            if isinstance(prepared, bool):
                if prepared:
                    self.inputs[node] = self.plan.results[node]
                stack.extend(self._finish_unit(u, not prepared))
                continue
            self._submit_task(node, 1, prepared)
        self._release_waiting()

    def _fetch_values(self, nodes: list[int]) -> None:
        """Bring the results of ``nodes`` here (a caching task computes its key from them)."""
        missing = [j for j in nodes if self.plan.results[j] is NOT_GATHERED and j in self.futures]
        if missing:
            outcomes = self.client.gather([self.futures[j] for j in missing])
            for j, out in zip(missing, outcomes, strict=True):
                found = out[j] if isinstance(out, dict) else out
                self.plan.results[j] = found.value()

    def _payload(self, node: int, call: RemoteCall, fused: bool) -> bytes:
        payload = self._payloads.get(node)
        if payload is not None:
            return payload
        t = self.plan.tasks[node]
        p = Payload(
            t.fn,
            t.name,
            t.timeout,
            None if call.when_here else t.when,
            self.plan.run_id,
            self.plan.workflow,
            self.plan.params,
            call.args,
            call.kwargs,
            t.is_async(),
            t.retry if fused else None,
        )
        try:
            payload = self._payloads[node] = bytes(cloudpickle.dumps(p))
        except Exception as e:
            raise FerroflowError(
                f"task {t.name!r}: its function or inputs cannot be pickled to send them to Dask workers "
                f"({describe_error(e)}); use module-level functions and plain data"
            ) from e
        return payload

    def _upstream(self, nodes: Sequence[int], calls: Sequence[RemoteCall]) -> dict[int, Any]:
        """The futures (or a ``blocked`` outcome) a unit's placeholders and checks refer to."""
        inside = set(nodes)
        ups: dict[int, Any] = {}
        for call in calls:
            for v in _placeholders(call):
                if v.node not in inside:
                    ups[v.node] = self.futures.get(v.node, _BLOCKED)
        for i in nodes:
            for p in self.preds[i]:
                if p in inside or self.plan.status[p] in _GOOD:
                    continue
                if self.plan.status[p] in _UNDECIDED and p in self.futures:
                    ups[p] = self.futures[p]  # still running: its outcome is checked on the worker
                else:
                    ups[p] = _BLOCKED
        return ups

    def _key(self, node: int, attempt: int) -> str:
        return f"{self.plan.names[node]}-{attempt}-{self.plan.run_id}"

    def _submit_task(self, node: int, attempt: int, call: RemoteCall) -> None:
        try:
            payload = self._payload(node, call, False)
        except FerroflowError as e:
            self._after_task(node, self.steps.failed(node, e))
            return
        key = self._key(node, attempt)
        fut = self.client.submit(run_attempt, payload, attempt, self._upstream([node], [call]), key=key, pure=False)
        self.submitted += 1
        waited = fut
        if not self.gather_all and not self.sink[node]:
            waited = self.client.submit(summarize, fut, key=f"{key}-record", pure=False)
        self.futures[node] = fut
        self.inflight[waited.key] = _Inflight(self.unit_of[node], attempt, [call], waited)
        self._waiting_here += 1
        waited.add_done_callback(self.done.put)

    def _began(self, u: int) -> None:
        """Mark the tasks of a look-ahead unit ``RUNNING`` (its upstream units all finished)."""
        plan = self.plan
        if len(self.units[u]) == 1:
            node = self.units[u][0]
            if (
                plan.status[node] is TaskStatus.PENDING
                and plan.tasks[node].when is None
                and all(plan.status[p] in _GOOD for p in self.preds[node])
            ):
                plan._start(node, plan.tasks[node])

    def _submit_group(self, u: int, *, ready: bool) -> None:
        nodes = self.units[u]
        calls: list[RemoteCall] = []
        payloads: list[bytes] = []
        for node in nodes:
            prepared = self.steps.prepare(node, self.inputs, start=False)
            assert isinstance(prepared, RemoteCall)  # fused and look-ahead tasks bind and are not resumed
            calls.append(prepared)
            try:
                payloads.append(self._payload(node, prepared, True))
            except FerroflowError as e:
                payloads.append(cloudpickle.dumps(_Unpicklable(e)))
        ups = self._upstream(nodes, calls)
        inside = set(nodes)
        checks = [[p for p in self.preds[i] if p in inside or p in ups] for i in nodes]
        key = self._key(nodes[0], 1) if len(nodes) == 1 else f"group-{nodes[0]}-{len(nodes)}-{self.plan.run_id}"
        # Spread groups over the workers (Dask alone keeps small tasks next to their inputs,
        # so one worker would get them all); a worker that is gone falls back to any other.
        worker = None
        if self._workers and len(nodes) > 1:
            worker = self._workers[self._next_worker % len(self._workers)]
            self._next_worker += 1
        fut = self.client.submit(
            run_group,
            payloads,
            nodes,
            checks,
            ups,
            key=key,
            pure=False,
            workers=[worker] if worker else None,
            allow_other_workers=worker is not None,
        )
        self.submitted += 1
        waited = fut
        if not self.gather_all:
            keep = frozenset(i for i in nodes if self.sink[i])
            waited = self.client.submit(summarize_group, fut, keep, key=f"{key}-record", pure=False)
        for node in nodes:
            self.futures[node] = fut
        self.inflight[waited.key] = _Inflight(u, 1, calls, waited)
        waited.add_done_callback(self.done.put)
        if not self._ahead[u]:
            self._waiting_here += 1
        else:
            self._launched.add(u)
            self._to_release.append(u)
            if ready:
                self._handed.add(u)
                self._began(u)

    def _release_waiting(self) -> None:
        """Submit the look-ahead units that the units launched or finished since unblock."""
        while self._to_release:
            for s in self._succ_units[self._to_release.pop()]:
                self._waiting_subs[s] -= 1
                if (
                    not self._waiting_subs[s]
                    and self._ahead[s]
                    and s not in self._launched
                    and s not in self._finished
                    and not self.stop
                ):
                    self._submit_group(s, ready=False)

    # ------------------------------------------------------------ after a unit

    def _after_task(self, node: int, ok: bool) -> None:
        self._after_unit(self.unit_of[node], not ok)

    def _after_unit(self, u: int, failed: bool = False) -> None:
        self._ready(self._finish_unit(u, failed))

    def _finish_unit(self, u: int, failed: bool) -> list[int]:
        """Report unit ``u`` to the ready set; return the units it made ready."""
        self._finished.add(u)
        if u not in self._launched:
            self._to_release.append(u)
        for node in self.units[u]:
            self._payloads.pop(node, None)
            if self.plan.status[node] not in _GOOD:
                self.futures.pop(node, None)
            for p in self.preds[node]:
                if self.unit_of[p] != u:
                    self.outside[p] -= 1
                    if not self.outside[p]:
                        self.futures.pop(p, None)  # no one needs it any more: Dask may free it
        ready = self.tracker.complete(u)
        if failed and self.plan.fail_fast and not self.stop:
            self.stop = True
            self.plan.mark_cancelled(self._nodes(self.tracker.cancel_waiting()), _FAIL_FAST)
            self._cancel_inflight(_FAIL_FAST)
            for _, _, j, _, error in self.timers:
                self.steps.not_retried(j, error)
            self.timers.clear()
        if self.stop:
            self.plan.mark_cancelled(self._nodes(ready), _FAIL_FAST)
            return []
        return ready

    def _cancel_inflight(self, reason: str) -> None:
        """Cancel the futures not finished yet; their tasks are ``CANCELLED``."""
        if not self.inflight:
            return
        running = list(self.inflight.values())
        self.inflight.clear()
        self._waiting_here = 0
        nodes = self._nodes([w.unit for w in running])
        futures = [w.waited for w in running] + [self.futures[i] for i in nodes if i in self.futures]
        with contextlib.suppress(Exception):  # the cluster may be gone already; the run ends anyway
            self.client.cancel(futures)
        self.steps.cancelled(nodes, reason)


class _Unpicklable:
    """Stands in a group for a task that could not be pickled: unpickling it raises its error."""

    def __init__(self, error: FerroflowError) -> None:
        self.error = error

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_raise, (str(self.error),))


def _raise(message: str) -> None:
    raise FerroflowError(message)


def _placeholders(call: RemoteCall) -> list[Upstream]:
    found = [a for a in call.args if a.__class__ is Upstream]
    found.extend(v for v in call.kwargs.values() if v.__class__ is Upstream)
    return found
