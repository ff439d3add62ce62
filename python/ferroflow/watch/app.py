"""``WatchApp``: handlers registered on folders, run on debounced file events.

One app runs one Rust watcher over all its roots (``ferroflow._core.Watcher``),
pulls batches from it on an intake thread (or the caller's thread in
:meth:`WatchApp.run`) and hands each event to the :class:`Dispatcher`.
"""

from __future__ import annotations

import inspect
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from .._core import Watcher, check_glob
from ..engine.atimport import refuse_run_at_import
from ..errors import WatchError, WatchHandlerError
from ..store.store import DEFAULT_STORE
from .dispatch import Dispatcher, Entry, remaining
from .events import Change, FileEvent
from .recording import SessionLog

if TYPE_CHECKING:
    from ..engine.dag import WorkflowFront
    from ..engine.workflow import Workflow

__all__ = ["RegisteredHandler", "WatchApp", "WatchHandlerError", "default_app", "reset_default_app", "run"]

logger = logging.getLogger("ferroflow.watch")

HandlerFn = Callable[[FileEvent], Any]
_ALL_CHANGES = (Change.added, Change.modified, Change.deleted)
_CHANGES = {int(c): c for c in Change}

# How the events of one (change, existing, matched subscriptions) are routed, worked out once:
# the distinct (root, pattern) pairs an event is built for, and per handler (priority order)
# its name, function, whether it is async, and which of those events it gets.
_Plan = tuple[Change, tuple[tuple[Path, str | None], ...], tuple[tuple[str, HandlerFn, bool, int], ...]]
_MAX_PLANS = 4096


class _Terminate(BaseException):
    """Raised by the SIGTERM handler that :meth:`WatchApp.run` installs."""


@dataclass(frozen=True, slots=True)
class RegisteredHandler:
    """A registered handler, as :attr:`WatchApp.handlers` lists it.

    Attributes:
        fn: The function called with each :class:`FileEvent`.
        name: Its display name (``module.qualname``).
        root: The folder as given.
        events: The changes it receives.
        pattern: Its glob(s), or ``None`` for every file.
        priority: Higher runs first among the handlers of one event.
        process_existing: Whether existing files are reported at start.
        recursive: Whether folders below the root count (``None``: the app's default).
        ignore: Extra ignore globs.
        stable_for: Seconds a created file must stay unchanged before it is delivered.
    """

    fn: HandlerFn
    name: str
    root: str
    events: list[Change]
    pattern: str | list[str] | None = None
    priority: int = 0
    process_existing: bool = False
    recursive: bool | None = None
    ignore: tuple[str, ...] = ()
    stable_for: float | None = None
    is_async: bool = False

    def patterns(self) -> list[str | None]:
        """Its globs as a list (``[None]`` when it has none)."""
        if self.pattern is None:
            return [None]
        return [self.pattern] if isinstance(self.pattern, str) else list(self.pattern)


@dataclass
class _Session:
    """One start..stop of an app."""

    watcher: Watcher
    dispatcher: Dispatcher
    routes: list[tuple[RegisteredHandler, str | None, str]]
    rank: dict[int, tuple[int, int]]
    plans: dict[tuple[int | bool, ...], _Plan | None] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    alive: bool = True
    closed: bool = False
    thread: threading.Thread | None = None
    close_lock: threading.Lock = field(default_factory=threading.Lock)
    record: SessionLog | None = None
    served: threading.Event = field(default_factory=threading.Event)  # the intake loop has returned
    caller_closes: bool = False  # stop() closes the session (with its timeout), not the intake thread
    started: float = field(default_factory=time.monotonic)
    counts_at_start: tuple[int, int, int] = (0, 0, 0)  # events, handler calls, failures when it opened


def _empty_row() -> dict[str, Any]:
    """A handler's line of ``stats["handlers"]`` before any call."""
    return {"calls": 0, "errors": 0, "running": 0, "waiting": 0, "stuck": 0, "longest_running_seconds": 0.0}


def _describe(fn: object) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return f"{module}.{qualname}" if module and module != "__main__" else str(qualname)


