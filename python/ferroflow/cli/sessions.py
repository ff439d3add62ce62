"""Watch sessions in ``ferroflow runs``: the sessions table and one session in full."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..errors import StoreError
from ..safetext import safe_str
from ..store.sessions import WatchSession, find_session, list_sessions
from ._output import Output, when

if TYPE_CHECKING:
    from ..store.store import Store

__all__ = ["print_sessions", "session_json", "show_session"]

_STYLE = {"running": "cyan", "stopped": "green", "interrupted": "magenta"}


def session_json(s: WatchSession, full: bool = False) -> dict[str, Any]:
    """A session as ``--json-logs`` prints it (``full``: with handlers, failures and last events)."""
    data: dict[str, Any] = {
        "watch_session": True,
        "session_id": s.session_id,
        "app": s.app,
        "status": s.status,
        "started_at": s.started_at,
        "finished_at": s.finished_at,
        "duration_seconds": s.duration_seconds,
        "events": s.stats.get("events_total", 0),
        "by_change": s.stats.get("by_change", {}),
        "handler_calls": s.stats.get("handler_calls", 0),
        "failures": s.stats.get("handler_errors", 0),
    }
    if full:
        data.update(roots=s.roots, handlers=s.handlers, errors=s.errors, last_events=s.last_events, pid=s.pid)
    return data


def _sessions(store: Store, limit: int) -> list[WatchSession]:
    try:
        return list_sessions(store, limit=limit)
    except (sqlite3.Error, StoreError):  # a store from before watch sessions were recorded
        return []


def print_sessions(out: Output, store: Store, limit: int, empty_note: bool = False) -> None:
    """The watch sessions table, newest first (JSON: one object per session); nothing when there are none."""
    rows = _sessions(store, limit)
    if out.json_mode:
        for s in rows:
            out.json("watch_session", **session_json(s))
        return
    if not rows:
        if empty_note:
            out.line(f"no watch sessions recorded yet in {store.path}")
        return
    table = Table(title="watch sessions")
    for column in ("session id", "app", "status", "started", "ended", "events", "handler calls", "failures"):
        table.add_column(column)
    for s in rows:
        table.add_row(
            s.session_id,
            s.app,
            Text(s.status, style=_STYLE.get(s.status, "")),
            when(s.started_at),
            when(s.finished_at),
            str(s.stats.get("events_total", 0)),
            str(s.stats.get("handler_calls", 0)),
            str(s.stats.get("handler_errors", 0)),
        )
    out.print(table)


def show_session(out: Output, store: Store, session_id: str) -> bool:
    """Show the session ``session_id`` (an id or unique prefix) in full; False when there is none."""
    try:
        s = find_session(store, session_id)
    except (sqlite3.Error, StoreError):
        return False
    if s is None:
        return False
    if out.json_mode:
        out.json("watch_session", **session_json(s, full=True))
        return True
    took = f", {s.duration_seconds:.1f}s" if s.duration_seconds is not None else ""
    out.print(
        f"[bold]watch app {escape(s.app)}[/] session {escape(s.session_id)}: ",
        Text(s.status, style=_STYLE.get(s.status, "")),
        f" (started {when(s.started_at)}, ended {when(s.finished_at)}{took})",
        sep="",
    )
    if s.roots:
        out.line("roots: " + ", ".join(s.roots))
    by_change = s.stats.get("by_change") or {}
    changes = ", ".join(f"{k} {v}" for k, v in by_change.items())
    out.line(
        f"events: {s.stats.get('events_total', 0)}"
        + (f" ({changes})" if changes else "")
        + f"; handler calls: {s.stats.get('handler_calls', 0)}; failures: {s.stats.get('handler_errors', 0)}"
    )
    _print_handlers(out, s)
    for failure in s.errors:
        out.print(
            Text.assemble(
                "\n",
                (str(failure.get("handler", "?")), "bold"),
                (f" failed on {failure.get('change', '?')} {failure.get('path', '?')}", "red"),
                f" at {when(failure.get('time'))}",
            )
        )
        out.print(Text(safe_str(failure.get("error") or ""), style="red"))
        if failure.get("traceback"):
            out.print(Text(safe_str(failure["traceback"]).rstrip(), style="dim"))
    if s.last_events:
        table = Table(title="last events")
        for column in ("change", "path"):
            table.add_column(column, overflow="fold")
        for e in s.last_events:
            table.add_row(str(e.get("change", "")), str(e.get("path", "")))
        out.print(table)
    return True


def _print_handlers(out: Output, s: WatchSession) -> None:
    if not s.handlers:
        return
    per = s.stats.get("handlers") or {}
    table = Table(title="handlers")
    for column in ("handler", "root", "events", "pattern", "calls", "failures"):
        table.add_column(column, overflow="fold")
    for h in s.handlers:
        counts = per.get(h.get("name"), {}) if isinstance(per, dict) else {}
        table.add_row(
            str(h.get("name", "")),
            str(h.get("root", "")),
            ", ".join(h.get("events") or []),
            str(h.get("pattern") or "*"),
            str(counts.get("calls", "-")),
            str(counts.get("errors", "-")),
        )
    out.print(table)
