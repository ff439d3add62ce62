"""Per-handler load: how many calls of each handler run, wait, finished, and which ones look stuck.

The :class:`~ferroflow.watch.dispatch.Dispatcher` keeps one :class:`HandlerLoad`
per handler name and a :class:`RunningCalls` table of the calls in progress.
A call running longer than ``stuck_after`` seconds is *stuck*: the stats name
its handler and path, and its worker thread stops counting against the pool
(another one takes its place), so a handler that never returns cannot take the
dispatch capacity from the others.

Example:
    >>> calls = RunningCalls()
    >>> calls.begin("k", "inbox.load", "/in/a.csv", started=100.0)
    >>> [c.handler for c in calls.stuck(after=5.0, now=106.0)]
    ['inbox.load']
    >>> calls.end("k").path
    '/in/a.csv'
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HandlerLoad", "RunningCall", "RunningCalls"]


@dataclass(slots=True)
class HandlerLoad:
    """What the dispatcher keeps per handler under its lock (sync calls are counted per thread).

    Attributes:
        parked: Events waiting because the handler's calls in progress reached its limit,
            as the dispatcher's jobs (path, chain, index of this handler's call).
        calls: Async calls made (failed ones included).
        errors: Async calls that raised.
    """

    parked: deque[Any] = field(default_factory=deque)
    calls: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True)
class RunningCall:
    """One handler call in progress."""

    handler: str
    path: str
    started: float

    def seconds(self, now: float | None = None) -> float:
        """How long it has been running."""
        return (time.monotonic() if now is None else now) - self.started


class RunningCalls:
    """The handler calls in progress, by a key of the caller's (a worker thread's ident, an async call's id).

    :attr:`table` holds ``key: (handler, path, started)``; the dispatcher's hot path writes it
    directly (one dict store and one pop per call, atomic under the GIL).
    """

    def __init__(self) -> None:
        self.table: dict[Hashable, tuple[str, str, float]] = {}

    def begin(self, key: Hashable, handler: str, path: str, started: float | None = None) -> None:
        """Note that ``handler`` started on ``path``."""
        self.table[key] = (handler, path, time.monotonic() if started is None else started)

    def end(self, key: Hashable) -> RunningCall | None:
        """Note that the call under ``key`` returned; the call, if it was known."""
        row = self.table.pop(key, None)
        return None if row is None else RunningCall(*row)

    def get(self, key: Hashable) -> RunningCall | None:
        """The call in progress under ``key``, if any."""
        row = self.table.get(key)
        return None if row is None else RunningCall(*row)

    def snapshot(self) -> dict[Hashable, RunningCall]:
        """The calls in progress."""
        return {key: RunningCall(*row) for key, row in self.table.copy().items()}

    def stuck(self, after: float, now: float | None = None) -> list[RunningCall]:
        """The calls running for ``after`` seconds or more, longest first."""
        now = time.monotonic() if now is None else now
        found = [c for c in self.snapshot().values() if now - c.started >= after]
        return sorted(found, key=lambda c: c.started)
