"""Schedules: cron expressions and intervals, their fire times, and their table in the store.

A schedule runs a target — a flow (by name or file) or a Python workflow
(``module:attr``) — on a standard 5-field cron expression or an interval
(``hourly``, ``daily``, ``weekly``, ``monthly`` with ``at HH:MM``), in an IANA
time zone. Fire times come from ``cronsim`` (Vixie-cron semantics: a job at a
fixed time fires once when clocks fall back and at the first valid minute when
they spring forward; day-of-month and day-of-week are OR-ed when both are
restricted). ``@hourly @daily @midnight @weekly @monthly @yearly @annually`` are
expanded here.

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
    >>> from datetime import datetime
    >>> [t.strftime("%a %H:%M") for t in next_fire_times("0 9 * * MON-FRI", tz="UTC",
    ...                                                    after=datetime(2024, 1, 5, 12, 0), count=2)]
    ['Mon 09:00', 'Tue 09:00']
"""

from __future__ import annotations

import difflib
import json
import os
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from ..errors import ScheduleError

if TYPE_CHECKING:
    from ..store.store import Store

__all__ = [
    "ALIASES",
    "INTERVALS",
    "Catchup",
    "Schedule",
    "ScheduleRun",
    "add_schedule",
    "due_fire_times",
    "ensure_tables",
    "find_schedules",
    "get_schedule",
    "interval_to_cron",
    "list_schedules",
    "local_timezone_name",
    "next_fire_times",
    "parse_schedule_expr",
    "remove_schedules",
    "resolve_timezone",
    "schedule_runs",
    "set_enabled",
]

Catchup = Literal["none", "latest", "all"]

ALIASES: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
INTERVALS = ("hourly", "daily", "weekly", "monthly")
_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_FIELD_HELP = {
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 or SUN-SAT (0 and 7 are Sunday)",
}
_INTERVAL_RE = re.compile(r"^\s*(hourly|daily|weekly|monthly)\s*(?:(?:@|\s+at\s+)(\S+))?\s*$", re.IGNORECASE)
_MAX_ITERATIONS = 200_000


# ---------------------------------------------------------------- expressions


def parse_at(at: str, interval: str) -> tuple[int, int]:
    """``HH:MM`` (or minutes past the hour for ``hourly``) as ``(hour, minute)``.

    Raises:
        ScheduleError: The time is malformed or out of range.

    Example:
        >>> parse_at("09:30", "daily"), parse_at(":15", "hourly")
        ((9, 30), (0, 15))
    """
    text = at.strip()
    if interval == "hourly":
        match = re.fullmatch(r"(?:(\d{1,2})?:)?(\d{1,2})", text)
        if match and (match.group(1) in (None, "", "0", "00")) and int(match.group(2)) < 60:
            return 0, int(match.group(2))
        raise ScheduleError(f'invalid --at "{at}" for an hourly interval: give the minutes past the hour, e.g. ":15"')
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ScheduleError(f'invalid --at "{at}": use 24-hour HH:MM, e.g. "09:30"')
    return int(match.group(1)), int(match.group(2))


