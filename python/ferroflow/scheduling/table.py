"""The schedule table in the store: schedules, the runs they fired, and how to change them.

Tables (created on first use through ``Store.transaction()``)::

    schedules(
        id TEXT PRIMARY KEY,      -- short id, 8 hex digits
        target TEXT NOT NULL,     -- flow name | absolute flow-file path | module:attr
        kind TEXT NOT NULL,       -- 'flow' | 'file' | 'python'
        cron TEXT NOT NULL,       -- the 5-field expression actually used
        spec TEXT NOT NULL,       -- as given: '*/15 * * * *', '@daily', 'daily at 09:30'
        tz TEXT NOT NULL,         -- IANA zone name
        description TEXT,
        enabled INTEGER NOT NULL,
        params TEXT NOT NULL,     -- JSON object passed as run params
        workdir TEXT NOT NULL,    -- folder relative paths (flows, tasks, output) resolve against
        flows_dir TEXT NOT NULL, tasks_dir TEXT NOT NULL, output_dir TEXT NOT NULL,
        created_at REAL NOT NULL, updated_at REAL NOT NULL,
        last_fire REAL NOT NULL   -- epoch of the last fire time handled (run or skipped)
    )
    schedule_runs(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        schedule_id TEXT NOT NULL,
        fire_time REAL NOT NULL,  -- the scheduled time (epoch), unique per schedule
        started_at REAL, finished_at REAL,
        status TEXT NOT NULL,     -- running | completed | failed | cancelled | error
        run_id TEXT,              -- the run in the store, once known
        pid INTEGER, log_path TEXT, message TEXT,
        UNIQUE (schedule_id, fire_time)
    )

The ``UNIQUE (schedule_id, fire_time)`` row is claimed before a run starts, so
no fire time runs twice, whatever restarts happen in between.

Example:
    >>> import tempfile
    >>> from ferroflow.store import open_store
    >>> store = open_store(tempfile.mkdtemp())
    >>> s = add_schedule(store, "etl", kind="flow", interval="daily", at="06:30", tz="UTC")
    >>> (s.cron, s.enabled), [x.id for x in list_schedules(store)] == [s.id]
    (('30 6 * * *', True), True)
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..errors import ScheduleError
from ..safetext import json_default
from .schedules import interval_to_cron, next_fire_times, resolve_timezone, validate_cron

if TYPE_CHECKING:
    from ..store.store import Store

__all__ = [
    "Schedule",
    "ScheduleRun",
    "add_schedule",
    "ensure_tables",
    "find_schedules",
    "get_schedule",
    "last_schedule_run",
    "list_schedules",
    "remove_schedules",
    "schedule_runs",
    "set_enabled",
]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    cron TEXT NOT NULL,
    spec TEXT NOT NULL,
    tz TEXT NOT NULL,
    description TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    params TEXT NOT NULL DEFAULT '{}',
    workdir TEXT NOT NULL,
    flows_dir TEXT NOT NULL,
    tasks_dir TEXT NOT NULL,
    output_dir TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_fire REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id TEXT NOT NULL,
    fire_time REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    status TEXT NOT NULL,
    run_id TEXT,
    pid INTEGER,
    log_path TEXT,
    message TEXT,
    UNIQUE (schedule_id, fire_time)
);
CREATE INDEX IF NOT EXISTS schedule_runs_by_schedule ON schedule_runs (schedule_id, fire_time);
"""

_READY: set[str] = set()

_COLUMNS = (
    "id, target, kind, cron, spec, tz, description, enabled, params, workdir, flows_dir, tasks_dir, "
    "output_dir, created_at, updated_at, last_fire"
)


