"""Running handlers for events: ordering, concurrency, backpressure, failures.

The rules (docs/guide/watching.md, "Dispatch"):

- sync handlers run on a bounded thread pool, async handlers on one event-loop
  thread;
- for one event, the matching handlers run in priority order (higher first),
  each after the previous one finished;
- events of one path are handled in order, never concurrently (events of
  different paths run in parallel);
- a handler's exception is logged with its traceback and counted; nothing
  else is affected;
- at most ``max_pending`` events are accepted and not yet finished: past that,
  :meth:`Dispatcher.submit` and :meth:`Dispatcher.submit_many` block, so a
  slow handler slows the intake (and the watcher coalesces changes per path
  meanwhile) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..trigger import WATCH_EVENT
from .events import FileEvent

__all__ = ["Call", "Dispatcher", "Entry"]

logger = logging.getLogger("ferroflow.watch")


@dataclass(frozen=True, slots=True)
class Call:
    """One handler to call with one event."""

    name: str
    fn: Callable[[FileEvent], Any]
    is_async: bool
    event: FileEvent


Entry = tuple[str, Callable[[FileEvent], Any], bool, FileEvent]
"""One handler call as the dispatcher stores it: ``(name, fn, is_async, event)`` (a :class:`Call` as a tuple)."""

# A queued event: its path, its handler chain and the index of the next call to make.
_Job = tuple[str, Sequence[Entry], int]


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
        >>> d.submit_many([("/r/b", [("h", seen.append, False, e)])])
        1
        >>> d.shutdown(timeout=5)
        True
        >>> seen == [e, e], d.calls, d.errors
        (True, 2, 0)
    """

    def __init__(
        self,
        max_workers: int = 4,
        max_pending: int = 256,
        on_call: Callable[[Call, BaseException | None], None] | None = None,
        on_error: Callable[[str, FileEvent, BaseException], None] | None = None,
    ) -> None:
        # Long-lived workers on a C queue: cheaper per event than an executor's futures.
        self._ready: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"ferroflow-watch-{i}", daemon=True)
            for i in range(max(1, max_workers))
        ]
        self._stopped = False
        self._closing = False
        self._loop: _LoopThread | None = None
        # One lock guards the counters, the per-path queues and both conditions.
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # intake waits here for max_pending to allow more
        self._idle = threading.Condition(self._lock)  # shutdown waits here for the last event to finish
        self._intake_waiting = 0
        self._shutdown_waiting = 0
        self._waiting: dict[str, deque[_Job] | None] = {}  # paths being handled -> their queued events
        self._active = 0
        self._max_pending = max(1, max_pending)
        # A blocked intake resumes once half the room is free, not one event at a time (fewer thread switches).
        self._resume_below = self._max_pending // 2 + 1
        self._dropped = 0
        self._calls = 0
        self._errors = 0
        self._on_call = on_call
        self._on_error = on_error
        self._worker_idents: set[int] = set()
        for worker in self._workers:
            worker.start()

    # ------------------------------------------------------------ intake

    def submit(self, path: str, calls: list[Call]) -> bool:
        """Queue the handler chain for one event of ``path``.

        Blocks while ``max_pending`` events are unfinished. Returns False (and
        queues nothing) once the dispatcher is shutting down.
        """
        entries = [(c.name, c.fn, c.is_async, c.event) for c in calls]
        return self.submit_many([(path, entries)]) == 1

    def submit_many(
        self,
        jobs: Sequence[tuple[str, Sequence[Entry]]],
        before: Callable[[Sequence[tuple[str, Sequence[Entry]]]], None] | None = None,
    ) -> int:
        """Queue the handler chains of several events, ``(path, entries)`` each, in order.

        Takes as many events at once as ``max_pending`` leaves room for, then
        blocks until handlers finished enough of them, and so on.
        ``before`` is called (on the calling thread) with each run of events
        about to be queued.

        Returns:
            How many events were queued: fewer than ``len(jobs)`` only once the
            dispatcher is shutting down.
        """
        done = 0
        total = len(jobs)
        lock = self._lock
        while done < total:
            with lock:
                while self._active >= self._max_pending and not self._closing:
                    self._intake_waiting += 1
                    try:
                        self._room.wait()
                    finally:
                        self._intake_waiting -= 1
                if self._closing:
                    return done
                take = min(total - done, self._max_pending - self._active)
                self._active += take  # reserved: nobody else takes this room
            part = jobs[done : done + take]
            queued = False
            try:
                if before is not None:
                    before(part)
                with lock:
                    if not self._closing:
                        self._enqueue(part)
                        queued = True
            finally:
                if not queued:
                    with lock:
                        self._active -= take
                        self._wake()
            if not queued:
                return done
            done += take
        return done

    def _enqueue(self, part: Sequence[tuple[str, Sequence[Entry]]]) -> None:
        """Queue accepted events behind the running one of their path, or for the workers (lock held)."""
        waiting = self._waiting
        put = self._ready.put
        for path, entries in part:
            job = (path, entries, 0)
            if path not in waiting:
                waiting[path] = None
                put(job)
            else:
                later = waiting[path]
                if later is None:
                    waiting[path] = deque((job,))
                else:
                    later.append(job)

    @property
    def pending(self) -> int:
        """Events accepted and not finished."""
        with self._lock:
            return self._active

    @property
    def dropped(self) -> int:
        """Events accepted but never started because of a shutdown."""
        return self._dropped

    @property
    def calls(self) -> int:
        """Handler calls made (failed ones included)."""
        return self._calls

    @property
    def errors(self) -> int:
        """Handler calls that raised."""
        return self._errors

    def in_worker(self) -> bool:
        """Whether the current thread runs handlers (a pool thread or the loop thread)."""
        ident = threading.get_ident()
        return ident in self._worker_idents or (self._loop is not None and self._loop.ident == ident)

    # ------------------------------------------------------------ running

    def _run_soon(self, job: _Job) -> None:
        with self._lock:
            if not self._stopped:
                self._ready.put(job)
                return
        self._finish(job[0], 0, 0, dropped=True)  # the workers are gone: the job will never run

    def _work(self) -> None:
        self._worker_idents.add(threading.get_ident())
        get = self._ready.get
        while (job := get()) is not None:
            self._run(job)

    def _run(self, job: _Job) -> None:
        """Run the job's sync handlers from its index on; hand async ones to the loop."""
        path, entries, index = job
        calls = errors = 0
        for i in range(index, len(entries)):
            name, fn, is_async, event = entries[i]
            if is_async:
                if calls:
                    self._count(calls, errors)
                self._run_async(path, entries, i)
                return
            error: BaseException | None = None
            token = WATCH_EVENT.set(event)
            try:
                fn(event)
            except Exception as exc:
                error = exc
                errors += 1
                logger.exception("watch handler %s failed on %s %s", name, event.change.name, event.path)
                self._failed(name, event, exc)
            finally:
                WATCH_EVENT.reset(token)
            calls += 1
            if self._on_call is not None:
                self._report(Call(name, fn, is_async, event), error)
        self._finish(path, calls, errors)

    def _run_async(self, path: str, entries: Sequence[Entry], index: int) -> None:
        if self._loop is None:
            with self._lock:
                if self._loop is None:
                    self._loop = _LoopThread()
        loop = self._loop.loop
        coro: Coroutine[Any, Any, Any] = self._await(entries[index])
        fut = asyncio.run_coroutine_threadsafe(coro, loop)

        def resume(_: Future[Any]) -> None:
            # Continue the chain on the pool: sync handlers never run on the loop thread.
            self._run_soon((path, entries, index + 1))

        fut.add_done_callback(resume)

    async def _await(self, entry: Entry) -> None:
        name, fn, is_async, event = entry
        error: BaseException | None = None
        token = WATCH_EVENT.set(event)
        try:
            result = fn(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            error = exc
            logger.exception("watch handler %s failed on %s %s", name, event.change.name, event.path)
            self._failed(name, event, exc)
        finally:
            WATCH_EVENT.reset(token)
        self._count(1, 0 if error is None else 1)
        if self._on_call is not None:
            self._report(Call(name, fn, is_async, event), error)

    def _failed(self, name: str, event: FileEvent, error: BaseException) -> None:
        if self._on_error is not None:
            try:
                self._on_error(name, event, error)
            except Exception:
                logger.exception("watch error callback failed")

    def _count(self, calls: int, errors: int) -> None:
        with self._lock:
            self._calls += calls
            self._errors += errors

    def _report(self, call: Call, error: BaseException | None) -> None:
        if self._on_call is not None:
            try:
                self._on_call(call, error)
            except Exception:
                logger.exception("watch statistics callback failed")

    def _wake(self) -> None:
        """Wake a blocked intake or shutdown if the count of unfinished events allows (lock held)."""
        if self._intake_waiting and self._active < self._resume_below:
            self._room.notify()
        if self._shutdown_waiting and not self._active:
            self._idle.notify_all()

    def _finish(self, path: str, calls: int, errors: int, dropped: bool = False) -> None:
        with self._lock:
            self._calls += calls
            self._errors += errors
            if dropped:
                self._dropped += 1
            later = self._waiting.pop(path, None)
            if later:
                if self._closing:  # (shutdown emptied the queues already; this is for safety)
                    self._dropped += len(later)
                    self._active -= len(later)
                else:  # the next event of this path; the workers outlive closing, so it runs
                    self._waiting[path] = later
                    self._ready.put(later.popleft())
            self._active -= 1
            self._wake()

    # ------------------------------------------------------------ shutdown

    def shutdown(self, timeout: float | None = None, wait: bool = True) -> bool:
        """Stop accepting events, let running handler chains finish, stop the threads.

        Events accepted but not started yet are dropped (and counted in
        :attr:`dropped`). With ``wait=False`` (used when a handler itself stops
        the app) nothing is waited for.

        Returns:
            Whether everything finished within ``timeout``.
        """
        with self._lock:
            self._closing = True
            self._room.notify_all()
            for later in self._waiting.values():
                if later:
                    self._dropped += len(later)
                    self._active -= len(later)
                    later.clear()
            finished = True
            if wait:
                self._shutdown_waiting += 1
                try:
                    finished = self._idle.wait_for(lambda: self._active == 0, timeout)
                finally:
                    self._shutdown_waiting -= 1
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
