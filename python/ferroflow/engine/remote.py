"""The run plan's side of attempts that run somewhere else (a cluster), one step at a time.

A local executor hands a node to :meth:`RunPlan.execute`, which runs the whole attempt
loop on the calling thread. A cluster executor cannot: the attempt runs on a worker and
the plan only learns its outcome later. :class:`RemoteSteps` splits the attempt loop into
the steps such an executor drives from its client thread, so bindings, ``when``, the
cache, retries with back-off, statuses, callbacks and the store behave as everywhere:

1. :meth:`~RemoteSteps.prepare` a ready node: its inputs (as the executor's placeholders),
   or a final answer without running (resumed, a binding error, a cache hit);
2. the executor runs attempts on its workers; each outcome comes back through
   :meth:`~RemoteSteps.succeeded`, :meth:`~RemoteSteps.skipped` or
   :meth:`~RemoteSteps.attempt_failed` (which says whether and when to try again).

``ferroflow.executors.dask`` is the executor that drives it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..results import TaskStatus

if TYPE_CHECKING:
    from .plan import RunPlan

__all__ = ["RemoteCall", "RemoteSteps"]


@dataclass(slots=True)
class RemoteCall:
    """What a prepared node needs on the worker.

    Attributes:
        args: Positional arguments (the executor's placeholders stand for upstream results).
        kwargs: Keyword arguments (the same).
        cache_key: The cache key to store the result under, if the task caches.
        when_here: ``when`` was already evaluated (True) here; the worker must not.
    """

    args: list[Any]
    kwargs: dict[str, Any]
    cache_key: str | None
    when_here: bool


class RemoteSteps:
    """The steps of the attempt loop for an executor whose attempts run elsewhere.

    Args:
        plan: The run plan being executed.
    """

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan

    def needs_values(self, node: int) -> bool:
        """Whether :meth:`prepare` needs the upstream values themselves in ``plan.results``
        (a task that caches: its key is computed from its inputs, on this side)."""
        plan = self.plan
        return plan.tasks[node].cache_ttl is not None and plan.store is not None and node not in plan.resumed_ids

    def prepare(self, node: int, inputs: Sequence[Any], *, start: bool = True) -> RemoteCall | bool:
        """Prepare a ready node.

        Args:
            node: The node id.
            inputs: Per node id, what stands for its result in the call (a placeholder the
                worker resolves, or the value itself). Ignored when :meth:`needs_values`.
            start: Mark the node ``RUNNING`` now (False: when its outcome arrives, as for a
                task in a fused group).

        Returns:
            A :class:`RemoteCall` to run, or the node's final answer (True when its
            successors may run) when there is nothing to run: resumed, a binding error, a
            cache hit, or a ``when`` evaluated here that returned false.
        """
        plan = self.plan
        if node in plan.resumed_ids:
            return True
        t = plan.tasks[node]
        if self.needs_values(node):
            prepared = plan._prepare(node)
            if isinstance(prepared, bool):
                return prepared
            args, kwargs, key = prepared
            plan._start(node, t)
            return RemoteCall(args, kwargs, key, True)
        b = plan.bindings[node]
        if b.error is not None:
            return plan._fail(node, TypeError(b.error))
        args, kwargs = b.gather(inputs)
        if t.when is None and start:
            plan._start(node, t)
        return RemoteCall(args, kwargs, None, t.when is None)

    def _began(self, node: int, started_at: float | None) -> None:
        """Mark the node running if it is not yet (a ``when`` evaluated on the worker)."""
        plan = self.plan
        if plan.status[node] is TaskStatus.PENDING:
            plan._start(node, plan.tasks[node])
        if started_at is not None and plan.attempts[node] <= 1:
            plan.started[node] = started_at

    def _logs(self, node: int, logs: Sequence[str]) -> None:
        if logs:
            self.plan.logs.setdefault(node, []).extend(logs)

    def succeeded(
        self,
        node: int,
        value: Any,
        attempt: int,
        logs: Sequence[str],
        started_at: float | None,
        key: str | None,
        finished_at: float | None = None,
    ) -> bool:
        """Attempt ``attempt`` returned ``value``: the node is ``COMPLETED`` (and cached).

        ``started_at`` / ``finished_at`` are the worker's times (the record's duration is
        the task's, without the trip back to the client).
        """
        self._began(node, started_at)
        self.plan.attempts[node] = attempt
        self._logs(node, logs)
        return self.plan._after_success(node, value, key, at=finished_at)

    def skipped(self, node: int, logs: Sequence[str]) -> bool:
        """The worker evaluated ``when`` and it returned false: the node is ``SKIPPED``."""
        self._logs(node, logs)
        self.plan.results[node] = None
        self.plan._set_final(node, TaskStatus.SKIPPED, reason="its `when` condition returned false")
        return True

    def when_failed(self, node: int, error: Exception, logs: Sequence[str]) -> bool:
        """The worker's evaluation of ``when`` raised ``error``: the node is ``FAILED`` (no retry)."""
        self._logs(node, logs)
        error.add_note(f"raised by the `when` condition of task {self.plan.names[node]!r}")
        return self.plan._fail(node, error)

    def attempt_failed(
        self, node: int, error: Exception, attempt: int, logs: Sequence[str], started_at: float | None
    ) -> float | None:
        """Attempt ``attempt`` raised ``error``.

        Returns:
            The delay in seconds before the next attempt, or None when the node failed for
            good (it is then ``FAILED``; ``on_retry`` was called otherwise).
        """
        plan = self.plan
        self._began(node, started_at)
        plan.attempts[node] = attempt
        self._logs(node, logs)
        t = plan.tasks[node]
        try:
            return plan._retry_or_raise(t, error, attempt)
        except Exception:  # noqa: BLE001 - the attempt's own error, re-raised by the policy
            plan._fail(node, error)
            return None

    def not_retried(self, node: int, error: Exception) -> bool:
        """The run stopped while the node waited for its retry: ``FAILED`` with its last error."""
        return self.plan._not_retried(node, error)

    def failed(self, node: int, error: BaseException) -> bool:
        """The node failed outside its function (the cluster lost it, a pickling error)."""
        plan = self.plan
        if plan.status[node] is TaskStatus.PENDING:
            plan.started[node] = time.time()
        return plan._fail(node, error)

    def cancelled(self, nodes: Sequence[int], reason: str) -> None:
        """Mark ``nodes`` (running or not started) ``CANCELLED``."""
        plan = self.plan
        for i in nodes:
            if plan.status[i] in (TaskStatus.PENDING, TaskStatus.RUNNING):
                plan._set_final(i, TaskStatus.CANCELLED, reason=reason)
