"""Schedules: cron expressions and intervals, and their fire times.

A schedule runs a target — a flow (by name or file) or a Python workflow
(``module:attr``) — on a standard 5-field cron expression, a calendar interval
(``hourly``, ``daily``, ``weekly`` on Sundays, ``monthly`` on the 1st, with
``at HH:MM``) or a period (``30s``, ``5m``, ``2h``, ``1d``: every so many
seconds from an anchor, see :func:`parse_period`), in an IANA time zone. Fire times come from ``cronsim`` (Vixie-cron semantics: a job at a
fixed time fires once when clocks fall back and at the first valid minute when
they spring forward; day-of-month and day-of-week are OR-ed when both are
restricted). ``@hourly @daily @midnight @weekly @monthly @yearly @annually`` are
expanded here.

Their table in the store is :mod:`ferroflow.scheduling.table`.

Example:
    >>> from datetime import datetime
    >>> [t.strftime("%a %H:%M") for t in next_fire_times("0 9 * * MON-FRI", tz="UTC",
    ...                                                    after=datetime(2024, 1, 5, 12, 0), count=2)]
    ['Mon 09:00', 'Tue 09:00']
"""

from __future__ import annotations

import difflib
import math
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from ..errors import ScheduleError

__all__ = [
    "ALIASES",
    "INTERVALS",
    "Catchup",
    "due_fire_times",
    "due_period_times",
    "interval_parts",
    "interval_to_cron",
    "local_timezone_name",
    "next_fire_times",
    "parse_after",
    "parse_period",
    "parse_schedule_expr",
    "period_anchor",
    "period_fire_times",
    "resolve_timezone",
    "timedelta_text",
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
_PERIOD_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
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
    """The cron expression of a calendar interval.

    ``weekly`` fires on Sundays (as cron's ``@weekly``), ``monthly`` on the 1st;
    ``at`` defaults to midnight (``:00`` for ``hourly``). A period (``5m``) has no
    cron expression: see :func:`parse_period`.

    Raises:
        ScheduleError: Unknown interval or bad ``at``.

    Example:
        >>> interval_to_cron("weekly", "08:15")
        '15 8 * * 0'
    """
    kind = interval.strip().lower()
    if kind not in INTERVALS:
        close = difflib.get_close_matches(kind, INTERVALS, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise ScheduleError(
            f'invalid interval "{interval}"{hint}: use one of {", ".join(INTERVALS)}, '
            "or a period such as 30s, 5m, 2h or 1d"
        )
    hour, minute = parse_at(at, kind) if at is not None else (0, 0)
    return {
        "hourly": f"{minute} * * * *",
        "daily": f"{minute} {hour} * * *",
        "weekly": f"{minute} {hour} * * 0",
        "monthly": f"{minute} {hour} 1 * *",
    }[kind]


def parse_period(interval: str) -> float | None:
    """The seconds of a period interval (``30s``, ``5m``, ``2h``, ``1d``), else ``None``.

    A period fires every so many seconds of real time from its anchor (the
    schedule's creation, or its ``--at`` time on the day it was created): ``1d``
    is 24 hours, whereas ``daily`` follows the wall clock across DST changes.

    Raises:
        ScheduleError: A period of zero.

    Example:
        >>> parse_period("30s"), parse_period("5m"), parse_period("2h"), parse_period("daily")
        (30.0, 300.0, 7200.0, None)
    """
    match = _PERIOD_RE.match(interval)
    if match is None:
        return None
    seconds = float(int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
    if seconds <= 0:
        raise ScheduleError(f'invalid interval "{interval}": a period must be at least 1s')
    return seconds


def period_anchor(created: float, at: str | None, tz: str) -> float:
    """The epoch a period counts from: ``created``, or ``at`` (``HH:MM``) on that day in ``tz``.

    Raises:
        ScheduleError: A malformed ``at``.

    Example:
        >>> from datetime import datetime, timezone
        >>> created = datetime(2024, 6, 1, 8, 10, tzinfo=timezone.utc).timestamp()
        >>> datetime.fromtimestamp(period_anchor(created, "09:30", "UTC"), timezone.utc).isoformat()
        '2024-06-01T09:30:00+00:00'
    """
    if at is None:
        return created
    hour, minute = parse_at(at, "daily")
    zone = resolve_timezone(tz)
    day = datetime.fromtimestamp(created, zone)
    wall = datetime(day.year, day.month, day.day, hour, minute)
    return _as_aware(wall, zone).timestamp()


def period_fire_times(every: float, anchor: float, after: float, count: int, tz: str) -> list[datetime]:
    """The ``count`` fire times ``anchor + k * every`` strictly after ``after``, in ``tz``.

    Example:
        >>> [t.strftime("%H:%M:%S") for t in period_fire_times(90.0, 0.0, 100.0, 2, "UTC")]
        ['00:03:00', '00:04:30']
    """
    zone = resolve_timezone(tz)
    k = math.floor((after - anchor) / every) + 1
    return [datetime.fromtimestamp(anchor + (k + i) * every, zone) for i in range(max(0, count))]


def due_period_times(
    every: float,
    anchor: float,
    tz: str,
    since: float,
    now: float,
    *,
    catchup: Catchup = "latest",
    grace_seconds: float = 60.0,
) -> tuple[list[datetime], float]:
    """:func:`due_fire_times` for a period: the times ``anchor + k * every`` in ``(since, now]``.

    ``k`` may be negative: a period anchored at 09:00 by ``--at`` and created at 08:00
    fires at 08:30 with ``30m``.

    Example:
        >>> due, handled = due_period_times(60.0, 0.0, "UTC", since=0.0, now=150.0, catchup="all")
        >>> [t.strftime("%M:%S") for t in due], handled
        (['01:00', '02:00'], 120.0)
    """
    zone = resolve_timezone(tz)
    latest = anchor + math.floor((now - anchor) / every) * every
    if latest <= since:
        return [], since
    if catchup != "all":
        on_time = catchup == "latest" or now - latest <= grace_seconds
        return ([datetime.fromtimestamp(latest, zone)] if on_time else []), latest
    first = math.floor((since - anchor) / every) + 1
    last = min(math.floor((now - anchor) / every), first + _MAX_ITERATIONS - 1)
    due = [datetime.fromtimestamp(anchor + k * every, zone) for k in range(first, last + 1)]
    return due, (due[-1].timestamp() if due else since)


def interval_parts(text: str) -> tuple[str, str | None] | None:
    """``(interval, at)`` of an interval written as text (``daily at 09:30``, ``5m``), else ``None``.

    Example:
        >>> interval_parts("daily at 09:30"), interval_parts("5m"), interval_parts("0 * * * *")
        (('daily', '09:30'), ('5m', None), None)
    """
    match = _INTERVAL_RE.match(text)
    if match is not None:
        return match.group(1).lower(), match.group(2)
    if _PERIOD_RE.match(text):
        return text.strip().lower(), None
    return None


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