@dataclass(frozen=True, slots=True)
class Schedule:
    """One schedule row (see the module docstring)."""

    id: str
    target: str
    kind: str
    cron: str
    spec: str
    tz: str
    description: str | None
    enabled: bool
    params: dict[str, Any]
    workdir: str
    flows_dir: str
    tasks_dir: str
    output_dir: str
    created_at: float
    updated_at: float
    last_fire: float

    def next_fire(self, after: float | None = None) -> datetime | None:
        """The next fire time after ``after`` (default: the later of now and ``last_fire``)."""
        start = max(time.time(), self.last_fire) if after is None else after
        times = next_fire_times(self.cron, tz=self.tz, after=datetime.fromtimestamp(start, ZoneInfo("UTC")), count=1)
        return times[0] if times else None

    def describe(self) -> str:
        """The spec and zone, e.g. ``daily at 09:30 (Europe/Berlin)``."""
        return f"{self.spec} ({self.tz})"


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """One row of ``schedule_runs``."""

    id: int
    schedule_id: str
    fire_time: float
    started_at: float | None
    finished_at: float | None
    status: str
    run_id: str | None
    pid: int | None
    log_path: str | None
    message: str | None


def ensure_tables(store: Store) -> None:
    """Create the schedule tables if missing (idempotent)."""
    key = str(getattr(store, "path", id(store)))
    if key in _READY:
        return
    with store.transaction() as conn:
        # One statement at a time: executescript() would commit the open transaction.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
    _READY.add(key)


def _row(row: sqlite3.Row | tuple[Any, ...]) -> Schedule:
    values = list(row)
    values[7] = bool(values[7])
    values[8] = json.loads(values[8] or "{}")
    return Schedule(*values)


def add_schedule(
    store: Store,
    target: str,
    *,
    kind: str,
    cron: str | None = None,
    interval: str | None = None,
    at: str | None = None,
    tz: str | None = None,
    description: str | None = None,
    enabled: bool = True,
    params: dict[str, Any] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    flows_dir: str = "flows",
    tasks_dir: str = "tasks",
    output_dir: str = "ferroflow_output",
    now: float | None = None,
) -> Schedule:
    """Validate and store a new schedule; the first fire is the first time after ``now``.

    Exactly one of ``cron`` or ``interval`` (with optional ``at``).

    Raises:
        ScheduleError: Bad cron, interval, ``at`` or zone; nothing is written.
    """
    if (cron is None) == (interval is None):
        raise ScheduleError("give exactly one of --cron or --interval")
    if at is not None and interval is None:
        raise ScheduleError("--at goes with --interval; with --cron put the time in the expression")
    if cron is not None:
        expr, spec = validate_cron(cron), " ".join(cron.split())
    else:
        assert interval is not None
        expr = interval_to_cron(interval, at)
        spec = interval.lower() + (f" at {at}" if at else "")
    zone_name = resolve_timezone(tz).key
    ensure_tables(store)
    stamp = time.time() if now is None else now
    row = (
        secrets.token_hex(4),
        target,
        kind,
        expr,
        spec,
        zone_name,
        description,
        int(enabled),
        json.dumps(params or {}, sort_keys=True, default=json_default),
        str(Path(workdir).resolve() if workdir is not None else Path.cwd().resolve()),
        flows_dir,
        tasks_dir,
        output_dir,
        stamp,
        stamp,
        stamp,
    )
    with store.transaction() as conn:
        _refuse_duplicate(conn, row)
        conn.execute(f"INSERT INTO schedules ({_COLUMNS}) VALUES ({', '.join('?' * len(row))})", row)
    return _row(row)


