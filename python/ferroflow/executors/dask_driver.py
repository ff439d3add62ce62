"""The client side of the Dask executor: the ready set, submissions, outcomes, retries.

One thread (the caller's) owns a ``_core.ReadyTracker``. A node is submitted when its
last upstream completed, with the :class:`~ferroflow.executors.dask_worker.Outcome`
futures of its upstreams as arguments, so Dask moves their results from worker to worker.
Finished futures arrive on a queue (a Dask done-callback puts them there) and are
gathered in batches; each outcome goes through :class:`~ferroflow.engine.remote.RemoteSteps`,
which keeps statuses, callbacks, retries and the store exactly as on every executor.
Retries wait on a timer here, so ``on_retry`` runs on the client and a stopping run does
not retry.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import queue
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import cloudpickle

from .._core import ReadyTracker
from ..engine.remote import RemoteCall, RemoteSteps
from ..errors import FerroflowError
from ..results import NOT_GATHERED
from .dask_worker import Outcome, Payload, Upstream, run_attempt, summarize

if TYPE_CHECKING:
    from ..engine.plan import RunPlan

# ``distributed`` is only partly typed: its client and futures are handled as ``Any``.
Client = Any
Future = Any

__all__ = ["DaskDriver"]

_INTERRUPTED = "cancelled: the run was interrupted"
_FAIL_FAST = "cancelled: an earlier task failed (fail_fast)"


class _Inflight:
    __slots__ = ("attempt", "call", "node", "waited")

    def __init__(self, node: int, attempt: int, call: RemoteCall, waited: Future) -> None:
        self.node, self.attempt, self.call, self.waited = node, attempt, call, waited


class DaskDriver:
    """Runs one plan on one Dask client (see the module docstring).

    Args:
        plan: The run plan.
        client: A connected ``distributed.Client`` with at least one worker.
        gather: ``"all"``: every result comes back to the client (the ``RunResult`` holds
            them all); ``"sinks"``: only the results of tasks without downstream tasks.
    """

    def __init__(self, plan: RunPlan, client: Client, gather: str) -> None:
        self.plan = plan
        self.client = client
        self.steps = RemoteSteps(plan)
        n = len(plan.tasks)
        self.tracker = ReadyTracker(plan.graph)
        self.preds = [plan.graph.predecessor_ids(i) for i in range(n)]
        self.left = [0] * n  # successors not finished yet, per node
        for ps in self.preds:
            for p in ps:
                self.left[p] += 1
        self.gather_all = gather == "all"
        self.inputs: list[Any] = [Upstream(i) for i in range(n)]
        self.futures: dict[int, Future] = {}
        self.inflight: dict[Any, _Inflight] = {}
        self.done: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self.timers: list[tuple[float, int, int, int, Exception]] = []
        self._seq = itertools.count()
        self.stop = False
        self.submitted = 0
        self._payloads: dict[int, bytes] = {}
        self._keep_call: dict[int, RemoteCall] = {}  # the call of a node waiting to retry

    # ------------------------------------------------------------ the loop

    def run(self) -> None:
        """Run every node (blocking); on an interrupt, cancel what runs and re-raise."""
        try:
            self._ready(self.tracker.start())
            while self.inflight or self.timers:
                self._wait_and_process()
        except BaseException:
            self.plan.stopping.set()
            self._cancel_inflight(_INTERRUPTED)
            self.plan.mark_cancelled(self.tracker.cancel_waiting(), _INTERRUPTED)
            raise
        finally:
            self.futures.clear()

    def _wait_and_process(self) -> None:
        wait = 1.0
        if self.timers:
            wait = min(wait, max(0.0, self.timers[0][0] - time.monotonic()))
        batch: list[Future] = []
        try:
            batch.append(self.done.get(timeout=wait))
            while True:
                batch.append(self.done.get_nowait())
        except queue.Empty:
            pass
        self._process(batch)
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, node, attempt, error = heapq.heappop(self.timers)
            if self.stop or self.plan.stopping.is_set():
                self._after(node, self.steps.not_retried(node, error))
            else:
                self._submit(node, attempt, None)

    def _process(self, batch: list[Future]) -> None:
        live = [(f, self.inflight.pop(f.key)) for f in batch if f.key in self.inflight]
        if not live:
            return
        ok = [(f, w) for f, w in live if f.status == "finished"]
        outcomes: list[Outcome] = self.client.gather([f for f, _ in ok]) if ok else []
        for (_, w), out in zip(ok, outcomes, strict=True):
            self._outcome(w, out)
        for f, w in live:
            if f.status != "finished":
                self._lost(w, f)

    def _lost(self, w: _Inflight, f: Future) -> None:
        """A future that ended without an outcome: the cluster lost it, or it was cancelled."""
        name = self.plan.names[w.node]
        try:
            exc = f.exception(timeout=5)
            detail = f"{type(exc).__name__}: {exc}"
        except Exception as e:  # noqa: BLE001 - whatever the cluster says, the task fails naming it
            detail = f"{type(e).__name__}: {e}"
        error = FerroflowError(f"task {name!r}: Dask could not run it ({detail})")
        self._after(w.node, self.steps.failed(w.node, error))

    def _outcome(self, w: _Inflight, out: Outcome) -> None:
        node, steps = w.node, self.steps
        if out.kind == "ok":
            if out.blob is not None:
                value = out.value()
            else:
                value = NOT_GATHERED
            self._after(node, steps.succeeded(node, value, w.attempt, out.logs, out.started_at, w.call.cache_key))
        elif out.kind == "skip":
            self.inputs[node] = None
            self.futures.pop(node, None)
            self._after(node, steps.skipped(node, out.logs))
        elif out.kind == "when_err":
            assert isinstance(out.error, Exception)
            self._after(node, steps.when_failed(node, out.error, out.logs))
        else:
            error = out.error
            assert isinstance(error, Exception)
            delay = steps.attempt_failed(node, error, w.attempt, out.logs, out.started_at)
            if delay is None:
                self._after(node, False)
            elif self.stop or self.plan.stopping.is_set():
                self._after(node, steps.not_retried(node, error))
            else:
                entry = (time.monotonic() + delay, next(self._seq), node, w.attempt + 1, error)
                heapq.heappush(self.timers, entry)
                self._keep_call[node] = w.call

    # ------------------------------------------------------------ submitting

    def _ready(self, nodes: Iterable[int]) -> None:
        """Prepare and submit ready nodes; nodes answered here (resumed, cached) unlock more."""
        stack = list(nodes)
        while stack:
            node = stack.pop()
            if self.stop:
                self.plan.mark_cancelled([node], _FAIL_FAST)
                continue
            if self.steps.needs_values(node):
                self._fetch_values(self.preds[node])
            prepared = self.steps.prepare(node, self.inputs)
            if isinstance(prepared, bool):
                if prepared:
                    self.inputs[node] = self.plan.results[node]
                stack.extend(self._finish(node, prepared))
                continue
            self._submit(node, 1, prepared)

    def _fetch_values(self, nodes: list[int]) -> None:
        """Bring the results of ``nodes`` here (a caching task computes its key from them)."""
        missing = [j for j in nodes if self.plan.results[j] is NOT_GATHERED and j in self.futures]
        if missing:
            outcomes = self.client.gather([self.futures[j] for j in missing])
            for j, out in zip(missing, outcomes, strict=True):
                self.plan.results[j] = out.value()

    def _payload(self, node: int, call: RemoteCall) -> bytes:
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
            t.is_async,
        )
        return bytes(cloudpickle.dumps(p))

    def _submit(self, node: int, attempt: int, call: RemoteCall | None) -> None:
        if call is None:
            call = self._keep_call.pop(node)
        name = self.plan.names[node]
        try:
            payload = self._payloads.get(node)
            if payload is None:
                payload = self._payloads[node] = self._payload(node, call)
        except Exception as e:  # noqa: BLE001 - whatever pickling raises, the task fails naming itself
            error = FerroflowError(
                f"task {name!r}: its function or inputs cannot be pickled to send them to Dask workers "
                f"({type(e).__name__}: {e}); use module-level functions and plain data"
            )
            self._after(node, self.steps.failed(node, error))
            return
        ups = {v.node: self.futures[v.node] for v in _placeholders(call)}
        key = f"{name}-{attempt}-{self.plan.run_id}"
        fut = self.client.submit(run_attempt, payload, attempt, ups, key=key, pure=False)
        self.submitted += 1
        waited = fut
        if not self.gather_all and self.left[node]:
            waited = self.client.submit(summarize, fut, key=f"{key}-record", pure=False)
        self.futures[node] = fut
        self.inflight[waited.key] = _Inflight(node, attempt, call, waited)
        waited.add_done_callback(self.done.put)

    # ------------------------------------------------------------ after a node

    def _after(self, node: int, ok: bool) -> None:
        self._payloads.pop(node, None)
        self._ready(self._finish(node, ok))

    def _finish(self, node: int, ok: bool) -> list[int]:
        """Report ``node`` to the ready set; return the nodes it made ready."""
        for p in self.preds[node]:
            self.left[p] -= 1
            if not self.left[p]:
                self.futures.pop(p, None)  # no one needs it any more: Dask may free it
        if ok:
            ready = self.tracker.complete(node)
            if self.stop:
                self.plan.mark_cancelled(ready, _FAIL_FAST)
                return []
            return ready
        self.futures.pop(node, None)
        self.plan.mark_blocked(self.tracker.fail(node))
        if self.plan.fail_fast and not self.stop:
            self.stop = True
            self.plan.mark_cancelled(self.tracker.cancel_waiting(), _FAIL_FAST)
            self._cancel_inflight(_FAIL_FAST)
            for _, _, j, _, error in self.timers:
                self.steps.not_retried(j, error)
            self.timers.clear()
        return []

    def _cancel_inflight(self, reason: str) -> None:
        """Cancel the futures not finished yet; their nodes are ``CANCELLED``."""
        if not self.inflight:
            return
        running = list(self.inflight.values())
        self.inflight.clear()
        futures = [w.waited for w in running] + [self.futures[w.node] for w in running if w.node in self.futures]
        with contextlib.suppress(Exception):  # the cluster may be gone already; the run ends anyway
            self.client.cancel(futures)
        self.steps.cancelled([w.node for w in running], reason)


def _placeholders(call: RemoteCall) -> list[Upstream]:
    found = [a for a in call.args if a.__class__ is Upstream]
    found.extend(v for v in call.kwargs.values() if v.__class__ is Upstream)
    return found
