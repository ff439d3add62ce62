"""Running handlers for events: ordering, concurrency, backpressure, failures.

The rules (SPEC §7):

- sync handlers run on a bounded thread pool, async handlers on one event-loop
  thread;
- for one event, the matching handlers run in priority order (higher first),
  each after the previous one finished;
- events of one path are handled in order, never concurrently (events of
  different paths run in parallel);
- a handler's exception is logged with its traceback and counted; nothing
  else is affected;
- at most ``max_pending`` events are accepted and not yet finished: past that,
  :meth:`Dispatcher.submit` blocks, so a slow handler slows the intake (and the
  watcher coalesces changes per path meanwhile) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .events import FileEvent

__all__ = ["Call", "Dispatcher"]

logger = logging.getLogger("ferroflow.watch")


@dataclass(frozen=True, slots=True)
class Call:
    """One handler to call with one event."""

    name: str
    fn: Callable[[FileEvent], Any]
    is_async: bool
    event: FileEvent


@dataclass(slots=True)
class _Job:
    path: str
    calls: list[Call]
    index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class _LoopThread:
    """One asyncio loop on its own thread, for async handlers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="ferroflow-watch-async", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def stop(self) -> None:
        """Ask the loop to stop once the callbacks queued so far ran (idempotent)."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)

    def join(self, timeout: float | None) -> None:
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


class Dispatcher:
    """Runs the handler chain of each event under the rules above.

    Args:
        max_workers: Threads for sync handlers.
        max_pending: Events accepted and not finished before ``submit`` blocks.
        on_call: Called after each handler call with ``(call, error)``.

    Example:
        >>> from ferroflow.watch import Change
        >>> seen = []
        >>> d = Dispatcher(max_workers=2, max_pending=8)
        >>> e = FileEvent(Change.added, "/r/a", "/r")
        >>> d.submit("/r/a", [Call("h", seen.append, False, e)])
        True
        >>> d.shutdown(timeout=5)
        True
        >>> seen == [e]
        True
    """

    def __init__(
        self,
        max_workers: int = 4,
        max_pending: int = 256,
        on_call: Callable[[Call, BaseException | None], None] | None = None,
    ) -> None:
        # Long-lived workers on a C queue: cheaper per event than an executor's futures.
        self._ready: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"ferroflow-watch-{i}", daemon=True)
            for i in range(max(1, max_workers))
        ]
        self._stopped = False
        self._loop: _LoopThread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._waiting: dict[str, deque[_Job]] = {}
        self._active = 0
        self._slots = threading.Semaphore(max(1, max_pending))
        self._closing = threading.Event()
        self._dropped = 0
        self._on_call = on_call
        self._worker_idents: set[int] = set()
        for worker in self._workers:
            worker.start()

    # ------------------------------------------------------------ intake

    def submit(self, path: str, calls: list[Call]) -> bool:
        """Queue the handler chain for one event of ``path``.

        Blocks while ``max_pending`` events are unfinished. Returns False (and
        queues nothing) once the dispatcher is shutting down.
        """
        while not self._slots.acquire(timeout=0.05):
            if self._closing.is_set():
                return False
        job = _Job(path, calls)
        with self._lock:
            if self._closing.is_set():
                self._slots.release()
                return False
            self._active += 1
            queue = self._waiting.get(path)
            if queue is not None:
                queue.append(job)
                return True
            self._waiting[path] = deque()
        self._run_soon(job)
        return True

    @property
    def pending(self) -> int:
        """Events accepted and not finished."""
        with self._lock:
            return self._active

    @property
    def dropped(self) -> int:
        """Events accepted but never started because of a shutdown."""
        return self._dropped

    def in_worker(self) -> bool:
        """Whether the current thread runs handlers (a pool thread or the loop thread)."""
        ident = threading.get_ident()
        return ident in self._worker_idents or (self._loop is not None and self._loop.ident == ident)

    # ------------------------------------------------------------ running

    def _run_soon(self, job: _Job) -> None:
        if self._stopped:  # the workers are gone: the job will never run
            self._finish(job, dropped=True)
        else:
            self._ready.put(job)

    def _work(self) -> None:
        self._worker_idents.add(threading.get_ident())
        while (job := self._ready.get()) is not None:
            self._run(job)

    def _run(self, job: _Job) -> None:
        """Run the job's sync handlers from ``job.index`` on; hand async ones to the loop."""
        while job.index < len(job.calls):
            call = job.calls[job.index]
            job.index += 1
            if call.is_async:
                self._run_async(job, call)
                return
            error: BaseException | None = None
            try:
                call.fn(call.event)
            except Exception as exc:
                error = exc
                logger.exception("watch handler %s failed on %s %s", call.name, call.event.change.name, call.event.path)
            self._report(call, error)
        self._finish(job)

    def _run_async(self, job: _Job, call: Call) -> None:
        if self._loop is None:
            with self._lock:
                if self._loop is None:
                    self._loop = _LoopThread()
        loop = self._loop.loop
        coro: Coroutine[Any, Any, Any] = self._await(call)
        fut = asyncio.run_coroutine_threadsafe(coro, loop)

        def resume(_: Future[Any]) -> None:
            # Continue the chain on the pool: sync handlers never run on the loop thread.
            self._run_soon(job)

        fut.add_done_callback(resume)

    async def _await(self, call: Call) -> None:
        error: BaseException | None = None
        try:
            result = call.fn(call.event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            error = exc
            logger.exception("watch handler %s failed on %s %s", call.name, call.event.change.name, call.event.path)
        self._report(call, error)

    def _report(self, call: Call, error: BaseException | None) -> None:
        if self._on_call is not None:
            try:
                self._on_call(call, error)
            except Exception:
                logger.exception("watch statistics callback failed")

    def _finish(self, job: _Job, dropped: bool = False) -> None:
        with self._lock:
            if dropped:
                self._dropped += 1
            queue = self._waiting.get(job.path)
            nxt: _Job | None = None
            if queue:
                if self._closing.is_set():
                    self._dropped += len(queue)
                    self._active -= len(queue)
                    for _ in queue:
                        self._slots.release()
                    queue.clear()
                else:
                    nxt = queue.popleft()
            if nxt is None:
                self._waiting.pop(job.path, None)
            self._active -= 1
            self._slots.release()
            self._idle.notify_all()
        if nxt is not None:
            self._run_soon(nxt)

    # ------------------------------------------------------------ shutdown

    def shutdown(self, timeout: float | None = None, wait: bool = True) -> bool:
        """Stop accepting events, let running handler chains finish, stop the threads.

        Events accepted but not started yet are dropped (and counted in
        :attr:`dropped`). With ``wait=False`` (used when a handler itself stops
        the app) nothing is waited for.

        Returns:
            Whether everything finished within ``timeout``.
        """
        self._closing.set()
        with self._lock:
            for queue in self._waiting.values():
                self._dropped += len(queue)
                self._active -= len(queue)
                for _ in queue:
                    self._slots.release()
                queue.clear()
            finished = True
            if wait:
                finished = self._idle.wait_for(lambda: self._active == 0, timeout)
            first, self._stopped = not self._stopped, True
        if first:  # shutdown may be called by several threads; tear down once
            if self._dropped:
                logger.info("watch: %d queued event(s) were not handled because the app stopped", self._dropped)
            for _ in self._workers:
                self._ready.put(None)
            if self._loop is not None:
                self._loop.stop()
        if wait and finished:
            me = threading.current_thread()
            for worker in self._workers:
                if worker is not me:
                    worker.join(timeout)
            if self._loop is not None:
                self._loop.join(timeout)
        return finished
