"""A watch session's record in the store, kept by the watch app while it runs.

Nothing is written per event: the session row is written when the app starts,
then by a background thread every ``interval`` seconds when the counters moved,
and once more when it stops. A handler failure is kept in memory (the last
:data:`MAX_ERRORS`, with their tracebacks) and goes out with the next write. A
store that cannot be written is logged once and never stops the watcher.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from ..store import Store, open_store
from ..store.sessions import begin_session, update_session
from .events import FileEvent

__all__ = ["MAX_ERRORS", "SessionLog", "WatchedApp"]

logger = logging.getLogger("ferroflow.watch")

MAX_ERRORS = 20
_LAST_EVENTS = 20


class _Handler(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def root(self) -> str: ...
    @property
    def events(self) -> Any: ...
    @property
    def pattern(self) -> Any: ...


class WatchedApp(Protocol):
    """What a session record reads of a watch app."""

    name: str

    @property
    def handlers(self) -> Sequence[_Handler]: ...
    @property
    def roots(self) -> list[str]: ...
    @property
    def stats(self) -> dict[str, Any]: ...
    def recent_events(self, limit: int = 100) -> list[FileEvent]: ...


class SessionLog:
    """Records one run of ``app`` in ``store``."""

    def __init__(self, app: WatchedApp, store: Store, interval: float = 2.0) -> None:
        self.app = app
        self.store = store
        self.interval = interval
        self.session_id: str | None = None
        self._errors: deque[dict[str, Any]] = deque(maxlen=MAX_ERRORS)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written: tuple[Any, ...] | None = None
        self._lock = threading.Lock()
        self._broken = False

    @classmethod
    def open(cls, app: WatchedApp, spec: Any) -> SessionLog | None:
        """Begin recording ``app``'s session in the store ``spec`` (``None``: no record)."""
        try:
            store = open_store(spec)
        except Exception as exc:  # noqa: BLE001 - a store problem never stops the watcher
            logger.warning("watch app %s: its session is not recorded: %s", app.name, exc)
            return None
        if store is None:
            return None
        log = cls(app, store)
        log.start()
        return log

    def start(self) -> None:
        """Write the session's start and begin the periodic writes."""
        handlers = [
            {"name": h.name, "root": h.root, "events": [c.name for c in h.events], "pattern": h.pattern}
            for h in self.app.handlers
        ]
        try:
            self.session_id = begin_session(self.store, self.app.name, roots=self.app.roots, handlers=handlers)
        except Exception as exc:  # noqa: BLE001
            self._give_up(exc)
            return
        self._thread = threading.Thread(target=self._loop, name=f"ferroflow-session-{self.app.name}", daemon=True)
        self._thread.start()

    def on_error(self, handler: str, event: FileEvent, error: BaseException) -> None:
        """Keep a handler failure (called on the handler's thread)."""
        with self._lock:
            self._errors.append(
                {
                    "handler": handler,
                    "change": event.change.name,
                    "path": str(event.path),
                    "error": f"{type(error).__name__}: {error}",
                    "traceback": "".join(traceback.format_exception(error)),
                    "time": time.time(),
                }
            )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def write(self, finished: bool = False) -> None:
        """Write the counters if they moved (always when ``finished``)."""
        if self.session_id is None or self._broken:
            return
        stats = self.app.stats
        with self._lock:
            errors = list(self._errors)
        events = [
            {"change": e.change.name, "path": str(e.path), "root": str(e.root)}
            for e in self.app.recent_events(_LAST_EVENTS)
        ]
        state = (stats["events_total"], stats["handler_calls"], stats["handler_errors"], len(errors), finished)
        if state == self._written:
            return
        try:
            update_session(
                self.store, self.session_id, stats=stats, errors=errors, last_events=events, finished=finished
            )
        except Exception as exc:  # noqa: BLE001
            self._give_up(exc)
            return
        self._written = state

    def close(self) -> None:
        """Write the session's end."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.write(finished=True)

    def _give_up(self, exc: BaseException) -> None:
        if not self._broken:
            logger.warning(
                "watch app %s: its session cannot be recorded in %s: %s", self.app.name, self.store.path, exc
            )
        self._broken = True
