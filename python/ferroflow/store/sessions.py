"""Watch sessions in the store: one row per ``WatchApp`` run, from start to stop.

A session row holds the app's name, its roots and handlers, its counters (events
by change, handler calls and failures), the last handler failures with their
tracebacks and the last events. The watch app writes it when it starts, every
few seconds while something changes, and when it stops; a session whose process
died without stopping reads as ``interrupted``.

Example:
    >>> import tempfile
    >>> from ferroflow.store import open_store
    >>> store = open_store(tempfile.mkdtemp())
    >>> sid = begin_session(store, "inbox", roots=["/data"], handlers=[{"name": "load"}])
    >>> update_session(store, sid, stats={"events_total": 3}, finished=True)
    >>> [(s.app, s.status, s.stats["events_total"]) for s in list_sessions(store)]
    [('inbox', 'stopped', 3)]
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..processes import same_process
from .records import HOST, own_birth
from .store import Store

__all__ = ["WatchSession", "begin_session", "find_session", "list_sessions", "update_session"]

_COLUMNS = (
    "session_id, app, status, started_at, finished_at, pid, pid_birth, host, roots, handlers, stats, errors,"
    " last_events"
)


@dataclass(frozen=True, slots=True)
class WatchSession:
    """One recorded watch session.

    Attributes:
        session_id: Its id.
        app: The watch app's name.
        status: ``running``, ``stopped`` or ``interrupted`` (its process is gone).
        started_at: Epoch seconds.
        finished_at: Epoch seconds, ``None`` while running.
        pid: The watching process.
        host: Its host.
        roots: The watched roots.
        handlers: ``{name, root, events, pattern}`` of each handler.
        stats: The app's counters when last written (:attr:`WatchApp.stats`).
        errors: The last handler failures: ``{handler, path, change, error, traceback, time}``.
        last_events: The last events: ``{change, path, time}``.
    """

    session_id: str
    app: str
    status: str
    started_at: float
    finished_at: float | None
    pid: int | None
    host: str | None
    roots: list[str] = field(default_factory=list)
    handlers: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    last_events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_seconds(self) -> float | None:
        """How long it watched, once stopped."""
        return None if self.finished_at is None else self.finished_at - self.started_at


def begin_session(store: Store, app: str, *, roots: list[str], handlers: list[dict[str, Any]]) -> str:
    """Record the start of a session; returns its id."""
    session_id = uuid.uuid4().hex[:16]
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO watch_sessions (session_id, app, status, started_at, pid, pid_birth, host, roots, handlers)"
            " VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                app,
                time.time(),
                os.getpid(),
                own_birth(),
                HOST,
                json.dumps(roots),
                json.dumps(handlers, default=str),
            ),
        )
    return session_id


def update_session(
    store: Store,
    session_id: str,
    *,
    stats: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
    last_events: list[dict[str, Any]] | None = None,
    finished: bool = False,
) -> None:
    """Write the session's counters (and its end, with ``finished``)."""
    sets: list[str] = []
    args: list[Any] = []
    for column, value in (("stats", stats), ("errors", errors), ("last_events", last_events)):
        if value is not None:
            sets.append(f"{column} = ?")
            args.append(json.dumps(value, default=str))
    if finished:
        sets += ["status = 'stopped'", "finished_at = ?"]
        args.append(time.time())
    if not sets:
        return
    with store.transaction() as conn:
        conn.execute(f"UPDATE watch_sessions SET {', '.join(sets)} WHERE session_id = ?", (*args, session_id))


def _loads(text: str | None, empty: Any) -> Any:
    try:
        value = json.loads(text) if text else empty
    except ValueError:
        return empty
    return value if isinstance(value, type(empty)) else empty


def _status(row: dict[str, Any]) -> str:
    status: str = row["status"]
    if status != "running" or row["host"] != HOST or row["pid"] is None:
        return status
    if row["pid"] == os.getpid():
        return status
    return status if same_process(int(row["pid"]), row["pid_birth"]) else "interrupted"


def list_sessions(store: Store, limit: int = 20) -> list[WatchSession]:
    """The newest ``limit`` sessions, newest first."""
    with store.read() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM watch_sessions ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,)
        ).fetchall()
    names = [c.strip() for c in _COLUMNS.split(",")]
    return [_session(dict(zip(names, row, strict=True))) for row in rows]


def find_session(store: Store, session_id: str) -> WatchSession | None:
    """The session with this id or unique id prefix; None when there is none (or the prefix is ambiguous)."""
    if not session_id:
        return None
    pattern = session_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with store.read() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM watch_sessions WHERE session_id = ? OR session_id LIKE ? ESCAPE '\\' LIMIT 2",
            (session_id, pattern),
        ).fetchall()
    names = [c.strip() for c in _COLUMNS.split(",")]
    found = [_session(dict(zip(names, row, strict=True))) for row in rows]
    exact = [s for s in found if s.session_id == session_id]
    if exact:
        return exact[0]
    return found[0] if len(found) == 1 else None


def _session(r: dict[str, Any]) -> WatchSession:
    return WatchSession(
        session_id=r["session_id"],
        app=r["app"],
        status=_status(r),
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        pid=r["pid"],
        host=r["host"],
        roots=_loads(r["roots"], []),
        handlers=_loads(r["handlers"], []),
        stats=_loads(r["stats"], {}),
        errors=_loads(r["errors"], []),
        last_events=_loads(r["last_events"], []),
    )