def _check_handler(fn: object, name: str) -> None:
    if not callable(fn):
        raise WatchHandlerError(f"handler {name!r} is not callable (got {type(fn).__name__}): pass a function")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: accept them
        return
    try:
        sig.bind(None)
    except TypeError:
        raise WatchHandlerError(
            f"handler {name!r} must accept exactly one argument, the FileEvent; its signature is {name.rsplit('.', 1)[-1]}{sig}"
        ) from None


def _ensure_json_logs() -> None:
    """Send ``ferroflow`` logs to stderr as JSON lines, unless logging was configured already."""
    from ..log import TaskLogCapture, configure_logging

    configured = [h for h in logging.getLogger("ferroflow").handlers if not isinstance(h, TaskLogCapture)]
    if not configured:
        configure_logging(json_output=True)


def _is_async(fn: object) -> bool:
    """Whether calling ``fn`` returns a coroutine (an ``async def`` function or callable object)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__dict__.get("__call__"))


def _check_events(events: Iterable[Change | int] | None) -> list[Change]:
    if events is None:
        return list(_ALL_CHANGES)
    out: list[Change] = []
    for e in events:
        try:
            change = Change(e)
        except ValueError:
            raise WatchError(f"unknown change {e!r}: use Change.added, Change.modified or Change.deleted") from None
        if change not in out:
            out.append(change)
    if not out:
        raise WatchError("events cannot be empty: list at least one Change")
    return out


def _check_pattern(pattern: str | Sequence[str] | None, root: str) -> str | list[str] | None:
    if pattern is None:
        return None
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    for p in patterns:
        if not isinstance(p, str):
            raise WatchError(f"pattern for root {root!r} must be a str or a list of str, got {type(p).__name__}")
        try:
            check_glob(p)
        except WatchError as exc:
            raise WatchError(f"{exc} (root {root!r})") from None
    return pattern if isinstance(pattern, str) else patterns


class WatchApp:
    """Watch folders and call handlers on debounced file events.

    Args:
        name: A name for logs and the dashboard.
        debounce: Seconds over which the changes of one path are coalesced.
        max_workers: Threads for sync handlers (async ones share one loop thread).
        recursive: Default for handlers that do not say.
        json_logs: Log one JSON object per line (configures the ``ferroflow``
            logger unless something already did).
        force_polling: Poll instead of using OS events (network mounts).
        poll_interval: Seconds between polling passes.
        watch_limit: ``"poll"`` to poll subtrees past the inotify watch limit
            (with a warning), ``"error"`` to fail at start instead.
        max_pending: Events accepted and not yet handled before intake waits.
        default_ignores: Skip VCS folders, caches and editor temp files.
        store: Where each run (start .. stop) is recorded as a watch session, for
            ``ferroflow runs`` and the dashboard: a store path, a ``Store``, the default
            store, or ``None`` for no record.
        max_per_handler: Calls of one sync handler running at once. Default:
            ``max_workers - 1`` when several handlers are registered (one thread is
            always left for the others), else ``max_workers``.
        stuck_after: Seconds after which a running handler call counts as stuck:
            a warning names it, :attr:`stats` lists it (``stuck``, and ``stuck`` per
            handler), and another thread takes its place in the pool (``None``: never).
        stop_timeout: Seconds :meth:`run` (and ``ferroflow run``) give running
            handlers to finish on SIGINT / SIGTERM before returning without them.

    Example:
        >>> import pathlib, tempfile
        >>> inbox = pathlib.Path(tempfile.mkdtemp())
        >>> app = WatchApp(debounce=0.05)
        >>> seen = []
        >>> _ = app.add_handler(seen.append, inbox, [Change.added], pattern="*.txt")
        >>> app.start()
        >>> _ = (inbox / "a.txt").write_text("hi")
        >>> import time; deadline = time.monotonic() + 10
        >>> while not seen and time.monotonic() < deadline: time.sleep(0.01)
        >>> app.stop()
        >>> seen[0].is_created, seen[0].name
        (True, 'a.txt')
    """

    def __init__(
        self,
        name: str = "ferroflow",
        debounce: float = 1.6,
        max_workers: int = 4,
        recursive: bool = True,
        json_logs: bool = False,
        *,
        force_polling: bool = False,
        poll_interval: float = 1.0,
        watch_limit: str = "poll",
        max_pending: int = 256,
        default_ignores: bool = True,
        store: Any = DEFAULT_STORE,
        max_per_handler: int | None = None,
        stuck_after: float | None = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.store = store
        """Where each run of the app is recorded as a watch session (``None``: nowhere)."""
        self.debounce = debounce
        self.max_workers = max_workers
        self.recursive = recursive
        self.json_logs = json_logs
        self.force_polling = force_polling
        self.poll_interval = poll_interval
        self.watch_limit = watch_limit
        self.max_pending = max_pending
        self.default_ignores = default_ignores
        self.max_per_handler = max_per_handler
        self.stuck_after = stuck_after
        self.stop_timeout = stop_timeout
        self.error: BaseException | None = None
        """The error that stopped a background run, if any."""
        self._handlers: list[RegisteredHandler] = []
        self._lock = threading.RLock()
        self._session: _Session | None = None
        self._counts = {"events_total": 0, "added": 0, "modified": 0, "deleted": 0, "calls": 0, "errors": 0}
        self._rescans_before = 0
        self._recent: deque[FileEvent] = deque(maxlen=500)
        self._listeners: list[Callable[[FileEvent], None]] = []  # replaced, never mutated: read without a copy
        self._handler_counts: dict[str, list[int]] = {}  # calls, errors of the stopped sessions' handlers
        self._draining: list[Dispatcher] = []  # of stopped sessions whose handlers still ran at close
        self._max_os_watches: int | None = None

    def __repr__(self) -> str:
        return f"WatchApp(name={self.name!r}, handlers={len(self._handlers)}, running={self.is_running})"

    # ------------------------------------------------------------ registration

    @property
    def handlers(self) -> list[RegisteredHandler]:
        """The registered handlers, in registration order (a copy)."""
        with self._lock:
            return list(self._handlers)

    @property
    def roots(self) -> list[str]:
        """The distinct roots of the handlers, as given."""
        seen: dict[str, None] = {}
        for h in self.handlers:
            seen.setdefault(h.root, None)
        return list(seen)

    def add_handler(
        self,
        fn: HandlerFn,
        root: str | os.PathLike[str],
        events: Iterable[Change | int] | None = None,
        pattern: str | Sequence[str] | None = None,
        process_existing: bool = False,
        priority: int = 0,
        *,
        recursive: bool | None = None,
        ignore: str | Sequence[str] | None = None,
        stable_for: float | None = None,
        name: str | None = None,
    ) -> RegisteredHandler:
        """Register ``fn`` for changes under ``root``.

        Args:
            fn: Called with one :class:`FileEvent`; sync or ``async def``.
            root: The folder to watch (it must exist when the app starts).
            events: The changes to receive (default: all three).
            pattern: A glob or a list of globs (see :mod:`ferroflow.watch`).
            process_existing: Report each existing matching file as added at start.
            priority: Higher runs first among the handlers of one event.
            recursive: Include sub-folders (default: the app's ``recursive``).
            ignore: Extra globs to ignore (on top of the default ignores).
            stable_for: Deliver an added file only once unchanged this many seconds.
            name: Display name (default: ``module.qualname`` of ``fn``).

        Returns:
            The registered :class:`RegisteredHandler`. Handlers added while the app runs
            take effect at the next start.

        Raises:
            WatchHandlerError: ``fn`` is not callable or does not take one argument.
            WatchError: a pattern is invalid (the message names it) or an option is.
        """
        label = name or _describe(fn)
        _check_handler(fn, label)
        root_str = os.fspath(root)
        if not isinstance(root_str, str) or not root_str:
            raise WatchError(f"root of handler {label!r} must be a non-empty path, got {root!r}")
        ignores = (ignore,) if isinstance(ignore, str) else tuple(ignore or ())
        for p in ignores:
            _check_pattern(p, root_str)
        if stable_for is not None and not stable_for >= 0:
            raise WatchError(f"stable_for of handler {label!r} must be >= 0 seconds, got {stable_for!r}")
        handler = RegisteredHandler(
            fn=fn,
            name=label,
            root=root_str,
            events=_check_events(events),
            pattern=_check_pattern(pattern, root_str),
            priority=int(priority),
            process_existing=bool(process_existing),
            recursive=recursive,
            ignore=ignores,
            stable_for=stable_for,
            is_async=_is_async(fn),
        )
        with self._lock:
            self._handlers.append(handler)
        return handler

    def remove_handler(self, fn: HandlerFn) -> int:
        """Unregister every handler of ``fn``; returns how many were removed (next start)."""
        with self._lock:
            before = len(self._handlers)
            self._handlers = [h for h in self._handlers if h.fn is not fn]
            return before - len(self._handlers)

    def trigger(
        self,
        workflow: Workflow | WorkflowFront,
        root: str | os.PathLike[str],
        pattern: str | Sequence[str] | None = None,
        events: Iterable[Change | int] | None = None,
        *,
        priority: int = 0,
        process_existing: bool = False,
        recursive: bool | None = None,
        ignore: str | Sequence[str] | None = None,
        stable_for: float | None = None,
    ) -> RegisteredHandler:
        """Run ``workflow`` for each matching event.

        Each run gets ``params={"event": event, "path": event.path}`` (a ``Path``) and is
        made with ``raise_on_failure=False`` (a failed run is logged, and
        recorded in the store like any other run).

        Args:
            workflow: A ``Workflow``, ``DAG`` or ``Flow`` (anything with ``run(params=..., raise_on_failure=...)``).
            root: The folder to watch.
            pattern: Glob(s) selecting the files.
            events: The changes that trigger a run (default: added and modified).
            priority: As for :meth:`add_handler`.
            process_existing: Also run once per existing matching file at start.
            recursive: As for :meth:`add_handler`.
            ignore: As for :meth:`add_handler`.
            stable_for: As for :meth:`add_handler`.

        Returns:
            The registered :class:`RegisteredHandler`.

        Raises:
            WatchHandlerError: ``workflow`` has no callable ``run``.
        """
        runner = getattr(workflow, "run", None)
        wf_name = str(getattr(workflow, "name", type(workflow).__name__))
        if not callable(runner):
            raise WatchHandlerError(
                f"trigger needs a Workflow, DAG or Flow with a run() method, got {type(workflow).__name__}"
            )

        def run_workflow(event: FileEvent) -> Any:
            result = runner(params={"event": event, "path": event.path}, raise_on_failure=False)
            status = getattr(result, "status", None)
            if status not in (None, "completed"):
                logger.warning("workflow %s %s for %s", wf_name, status, event.path)
            return result

        return self.add_handler(
            run_workflow,
            root,
            events if events is not None else [Change.added, Change.modified],
            pattern,
            process_existing,
            priority,
            recursive=recursive,
            ignore=ignore,
            stable_for=stable_for,
            name=f"trigger:{wf_name}",
        )

    # ------------------------------------------------------------ observation

    @property
    def is_running(self) -> bool:
        """Whether the app is watching (in :meth:`run` or after :meth:`start`)."""
        session = self._session
        return session is not None and session.alive

    @property
    def stats(self) -> dict[str, Any]:
        """Counters since the app was created.

        Keys: ``events_total``, ``by_change`` (``added``, ``modified``,
        ``deleted``), ``handler_calls``, ``handler_errors``, ``rescans`` (full
        rescans after an OS queue overflow or a lost watch), ``pending``
        (events accepted and not yet handled), ``os_watches``, ``handlers``
        (per handler name: ``calls``, ``errors``, ``running``, ``waiting`` for
        the handler's limit, ``stuck`` and ``longest_running_seconds``) and
        ``stuck`` (the calls running ``stuck_after`` seconds or more, longest
        first: ``handler``, ``path``, ``running_seconds``; also those of a
        stopped session that could not wait for them).
        """
        with self._lock:
            c = dict(self._counts)
            session = self._session
            dispatchers = list(self._draining)
        if session is not None:
            dispatchers.append(session.dispatcher)
        core: dict[str, int] = session.watcher.stats() if session is not None else {}
        return {
            "events_total": c["events_total"],
            "by_change": {"added": c["added"], "modified": c["modified"], "deleted": c["deleted"]},
            "handler_calls": c["calls"] + sum(d.calls for d in dispatchers),
            "handler_errors": c["errors"] + sum(d.errors for d in dispatchers),
            "rescans": self._rescans_before + core.get("rescans", 0),
            "pending": session.dispatcher.pending if session is not None else 0,
            "os_watches": core.get("os_watches", 0),
            **self._handler_stats(dispatchers),
        }

    def _handler_stats(self, dispatchers: list[Dispatcher]) -> dict[str, Any]:
        """``handlers`` and ``stuck`` of :attr:`stats`."""
        with self._lock:
            rows: dict[str, dict[str, Any]] = {h.name: _empty_row() for h in self._handlers}
            for name, (calls, errors) in self._handler_counts.items():
                row = rows.setdefault(name, _empty_row())
                row["calls"] += calls
                row["errors"] += errors
        stuck: list[dict[str, Any]] = []
        for dispatcher in dispatchers:
            for name, part in dispatcher.handler_stats().items():
                row = rows.setdefault(name, _empty_row())
                for key in ("calls", "errors", "running", "waiting", "stuck"):
                    row[key] += part[key]
                row["longest_running_seconds"] = max(row["longest_running_seconds"], part["longest_running_seconds"])
            stuck.extend(
                {"handler": c.handler, "path": c.path, "running_seconds": round(c.seconds(), 3)}
                for c in dispatcher.stuck_calls()
            )
        stuck.sort(key=lambda c: -c["running_seconds"])
        return {"handlers": rows, "stuck": stuck}

    def recent_events(self, limit: int = 100) -> list[FileEvent]:
        """The last events seen (up to ``limit``, oldest first)."""
        with self._lock:
            items = list(self._recent)
        return items[-limit:] if limit > 0 else []

    def add_listener(self, fn: Callable[[FileEvent], None]) -> None:
        """Call ``fn(event)`` on the intake thread for every event (e.g. a dashboard feed)."""
        with self._lock:
            self._listeners = [*self._listeners, fn]

    def remove_listener(self, fn: Callable[[FileEvent], None]) -> None:
        """Stop calling a listener added with :meth:`add_listener`."""
        with self._lock:
            self._listeners = [x for x in self._listeners if x is not fn]

    @property
    def watcher(self) -> Watcher | None:
        """The running core watcher (for diagnostics), or ``None``."""
        session = self._session
        return session.watcher if session is not None else None

    # ------------------------------------------------------------ lifecycle

    def _open(self) -> _Session:
        with self._lock:
            if self._session is not None and self._session.alive:
                raise WatchError(f"watch app {self.name!r} is already running")
            handlers = list(self._handlers)
        if not handlers:
            raise WatchError(
                f"watch app {self.name!r} has no handlers: register one with @on_created(...) or add_handler()"
            )
        if self.watch_limit not in ("poll", "error"):
            raise WatchError(f"watch_limit must be 'poll' or 'error', got {self.watch_limit!r}")
        if self.json_logs:
            _ensure_json_logs()
        subs: list[tuple[str, bool, list[str], list[str], bool, bool, float]] = []
        routes: list[tuple[RegisteredHandler, str | None, str]] = []
        for h in handlers:
            recursive = self.recursive if h.recursive is None else h.recursive
            real_root = os.path.realpath(h.root)
            for p in h.patterns():
                subs.append(
                    (
                        h.root,
                        bool(recursive),
                        [] if p is None else [p],
                        list(h.ignore),
                        self.default_ignores,
                        h.process_existing,
                        float(h.stable_for or 0.0),
                    )
                )
                routes.append((h, p, real_root))
        watcher = Watcher(
            subs,
            debounce_ms=max(0, round(self.debounce * 1000)),
            force_polling=self.force_polling,
            poll_interval_ms=max(10, round(self.poll_interval * 1000)),
            strict_watch_limit=self.watch_limit == "error",
            max_buffered=max(1000, self.max_pending * 4),
            max_os_watches=self._max_os_watches,
        )
        if self.max_per_handler is not None and self.max_per_handler < 1:
            raise WatchError(f"max_per_handler must be at least 1, got {self.max_per_handler!r}")
        if self.stuck_after is not None and not self.stuck_after > 0:
            raise WatchError(f"stuck_after must be > 0 seconds or None, got {self.stuck_after!r}")
        record = SessionLog.open(self, self.store)
        dispatcher = Dispatcher(
            max_workers=self.max_workers,
            max_pending=self.max_pending,
            on_error=record.on_error if record is not None else None,
            max_per_handler=self._per_handler_limit(handlers),
            stuck_after=self.stuck_after,
        )
        # higher priority first, then registration order
        rank = {id(h): (-h.priority, i) for i, h in enumerate(handlers)}
        session = _Session(watcher=watcher, dispatcher=dispatcher, routes=routes, rank=rank, record=record)
        session.counts_at_start = self._summary_counts()
        self._log_warnings(session)
        self.error = None
        self._session = session
        logger.info(
            "watching %d root(s) with %d handler(s) (debounce %.2fs%s)",
            len(watcher.roots()),
            len(handlers),
            self.debounce,
            ", polling" if self.force_polling else "",
        )
        return session

    def _per_handler_limit(self, handlers: list[RegisteredHandler]) -> int:
        if self.max_per_handler is not None:
            return int(self.max_per_handler)
        workers = max(1, int(self.max_workers))
        sync = {h.name for h in handlers if not h.is_async}
        return workers if len(sync) <= 1 else max(1, workers - 1)

    def _fold(self, dispatcher: Dispatcher) -> bool:
        """Add a stopped dispatcher's counts to the app's once its handlers finished (lock held)."""
        if dispatcher.pending:
            return False
        self._counts["calls"] += dispatcher.calls
        self._counts["errors"] += dispatcher.errors
        for name, row in dispatcher.handler_stats().items():
            done = self._handler_counts.setdefault(name, [0, 0])
            done[0] += row["calls"]
            done[1] += row["errors"]
        return True

    def _log_warnings(self, session: _Session) -> None:
        for message in session.watcher.take_warnings():
            logger.warning("%s", message)

    def _plan(self, session: _Session, change: int, subs: list[int], existing: bool) -> _Plan | None:
        """Work out which handlers get an event, in which order, with which event (``None``: none)."""
        kind = _CHANGES[change]
        chosen: dict[int, tuple[RegisteredHandler, str | None, str]] = {}
        for i in subs:
            handler, pattern, root = session.routes[i]
            if id(handler) in chosen or (not existing and kind not in handler.events):
                continue
            chosen[id(handler)] = (handler, pattern, root)
        if not chosen:
            return None
        slots: list[tuple[str, str | None]] = []
        calls: list[tuple[str, HandlerFn, bool, int]] = []
        for key in sorted(chosen, key=session.rank.__getitem__):
            handler, pattern, root = chosen[key]
            if (root, pattern) not in slots:
                slots.append((root, pattern))
            calls.append((handler.name, handler.fn, handler.is_async, slots.index((root, pattern))))
        # Each root becomes a Path once per plan, not once per event.
        return kind, tuple((Path(root), pattern) for root, pattern in slots), tuple(calls)

    def _note(self, jobs: Sequence[tuple[str, Sequence[Entry]]]) -> None:
        """Count, remember and announce the events about to be handled (the first handler's event of each)."""
        events = [entries[0][3] for _, entries in jobs]
        added = modified = 0
        for event in events:
            if event.change is Change.added:
                added += 1
            elif event.change is Change.modified:
                modified += 1
        counts = self._counts
        with self._lock:
            counts["events_total"] += len(events)
            counts["added"] += added
            counts["modified"] += modified
            counts["deleted"] += len(events) - added - modified
            self._recent.extend(events[-(self._recent.maxlen or 0) :])
            listeners = self._listeners
        if logger.isEnabledFor(logging.DEBUG):
            for event in events:
                logger.debug(
                    "%s %s", event.change.name, event.path, extra={"change": event.change.name, "path": str(event.path)}
                )
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:
                    logger.exception("watch listener %s failed", _describe(listener))

    def _serve(self, session: _Session) -> None:
        """Pull batches, route each event and dispatch them until stopped."""
        plans = session.plans
        missing: Any = object()
        next_warning_check = time.monotonic() + 1.0
        while not session.stop.is_set():
            batch = session.watcher.next_batch(250)
            if batch is None:
                return
            jobs: list[tuple[str, Sequence[Entry]]] = []
            for change, path, subs, existing in batch:
                key = (change, existing, *subs)
                plan = plans.get(key, missing)
                if plan is missing:
                    plan = self._plan(session, change, subs, existing)
                    if len(plans) < _MAX_PLANS:
                        plans[key] = plan
                if plan is None:
                    continue
                kind, slots, calls = plan
                if len(calls) == 1:
                    name, fn, is_async, _ = calls[0]
                    root, pattern = slots[0]
                    jobs.append((path, ((name, fn, is_async, FileEvent(kind, path, root, pattern)),)))
                else:
                    events = [FileEvent(kind, path, root, pattern) for root, pattern in slots]
                    jobs.append((path, [(name, fn, is_async, events[k]) for name, fn, is_async, k in calls]))
            if jobs and session.dispatcher.submit_many(jobs, self._note) < len(jobs):
                return
            if time.monotonic() >= next_warning_check:
                self._log_warnings(session)
                next_warning_check = time.monotonic() + 1.0

    def _serve_background(self, session: _Session) -> None:
        try:
            self._serve(session)
        except BaseException as exc:
            self.error = exc
            logger.error("watch app %s stopped: %s", self.name, exc, exc_info=exc)
        finally:
            session.alive = False
            session.served.set()
            if not session.caller_closes:
                self._close(session, None)

    def start(self) -> None:
        """Start watching in the background and return at once.

        Raises:
            WatchError: a root does not exist, is not a folder or cannot be
                read; the watch limit was reached with ``watch_limit="error"``;
                there are no handlers; the app is already running.
        """
        session = self._open()
        thread = threading.Thread(
            target=self._serve_background, args=(session,), name=f"ferroflow-watch-{self.name}", daemon=True
        )
        session.thread = thread
        thread.start()

    def run(self) -> None:
        """Watch in the calling thread until :meth:`stop`, Ctrl+C or SIGTERM.

        Returns normally on SIGINT / SIGTERM, once the running handlers
        finished or :attr:`stop_timeout` seconds passed (a handler still running
        then is logged, with its path, and left to its daemon thread); a second
        signal meanwhile returns at once. On the main thread, a SIGTERM handler
        is installed for the duration of the call (and the previous one restored).

        Raises:
            WatchError: as for :meth:`start`, or if the watcher fails while running.
            FlowFileError: Called while ``ferroflow`` imports the file to find its handlers.
        """
        refuse_run_at_import("its watch handlers")
        session = self._open()
        previous: Any = None
        on_main = threading.current_thread() is threading.main_thread()
        if on_main:

            def on_term(signum: int, frame: FrameType | None) -> None:
                raise _Terminate()

            previous = signal.signal(signal.SIGTERM, on_term)
        timeout: float | None = None
        try:
            self._serve(session)
        except (KeyboardInterrupt, _Terminate):
            logger.info("watch app %s: stopping on signal", self.name)
            timeout = self.stop_timeout
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            session.alive = False
            try:
                try:
                    self._close(session, timeout)
                except (KeyboardInterrupt, _Terminate):
                    logger.warning("watch app %s: signalled again; stopping without the running handlers", self.name)
                    self._close(session, 0)
            finally:
                if on_main:
                    signal.signal(signal.SIGTERM, previous)

    def stop(self, timeout: float | None = None) -> None:
        """Stop watching: no new events are taken, running handlers finish.

        Events accepted but not started are dropped (logged). Safe to call
        from a handler, from another thread, or when not running.

        Args:
            timeout: Seconds to wait for running handlers (``None``: as long as they take).
                The call returns within about that time in all: handlers still running
                then are logged (with their paths), left to their daemon threads, and
                listed in :attr:`stats` (``stuck``) until they return.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        session = self._session
        if session is None:
            return
        session.stop.set()
        session.watcher.close()
        if session.dispatcher.in_worker():
            # Called by a handler: the intake side closes the session once this handler returns.
            return
        session.caller_closes = True
        session.dispatcher.close_intake()  # an intake blocked on backpressure returns at once
        thread = session.thread
        if thread is not None and thread is not threading.current_thread() and session.served.wait(remaining(deadline)):
            thread.join(remaining(deadline))  # it has left the loop: this takes a moment
        self._close(session, remaining(deadline))

    def _close(self, session: _Session, timeout: float | None) -> None:
        """Stop the watcher, let running handlers finish, release the threads (idempotent)."""
        session.stop.set()
        session.watcher.close()
        # Waiting happens outside close_lock: a handler may be the one stopping the app.
        finished = session.dispatcher.shutdown(timeout, wait=not session.dispatcher.in_worker())
        with session.close_lock:
            if session.closed:
                return
            session.closed = True
            if not finished:
                running = sorted(session.dispatcher.running.snapshot().values(), key=lambda c: c.started)
                logger.warning(
                    "watch app %s: stopped after %ss with %d handler call(s) still running: %s",
                    self.name,
                    timeout,
                    len(running),
                    ", ".join(f"{c.handler} on {c.path} ({c.seconds():.1f}s)" for c in running) or "none",
                )
            with self._lock:
                if self._session is session:
                    self._rescans_before += int(session.watcher.stats().get("rescans", 0))
                    self._session = None
                # Handler calls are counted by the dispatcher; one whose handlers still run keeps counting.
                self._draining.append(session.dispatcher)
                self._draining = [d for d in self._draining if not self._fold(d)]
            session.alive = False
        if session.record is not None:
            session.record.close()
        events, calls, failures = (
            now - before for now, before in zip(self._summary_counts(), session.counts_at_start, strict=True)
        )
        logger.info(
            "watch app %s: session ended after %.1fs: %d event(s), %d handler call(s), %d failure(s)",
            self.name,
            time.monotonic() - session.started,
            events,
            calls,
            failures,
        )

    def _summary_counts(self) -> tuple[int, int, int]:
        """Events, handler calls and handler failures so far (for the end-of-session summary)."""
        stats = self.stats
        return int(stats["events_total"]), int(stats["handler_calls"]), int(stats["handler_errors"])


_default_app: WatchApp | None = None
_default_lock = threading.Lock()


def default_app() -> WatchApp:
    """The module-level app the decorators register on by default.

    Example:
        >>> default_app() is default_app()
        True
    """
    global _default_app
    with _default_lock:
        if _default_app is None:
            _default_app = WatchApp()
        return _default_app


def reset_default_app() -> WatchApp:
    """Stop the default app if it runs and replace it with a fresh one (no handlers).

    Example:
        >>> old = default_app()
        >>> reset_default_app() is not old
        True
    """
    global _default_app
    with _default_lock:
        old, _default_app = _default_app, WatchApp()
        new = _default_app
    if old is not None:
        old.stop()
    return new


def run() -> None:
    """Run the default app until Ctrl+C or SIGTERM (then return normally).

    Example:
        A handler that stops the app on the first new ``.txt`` file; ``run()`` returns then:

        >>> import tempfile, threading
        >>> from pathlib import Path
        >>> from ferroflow import on_created
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = reset_default_app()
        >>> seen = []
        >>> @on_created(str(folder), pattern="*.txt")
        ... def got(event):
        ...     seen.append(event.name)
        ...     default_app().stop()
        >>> watching = threading.Thread(target=run)
        >>> watching.start()
        >>> for n in range(600):   # until the watcher is live and the handler ran
        ...     _ = (folder / f"{n}.txt").write_text("x")
        ...     watching.join(0.1)
        ...     if not watching.is_alive():
        ...         break
        >>> watching.is_alive(), seen[0].endswith(".txt")
        (False, True)
        >>> _ = reset_default_app()
    """
    default_app().run()