def _refuse_duplicate(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    """Refuse a schedule that would fire the same target at the same times with the same params.

    Two such schedules would start every run twice.

    Raises:
        ScheduleError: Naming the schedule that already does it.
    """
    _, target, _, expr, spec, zone, *_rest = row
    params, workdir = row[8], row[9]
    same = conn.execute(
        "SELECT id, enabled FROM schedules WHERE target = ? AND cron = ? AND tz = ? AND params = ? AND workdir = ?",
        (target, expr, zone, params, workdir),
    ).fetchone()
    if same is not None:
        off = " (disabled: `ferroflow schedule enable " + same[0] + "` turns it on)" if not same[1] else ""
        raise ScheduleError(
            f"schedule {same[0]} already runs {target} {spec} ({zone}) with these params{off}; "
            f"nothing was added (remove it first with `ferroflow schedule remove {same[0]}` to replace it)"
        )


def list_schedules(store: Store) -> list[Schedule]:
    """Every schedule, oldest first."""
    ensure_tables(store)
    with store.read() as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM schedules ORDER BY created_at, id").fetchall()
    return [_row(r) for r in rows]


def get_schedule(store: Store, schedule_id: str) -> Schedule | None:
    """The schedule with this id, if any."""
    ensure_tables(store)
    with store.read() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
    return _row(row) if row is not None else None


def find_schedules(store: Store, id_or_target: str) -> list[Schedule]:
    """The schedule with this id, else every schedule of this target (flow name, file, module:attr).

    Raises:
        ScheduleError: Nothing matches; lists the ids that exist.
    """
    every = list_schedules(store)
    by_id = [s for s in every if s.id == id_or_target]
    if by_id:
        return by_id
    by_target = [s for s in every if _names_target(s, id_or_target)]
    if by_target:
        return by_target
    known = ", ".join(f"{s.id} ({s.target})" for s in every) or "none yet; add one with `ferroflow schedule add`"
    raise ScheduleError(f'no schedule with id or flow "{id_or_target}"; schedules: {known}')


def _names_target(s: Schedule, text: str) -> bool:
    """Whether ``text`` names the schedule's target: as stored, a flow file by its
    name, or a file path (``pipe.py``, ``flows/daily.json``, ``pipe.py:wf``) as given to ``add``."""
    if text == s.target or (s.kind == "file" and text == Path(s.target).stem):
        return True
    if s.kind == "flow" or not Path(s.target.rpartition(":")[0] or s.target).is_absolute():
        return False
    path, colon, attr = text.partition(":")
    return str(Path(path).resolve()) + colon + attr == s.target


def set_enabled(store: Store, id_or_target: str, enabled: bool) -> list[Schedule]:
    """Enable or disable schedules (by id, or all of a flow).

    Enabling does not replay the times missed while disabled: the schedule
    restarts from now.
    """
    found = find_schedules(store, id_or_target)
    now = time.time()
    with store.transaction() as conn:
        for s in found:
            if enabled and not s.enabled:
                conn.execute(
                    "UPDATE schedules SET enabled = 1, updated_at = ?, last_fire = MAX(last_fire, ?) WHERE id = ?",
                    (now, now, s.id),
                )
            elif not enabled:
                conn.execute("UPDATE schedules SET enabled = 0, updated_at = ? WHERE id = ?", (now, s.id))
    return [s for s in (get_schedule(store, s.id) for s in found) if s is not None]


def remove_schedules(store: Store, id_or_target: str) -> list[Schedule]:
    """Delete schedules (by id, or all of a flow) and their run rows; returns what was removed."""
    found = find_schedules(store, id_or_target)
    with store.transaction() as conn:
        for s in found:
            conn.execute("DELETE FROM schedules WHERE id = ?", (s.id,))
            conn.execute("DELETE FROM schedule_runs WHERE schedule_id = ?", (s.id,))
    return found


def schedule_runs(store: Store, schedule_id: str | None = None, limit: int = 20) -> list[ScheduleRun]:
    """Recent schedule runs, newest first."""
    ensure_tables(store)
    query = (
        "SELECT id, schedule_id, fire_time, started_at, finished_at, status, run_id, pid, log_path, message "
        "FROM schedule_runs"
    )
    args: tuple[Any, ...] = ()
    if schedule_id is not None:
        query += " WHERE schedule_id = ?"
        args = (schedule_id,)
    query += " ORDER BY fire_time DESC, id DESC LIMIT ?"
    with store.read() as conn:
        rows = conn.execute(query, (*args, limit)).fetchall()
    return [ScheduleRun(*r) for r in rows]


def last_schedule_run(store: Store, schedule_id: str) -> ScheduleRun | None:
    """The most recent run of a schedule."""
    runs = schedule_runs(store, schedule_id, limit=1)
    return runs[0] if runs else None