def interval_to_cron(interval: str, at: str | None = None) -> str:
    """The cron expression of an interval.

    ``weekly`` fires on Mondays, ``monthly`` on the 1st; ``at`` defaults to midnight
    (``:00`` for ``hourly``).

    Raises:
        ScheduleError: Unknown interval or bad ``at``.

    Example:
        >>> interval_to_cron("weekly", "08:15")
        '15 8 * * 1'
    """
    kind = interval.strip().lower()
    if kind not in INTERVALS:
        close = difflib.get_close_matches(kind, INTERVALS, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise ScheduleError(f'invalid interval "{interval}"{hint}: use one of {", ".join(INTERVALS)}')
    hour, minute = parse_at(at, kind) if at is not None else (0, 0)
    return {
        "hourly": f"{minute} * * * *",
        "daily": f"{minute} {hour} * * *",
        "weekly": f"{minute} {hour} * * 1",
        "monthly": f"{minute} {hour} 1 * *",
    }[kind]


def validate_cron(expr: str) -> str:
    """Check a cron expression (or ``@`` alias) and return the 5-field form.

    Raises:
        ScheduleError: Naming the field at fault and its allowed values.

    Example:
        >>> validate_cron("@hourly")
        '0 * * * *'
    """
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            close = difflib.get_close_matches(text.lower(), list(ALIASES), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise ScheduleError(f'invalid cron "{expr}": unknown alias{hint}; use one of {", ".join(ALIASES)}')
        return ALIASES[text.lower()]
    fields = text.split(" ")
    if len(fields) != 5:
        raise ScheduleError(
            f'invalid cron "{expr}": expected 5 fields (minute hour day-of-month month day-of-week), '
            f'got {len(fields)}; e.g. "*/15 * * * *"'
        )
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
    except CronSimError as exc:
        message = str(exc)
        for n, name in enumerate(_FIELDS):
            if message.lower() == f"bad {name}":
                if name == "day-of-month" and _is_valid(" ".join([*fields[:3], "*", fields[4]])):
                    raise ScheduleError(
                        f'invalid cron "{expr}": day-of-month "{fields[2]}" never occurs in month "{fields[3]}"'
                    ) from None
                raise ScheduleError(
                    f'invalid cron "{expr}": bad {name} field "{fields[n]}" (allowed: {_FIELD_HELP[name]})'
                ) from None
        raise ScheduleError(f'invalid cron "{expr}": {message}') from None
    return text


def _is_valid(expr: str) -> bool:
    try:
        CronSim(expr, datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
    except CronSimError:
        return False
    return True


def parse_schedule_expr(cron_or_interval: str) -> str:
    """A cron expression, ``@`` alias or interval (``daily``, ``daily at 09:30``) as 5-field cron.

    Raises:
        ScheduleError: It is none of those.

    Example:
        >>> parse_schedule_expr("daily at 09:30"), parse_schedule_expr("@weekly")
        ('30 9 * * *', '0 0 * * 0')
    """
    match = _INTERVAL_RE.match(cron_or_interval)
    if match:
        return interval_to_cron(match.group(1), match.group(2))
    return validate_cron(cron_or_interval)


def local_timezone_name() -> str:
    """The IANA name of the local zone (``$TZ``, ``/etc/localtime``, ``/etc/timezone``), else ``UTC``."""
    candidates: list[str] = []
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        candidates.append(env)
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    for name in candidates:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return "UTC"


def resolve_timezone(tz: str | None) -> ZoneInfo:
    """An IANA zone (``None``: the local one).

    Raises:
        ScheduleError: Unknown zone, with the closest names.
    """
    name = tz if tz is not None else local_timezone_name()
    try:
        if not name or name.startswith("/") or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ScheduleError(
            f'unknown time zone "{name}"{hint}: use an IANA name such as "Europe/Berlin" or "UTC"'
        ) from None


def _as_aware(moment: datetime | str | float | None, zone: ZoneInfo) -> datetime:
    if moment is None:
        return datetime.now(zone)
    if isinstance(moment, int | float):
        return datetime.fromtimestamp(moment, zone)
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            raise ScheduleError(f'invalid time "{moment}": use ISO 8601, e.g. "2024-03-31T01:30"') from None
    if moment.tzinfo is None:
        # Through the epoch, so a wall time skipped by a DST change becomes the real
        # instant it names (02:30 on a spring-forward night is 03:30), which cron can compare.
        return datetime.fromtimestamp(moment.replace(tzinfo=zone).timestamp(), zone)
    return moment.astimezone(zone)


def next_fire_times(
    cron_or_interval: str,
    tz: str | None = None,
    after: datetime | str | None = None,
    count: int = 5,
) -> list[datetime]:
    """The next fire times of a cron expression, ``@`` alias or interval.

    Args:
        cron_or_interval: ``"*/15 * * * *"``, ``"@daily"``, ``"weekly"``, ``"daily at 09:30"``.
        tz: IANA zone the expression is read in (``None``: the local zone).
        after: Start strictly after this moment (naive: in ``tz``; ISO text accepted); default now.
        count: How many times.

    Returns:
        Aware datetimes in ``tz``, ascending. Across DST: a fixed-time job fires
        once on fall-back and at the first valid time on spring-forward.

    Raises:
        ScheduleError: Bad expression, zone or time.

    Example:
        >>> from datetime import datetime
        >>> times = next_fire_times("30 2 * * *", tz="Europe/Berlin", after=datetime(2024, 3, 30, 12, 0), count=2)
        >>> [t.isoformat() for t in times]
        ['2024-03-31T03:00:00+02:00', '2024-04-01T02:30:00+02:00']
    """
    if count < 0:
        raise ScheduleError("count must be zero or more")
    expr = parse_schedule_expr(cron_or_interval)
    zone = resolve_timezone(tz)
    start = _as_aware(after, zone)
    it = CronSim(expr, start)
    out: list[datetime] = []
    for moment in it:
        if len(out) >= count:
            break
        out.append(moment)
    return out


def due_fire_times(
    cron: str, tz: str, since: float, now: float, *, catchup: Catchup = "latest", grace_seconds: float = 60.0
) -> tuple[list[datetime], float]:
    """Fire times in ``(since, now]`` to run now, and the new ``since``.

    Args:
        cron: 5-field cron expression.
        tz: IANA zone.
        since: Epoch of the last fire time already handled.
        now: Epoch now.
        catchup: ``"latest"``: at most one run (the most recent missed time);
            ``"all"``: every missed time in order; ``"none"``: only a time
            less than ``grace_seconds`` old, missed ones are skipped.
        grace_seconds: How late a fire time may be and still count as on time.

    Returns:
        ``(times_to_run, handled_until)``: ``handled_until`` is the last due
        time (or ``since`` when nothing was due); store it as the new ``since``.
    """
    zone = resolve_timezone(tz)
    if catchup != "all":
        # Only the most recent time can run: look back from now instead of walking
        # forward from `since`, which after a long downtime could take millions of steps.
        latest = next(iter(CronSim(cron, datetime.fromtimestamp(now, zone), reverse=True)), None)
        if latest is None or latest.timestamp() <= since or latest.timestamp() > now:
            return [], since
        on_time = catchup == "latest" or now - latest.timestamp() <= grace_seconds
        return ([latest] if on_time else []), latest.timestamp()
    due: list[datetime] = []
    for moment in CronSim(cron, datetime.fromtimestamp(since, zone)):
        if moment.timestamp() > now or len(due) >= _MAX_ITERATIONS:
            break
        due.append(moment)
    # Capped: a very long downtime is worked off over several ticks, in order.
    return due, (due[-1].timestamp() if due else since)


# ---------------------------------------------------------------- the store

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
        json.dumps(params or {}, sort_keys=True, default=str),
        str(Path(workdir).resolve() if workdir is not None else Path.cwd().resolve()),
        flows_dir,
        tasks_dir,
        output_dir,
        stamp,
        stamp,
        stamp,
    )
    with store.transaction() as conn:
        conn.execute(f"INSERT INTO schedules ({_COLUMNS}) VALUES ({', '.join('?' * len(row))})", row)
    return _row(row)


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


def parse_after(text: str | None, tz: str) -> datetime | None:
    """``--after`` text (ISO 8601) as an aware datetime in ``tz``."""
    if text is None:
        return None
    return _as_aware(text, resolve_timezone(tz))


def timedelta_text(seconds: float) -> str:
    """``1h 02m`` style duration."""
    delta = timedelta(seconds=int(max(0, seconds)))
    days, rest = delta.days, delta.seconds
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
