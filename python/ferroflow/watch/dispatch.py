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
- at most ``max_per_handler`` calls of one sync handler run at once; the
  other events for it wait (the handlers of other events go on meanwhile);
- a call running ``stuck_after`` seconds or more is *stuck*: a warning names
  it, the stats list it, and another worker thread takes its place, so handlers
  that never return cannot take the whole pool from the others (the extra
  thread ends once the stuck call returns);
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
import time
from collections import deque
from collections.abc import Callable, Coroutine, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..trigger import WATCH_EVENT
from .events import FileEvent
from .load import HandlerLoad, RunningCall, RunningCalls

__all__ = ["Call", "Dispatcher", "Entry", "remaining"]

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
        max_workers: Threads for sync handlers (not counting those of stuck calls).
        max_pending: Events accepted and not finished before ``submit`` blocks.
        on_call: Called after each handler call with ``(call, error)``.
        on_error: Called with ``(handler name, event, exception)`` when a handler raises.
        max_per_handler: Calls of one sync handler running at once (default: ``max_workers``).
        stuck_after: Seconds after which a running call counts as stuck (``None``: never).

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
        max_per_handler: int | None = None,
        stuck_after: float | None = 10.0,
    ) -> None:
        # Long-lived workers on a C queue: cheaper per event than an executor's futures.
        self._ready: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._max_workers = max(1, max_workers)
        self._workers: list[threading.Thread] = []
        self._per_handler = max(1, max_per_handler if max_per_handler is not None else self._max_workers)
        self.stuck_after = stuck_after
        """Seconds after which a running handler call counts as stuck (``None``: never)."""
        self._load: dict[str, HandlerLoad] = {}
        # Limits are checked (under the lock) once one handler could exceed its limit: when it is
        # below max_workers, or once a stand-in thread was added. Until then no lock is taken per call.
        self._limited = self._per_handler < self._max_workers
        self._thread_counts: list[dict[str, list[int]]] = []  # per worker thread: handler -> [calls, errors]
        self.running = RunningCalls()
        """The handler calls in progress (for the stats: which handler is stuck, on which path)."""
        self._replaced: set[int] = set()  # worker threads whose stuck call another thread stands in for
        self._retiring: set[int] = set()  # ... whose call returned: they end after their job
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
        self._watchdog_stop = threading.Event()
        with self._lock:
            for _ in range(self._max_workers):
                self._add_worker()
        self._watchdog_thread: threading.Thread | None = None
        if stuck_after is not None:
            self._watchdog_thread = threading.Thread(
                target=self._watchdog, name="ferroflow-watch-watchdog", daemon=True
            )
            self._watchdog_thread.start()

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

    @property
    def max_per_handler(self) -> int:
        """Calls of one sync handler that may run at once."""
        return self._per_handler

    def handler_stats(self) -> dict[str, dict[str, Any]]:
        """Per handler name: ``calls``, ``errors``, ``running``, ``waiting`` (events held back by the
        handler's limit), ``stuck`` (calls running ``stuck_after`` seconds or more) and
        ``longest_running_seconds``."""
        after = self.stuck_after if self.stuck_after is not None else float("inf")
        now = time.monotonic()
        running: dict[str, list[float]] = {}
        for call in self.running.snapshot().values():
            running.setdefault(call.handler, []).append(call.seconds(now))
        with self._lock:
            loads = {name: (load.calls, load.errors, len(load.parked)) for name, load in self._load.items()}
            per_thread = [dict(counts) for counts in self._thread_counts]
        done: dict[str, list[int]] = {}
        for counts in per_thread:
            for name, (calls, errors) in counts.items():
                total = done.setdefault(name, [0, 0])
                total[0] += calls
                total[1] += errors
        out: dict[str, dict[str, Any]] = {}
        for name in sorted(set(loads) | set(running) | set(done)):
            calls, errors, waiting = loads.get(name, (0, 0, 0))
            calls += done.get(name, [0, 0])[0]
            errors += done.get(name, [0, 0])[1]
            seconds = running.get(name, [])
            out[name] = {
                "calls": calls,
                "errors": errors,
                "running": len(seconds),
                "waiting": waiting,
                "stuck": sum(1 for s in seconds if s >= after),
                "longest_running_seconds": round(max(seconds, default=0.0), 3),
            }
        return out

    def stuck_calls(self) -> list[RunningCall]:
        """The calls running ``stuck_after`` seconds or more, longest first (none when it is ``None``)."""
        if self.stuck_after is None:
            return []
        return self.running.stuck(self.stuck_after)

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

    def _add_worker(self) -> None:
        """Start one more worker thread (lock held)."""
        self._workers = [w for w in self._workers if w.is_alive()]
        worker = threading.Thread(target=self._work, name=f"ferroflow-watch-{len(self._workers)}", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _work(self) -> None:
        ident = threading.get_ident()
        self._worker_idents.add(ident)
        counts: dict[str, list[int]] = {}  # this thread's alone: written without a lock
        with self._lock:
            self._thread_counts.append(counts)
        get = self._ready.get
        retiring = self._retiring
        while (job := get()) is not None:
            self._run(job, counts)
            if retiring and ident in retiring:
                # A stuck call of this thread returned; the thread that stood in for it stays.
                with self._lock:
                    retiring.discard(ident)
                return

    def _load_of(self, name: str) -> HandlerLoad:
        """The counters of handler ``name`` (lock held)."""
        load = self._load.get(name)
        if load is None:
            load = self._load[name] = HandlerLoad()
        return load

    def _run(self, job: _Job, counts: dict[str, list[int]]) -> None:
        """Run the job's sync handlers from its index on; hand async ones to the loop."""
        path, entries, index = job
        ident = threading.get_ident()
        table = self.running.table
        monotonic = time.monotonic
        calls = errors = 0
        for i in range(index, len(entries)):
            name, fn, is_async, event = entries[i]
            if is_async:
                if calls:
                    self._count(calls, errors)
                self._run_async(path, entries, i)
                return
            if self._limited:
                with self._lock:
                    if self._running_of(name) >= self._per_handler:
                        # The handler's limit is reached: the event waits for one of its calls to end.
                        if self._closing:
                            self._drop_locked(path)
                        else:
                            self._load_of(name).parked.append((path, entries, i))
                        if calls:
                            self._calls += calls
                            self._errors += errors
                        return
                    table[ident] = (name, path, monotonic())
            else:
                table[ident] = (name, path, monotonic())
            error: BaseException | None = None
            token = WATCH_EVENT.set(event)
            try:
                fn(event)
            except Exception as exc:
                error = exc
                logger.exception("watch handler %s failed on %s %s", name, event.change.name, event.path)
                self._failed(name, event, exc)
            finally:
                WATCH_EVENT.reset(token)
                del table[ident]
                # (_limited is read after the call left the table: see _running_of.)
                if self._limited:
                    self._returned(ident, name)
            done = counts.get(name)
            if done is None:
                done = counts[name] = [0, 0]
            done[0] += 1
            calls += 1
            if error is not None:
                done[1] += 1
                errors += 1
            if self._on_call is not None:
                self._report(Call(name, fn, is_async, event), error)
        self._finish(path, calls, errors)

    def _running_of(self, name: str) -> int:
        """Sync calls of ``name`` in progress (lock held).

        A call that started before the limits were checked leaves the table and then reads
        ``_limited``; one that a parked event counted is therefore seen by :meth:`_returned`.
        """
        return sum(1 for key, row in self.running.table.copy().items() if row[0] == name and isinstance(key, int))

    def _count(self, calls: int, errors: int) -> None:
        with self._lock:
            self._calls += calls
            self._errors += errors

    def _returned(self, ident: int, name: str) -> None:
        """A call of ``name`` returned: retire a replaced thread, let an event waiting for the handler go on."""
        with self._lock:
            if ident in self._replaced:
                self._replaced.discard(ident)
                self._retiring.add(ident)
                logger.info("watch handler %s returned; its stand-in worker thread stays", name)
            load = self._load.get(name)
            if load is not None and load.parked:
                job = load.parked.popleft()
                if self._closing:
                    self._drop_locked(job[0])
                else:
                    self._ready.put(job)

    def _drop_locked(self, path: str) -> None:
        """An accepted event of ``path`` will not run because of a shutdown (lock held)."""
        self._dropped += 1
        self._waiting.pop(path, None)
        self._active -= 1
        self._wake()

    def _watchdog(self) -> None:
        """Give every stuck call's worker thread a stand-in, so that the pool keeps ``max_workers`` threads."""
        after = self.stuck_after
        assert after is not None
        interval = min(1.0, max(0.01, after / 4))
        reported: set[tuple[Hashable, float]] = set()
        while not self._watchdog_stop.wait(interval):
            now = time.monotonic()
            calls = self.running.snapshot()
            reported &= {(k, c.started) for k, c in calls.items()}
            for key, call in calls.items():
                if now - call.started < after or (key, call.started) in reported:
                    continue
                reported.add((key, call.started))
                logger.warning(
                    "watch handler %s has been running for %.1fs on %s; it looks stuck",
                    call.handler,
                    now - call.started,
                    call.path,
                )
                if not isinstance(key, int):
                    continue  # an async call: the loop thread cannot be stood in for
                with self._lock:
                    # (Still the same call: once it returned, _returned sees the mark and the thread retires.)
                    if self._stopped or key in self._replaced or self.running.get(key) != call:
                        continue
                    self._replaced.add(key)
                    self._limited = True  # more threads than max_workers: a handler could exceed its limit
                    self._add_worker()

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
        key = ("async", object())
        self.running.begin(key, name, str(event.path))
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
            self.running.end(key)
        with self._lock:
            load = self._load_of(name)
            load.calls += 1
            self._calls += 1
            if error is not None:
                load.errors += 1
                self._errors += 1
        if self._on_call is not None:
            self._report(Call(name, fn, is_async, event), error)

    def _failed(self, name: str, event: FileEvent, error: BaseException) -> None:
        if self._on_error is not None:
            try:
                self._on_error(name, event, error)
            except Exception:
                logger.exception("watch error callback failed")

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

    def close_intake(self) -> None:
        """Accept no more events (a blocked ``submit`` returns) and drop those not started yet."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        self._closing = True
        self._room.notify_all()
        for later in self._waiting.values():
            if later:
                self._dropped += len(later)
                self._active -= len(later)
                later.clear()
        for load in self._load.values():
            while load.parked:
                self._drop_locked(load.parked.popleft()[0])
        self._wake()

    def shutdown(self, timeout: float | None = None, wait: bool = True) -> bool:
        """Stop accepting events, let running handler chains finish, stop the threads.

        Events accepted but not started yet are dropped (and counted in
        :attr:`dropped`). With ``wait=False`` (used when a handler itself stops
        the app) nothing is waited for. The whole call takes at most about
        ``timeout`` seconds: handlers still running then are left to their
        (daemon) threads and reported by :meth:`stuck_calls` / :attr:`running`.

        Returns:
            Whether everything finished within ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._close_locked()
            finished = True
            if wait:
                self._shutdown_waiting += 1
                try:
                    finished = self._idle.wait_for(lambda: self._active == 0, timeout)
                finally:
                    self._shutdown_waiting -= 1
            first, self._stopped = not self._stopped, True
            workers = list(self._workers)
        if first:  # shutdown may be called by several threads; tear down once
            self._watchdog_stop.set()
            if self._dropped:
                logger.info("watch: %d queued event(s) were not handled because the app stopped", self._dropped)
            for _ in workers:
                self._ready.put(None)
            if self._loop is not None:
                self._loop.stop()
        if wait and finished:
            me = threading.current_thread()
            for worker in workers:
                if worker is not me:
                    worker.join(remaining(deadline))
            if self._loop is not None:
                self._loop.join(remaining(deadline))
            if self._watchdog_thread is not None and self._watchdog_thread is not me:
                self._watchdog_thread.join(remaining(deadline))
        return finished


def remaining(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (``None``: no deadline), never negative."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())
