"""Cron and interval semantics, DST, catch-up, and the schedules table."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ferroflow import ScheduleError, next_fire_times
from ferroflow.scheduling.schedules import due_fire_times, interval_to_cron, parse_schedule_expr
from ferroflow.scheduling.table import (
    add_schedule,
    find_schedules,
    get_schedule,
    list_schedules,
    remove_schedules,
    set_enabled,
)
from ferroflow.store.store import open_store

BERLIN = "Europe/Berlin"


def iso(times: list[datetime]) -> list[str]:
    return [t.isoformat() for t in times]


def test_next_fire_times_start_strictly_after_the_given_time() -> None:
    times = next_fire_times("*/15 * * * *", tz="UTC", after="2024-01-01T10:00", count=3)
    assert iso(times) == ["2024-01-01T10:15:00+00:00", "2024-01-01T10:30:00+00:00", "2024-01-01T10:45:00+00:00"]


def test_day_of_month_and_day_of_week_are_or_ed_like_cron() -> None:
    # The 13th of the month OR any Friday.
    times = next_fire_times("0 0 13 * 5", tz="UTC", after="2024-09-01", count=4)
    assert [t.strftime("%a %d") for t in times] == ["Fri 06", "Fri 13", "Fri 20", "Fri 27"]
    times = next_fire_times("0 0 13 * 5", tz="UTC", after="2024-10-01", count=3)
    assert [t.strftime("%a %d") for t in times] == ["Fri 04", "Fri 11", "Sun 13"]


def test_names_and_seven_for_sunday() -> None:
    by_name = next_fire_times("30 6 * JAN-FEB SUN", tz="UTC", after="2024-01-01", count=3)
    by_seven = next_fire_times("30 6 * 1-2 7", tz="UTC", after="2024-01-01", count=3)
    by_zero = next_fire_times("30 6 * 1-2 0", tz="UTC", after="2024-01-01", count=3)
    assert by_name == by_seven == by_zero
    assert all(t.weekday() == 6 and t.month == 1 for t in by_name)


@pytest.mark.parametrize(
    ("alias", "cron"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_aliases_expand_to_cron(alias: str, cron: str) -> None:
    assert parse_schedule_expr(alias) == cron
    assert next_fire_times(alias, tz="UTC", after="2024-03-05T10:30", count=2) == next_fire_times(
        cron, tz="UTC", after="2024-03-05T10:30", count=2
    )


def test_intervals_with_at() -> None:
    assert interval_to_cron("hourly") == "0 * * * *"
    assert interval_to_cron("hourly", ":15") == "15 * * * *"
    assert interval_to_cron("daily", "09:30") == "30 9 * * *"
    assert interval_to_cron("weekly", "08:00") == "0 8 * * 0"  # Sunday, as cron's @weekly
    assert interval_to_cron("monthly") == "0 0 1 * *"
    assert iso(next_fire_times("daily at 09:30", tz=BERLIN, after="2024-05-01T10:00", count=1)) == [
        "2024-05-02T09:30:00+02:00"
    ]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", 'bad minute field "61" (allowed: 0-59)'),
        ("* 24 * * *", 'bad hour field "24"'),
        ("* * 0 * *", 'bad day-of-month field "0"'),
        ("* * * 13 *", 'bad month field "13"'),
        ("* * * * 8", 'bad day-of-week field "8"'),
        ("* * * *", "expected 5 fields"),
        ("@dayly", 'unknown alias (did you mean "@daily"?)'),
        ("0 0 31 2 *", 'day-of-month "31" never occurs in month "2"'),
        ("0 0 30,31 FEB *", 'day-of-month "30,31" never occurs in month "FEB"'),
        ("daily at 25:00", 'invalid --at "25:00"'),
        ("hourly at 10:15", "minutes past the hour"),
    ],
)
def test_bad_expressions_name_the_field(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        parse_schedule_expr(expr)


def test_bad_interval_and_timezone() -> None:
    with pytest.raises(ScheduleError, match='invalid interval "dayly" \\(did you mean "daily"\\?\\)'):
        interval_to_cron("dayly")
    with pytest.raises(ScheduleError, match='unknown time zone "Europe/Berln" \\(did you mean Europe/Berlin'):
        next_fire_times("@daily", tz="Europe/Berln")
    with pytest.raises(ScheduleError, match="ISO 8601"):
        next_fire_times("@daily", tz="UTC", after="yesterday-ish")


# ---------------------------------------------------------------- DST


def test_spring_forward_moves_a_skipped_time_to_the_first_valid_minute() -> None:
    times = next_fire_times("30 2 * * *", tz=BERLIN, after="2024-03-30T12:00", count=3)
    assert iso(times) == ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00", "2024-04-02T02:30:00+02:00"]


def test_fall_back_fires_a_fixed_time_once() -> None:
    times = next_fire_times("30 2 * * *", tz=BERLIN, after="2024-10-26T12:00", count=2)
    assert iso(times) == ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]


def test_hourly_jobs_run_every_real_hour_across_fall_back() -> None:
    times = next_fire_times("0 * * * *", tz=BERLIN, after="2024-10-27T00:30", count=4)
    stamps = [t.timestamp() for t in times]
    assert [b - a for a, b in itertools.pairwise(stamps)] == [3600.0, 3600.0, 3600.0]


def test_a_naive_start_inside_the_spring_forward_gap_is_a_real_instant() -> None:
    # 02:30 does not exist in Berlin on 2024-03-31; it names 03:30 CEST.
    after = "2024-03-31T02:30"
    assert iso(next_fire_times("0 3 * * *", tz=BERLIN, after=after, count=1)) == ["2024-04-01T03:00:00+02:00"]
    assert iso(next_fire_times("*/15 * * * *", tz=BERLIN, after=after, count=1)) == ["2024-03-31T03:45:00+02:00"]
    assert iso(next_fire_times("30 2 * * *", tz=BERLIN, after=after, count=1)) == ["2024-04-01T02:30:00+02:00"]


def test_restart_across_fall_back_never_fires_twice() -> None:
    zone = ZoneInfo(BERLIN)
    fired = datetime(2024, 10, 27, 2, 30, tzinfo=zone).timestamp()  # the one 02:30 (CEST)
    # The daemon restarts during the repeated hour, at 02:45 CET.
    now = datetime(2024, 10, 27, 2, 45, fold=1, tzinfo=zone).timestamp()
    due, handled = due_fire_times("30 2 * * *", BERLIN, fired, now)
    assert due == [] and handled == fired


# ---------------------------------------------------------------- catch-up


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("UTC")).timestamp()


def test_catchup_latest_runs_once_after_downtime() -> None:
    due, handled = due_fire_times("0 * * * *", "UTC", _ts("2024-01-01T00:00"), _ts("2024-01-01T05:30"))
    assert iso(due) == ["2024-01-01T05:00:00+00:00"]
    assert handled == _ts("2024-01-01T05:00")


def test_catchup_all_runs_every_missed_time_in_order() -> None:
    due, _ = due_fire_times("0 * * * *", "UTC", _ts("2024-01-01T00:00"), _ts("2024-01-01T03:30"), catchup="all")
    assert [t.hour for t in due] == [1, 2, 3]


def test_catchup_none_skips_missed_times_but_runs_on_time_ones() -> None:
    due, handled = due_fire_times("0 * * * *", "UTC", _ts("2024-01-01T00:00"), _ts("2024-01-01T03:30"), catchup="none")
    assert due == [] and handled == _ts("2024-01-01T03:00")
    due, _ = due_fire_times(
        "0 * * * *", "UTC", _ts("2024-01-01T00:30"), _ts("2024-01-01T01:00:02"), catchup="none", grace_seconds=5
    )
    assert [t.hour for t in due] == [1]


def test_nothing_due_keeps_the_mark() -> None:
    since = _ts("2024-01-01T00:00")
    assert due_fire_times("0 * * * *", "UTC", since, since + 1800) == ([], since)


def test_long_downtime_with_latest_is_cheap_and_single() -> None:
    due, _ = due_fire_times("* * * * *", "UTC", _ts("2024-01-01T00:00"), _ts("2024-01-20T00:00"))
    assert len(due) == 1


def test_latest_after_a_downtime_longer_than_the_walk_cap_is_the_last_missed_time() -> None:
    # A minute cron and a year of downtime: far more fire times than a forward walk
    # would visit; the one catch-up run must still be the latest one, and only one.
    now = _ts("2025-01-01T00:00:30")
    due, handled = due_fire_times("* * * * *", "UTC", _ts("2024-01-01T00:00"), now)
    assert iso(due) == ["2025-01-01T00:00:00+00:00"] and handled == _ts("2025-01-01T00:00")
    assert due_fire_times("* * * * *", "UTC", handled, now + 10) == ([], handled)


def test_latest_catch_up_across_fall_back_uses_the_real_last_time() -> None:
    berlin = ZoneInfo(BERLIN)
    since = datetime(2024, 10, 26, 12, 0, tzinfo=berlin).timestamp()
    now = datetime(2024, 10, 27, 2, 10, fold=1, tzinfo=berlin).timestamp()
    due, _ = due_fire_times("0 * * * *", BERLIN, since, now)
    assert iso(due) == ["2024-10-27T02:00:00+01:00"]


# ---------------------------------------------------------------- the table


def test_schedules_are_stored_found_toggled_and_removed(tmp_path: Path) -> None:
    store = open_store(tmp_path / "home")
    a = add_schedule(store, "daily", kind="flow", cron="*/5 * * * *", tz="UTC", description="often")
    b = add_schedule(store, "daily", kind="flow", interval="daily", at="06:00", tz=BERLIN, enabled=False)
    c = add_schedule(store, "mod:wf", kind="python", cron="@hourly", tz="UTC", params={"x": 1})
    assert len({a.id, b.id, c.id}) == 3 and len(a.id) == 8
    assert [s.id for s in list_schedules(store)] == [a.id, b.id, c.id]
    assert (b.cron, b.spec, b.tz, b.enabled) == ("0 6 * * *", "daily at 06:00", BERLIN, False)
    assert get_schedule(store, c.id) is not None and get_schedule(store, c.id).params == {"x": 1}  # type: ignore[union-attr]
    assert [s.id for s in find_schedules(store, "daily")] == [a.id, b.id]
    assert [s.enabled for s in set_enabled(store, b.id, True)] == [True]
    assert [s.enabled for s in set_enabled(store, "daily", False)] == [False, False]
    assert [s.id for s in remove_schedules(store, "daily")] == [a.id, b.id]
    assert [s.id for s in list_schedules(store)] == [c.id]
    with pytest.raises(ScheduleError, match=f'no schedule with id or flow "nope"; schedules: {c.id} \\(mod:wf\\)'):
        find_schedules(store, "nope")


def test_bad_schedule_writes_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "home")
    for kwargs in (
        {"cron": "61 * * * *"},
        {"interval": "daily", "at": "7pm"},
        {"cron": "@daily", "tz": "Mars/Olympus"},
        {"cron": "@daily", "interval": "daily"},
        {"cron": "@daily", "at": "06:00"},
        {},
    ):
        with pytest.raises(ScheduleError):
            add_schedule(store, "f", kind="flow", **kwargs)  # type: ignore[arg-type]
    assert list_schedules(store) == []


def test_next_fire_of_a_schedule_is_after_now(tmp_path: Path) -> None:
    store = open_store(tmp_path / "home")
    s = add_schedule(store, "f", kind="flow", cron="*/5 * * * *", tz="UTC")
    nxt = s.next_fire()
    assert nxt is not None
    assert timedelta(0) < nxt - datetime.now(ZoneInfo("UTC")) <= timedelta(minutes=5)


# The schedules table as ferroflow wrote it before periods (and before weekly meant Sunday).
_OLD_TABLE = """
CREATE TABLE schedules (
    id TEXT PRIMARY KEY, target TEXT NOT NULL, kind TEXT NOT NULL, cron TEXT NOT NULL,
    spec TEXT NOT NULL, tz TEXT NOT NULL, description TEXT, enabled INTEGER NOT NULL DEFAULT 1,
    params TEXT NOT NULL DEFAULT '{}', workdir TEXT NOT NULL, flows_dir TEXT NOT NULL,
    tasks_dir TEXT NOT NULL, output_dir TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, last_fire REAL NOT NULL
)
"""


def test_a_weekly_schedule_stored_before_keeps_firing_on_mondays(tmp_path: Path) -> None:
    import sqlite3

    from ferroflow.scheduling import table

    db = tmp_path / "old" / "ferroflow.db"
    store = open_store(db)
    assert store is not None
    created = datetime(2024, 6, 1, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # a Saturday
    with sqlite3.connect(db) as conn:
        conn.execute(_OLD_TABLE)
        conn.execute(
            "INSERT INTO schedules VALUES ('abcd0001', 'etl', 'flow', '0 9 * * 1', 'weekly at 09:00', 'UTC', NULL, 1,"
            " '{}', ?, 'flows', 'tasks', 'out', ?, ?, ?)",
            (str(tmp_path), created, created, created),
        )
    table._READY.discard(str(store.path))
    [old] = list_schedules(store)  # the table gains the new columns; the row stays a cron schedule
    assert (old.cron, old.every, old.anchor) == ("0 9 * * 1", None, None)
    assert [t.strftime("%a %d %H:%M") for t in old.fire_times(created, count=2)] == ["Mon 03 09:00", "Mon 10 09:00"]
    due, _ = old.due(datetime(2024, 6, 3, 9, 0, 30, tzinfo=ZoneInfo("UTC")).timestamp())
    assert [t.strftime("%a %H:%M") for t in due] == ["Mon 09:00"]
    # A weekly schedule added now fires on Sundays, as cron's @weekly.
    new = add_schedule(store, "etl", kind="flow", interval="weekly", at="09:00", tz="UTC", now=created)
    assert [t.strftime("%a %d") for t in new.fire_times(created, count=1)] == ["Sun 02"]


def test_periods_fire_from_their_anchor_and_catch_up_like_cron(tmp_path: Path) -> None:
    from ferroflow.scheduling.schedules import due_period_times, parse_period

    assert [parse_period(p) for p in ("30s", "5m", "2h", "1d", "weekly")] == [30, 300, 7200, 86400, None]
    store = open_store(tmp_path / "s")
    assert store is not None
    created = datetime(2024, 6, 1, 8, 0, 10, tzinfo=ZoneInfo("UTC")).timestamp()
    s = add_schedule(store, "etl", kind="flow", interval="30m", tz="UTC", now=created)
    assert [t.strftime("%H:%M:%S") for t in s.fire_times(created, count=2)] == ["08:30:10", "09:00:10"]
    at = add_schedule(store, "etl", kind="flow", interval="30m", at="09:00", tz="UTC", now=created)
    assert at.spec == "every 30m from 09:00"
    assert [t.strftime("%H:%M") for t in at.fire_times(created, count=2)] == ["08:30", "09:00"]
    later = created + 2 * 3600
    assert [t.strftime("%H:%M:%S") for t in s.due(later)[0]] == ["10:00:10"]  # latest: one run
    every, handled = s.due(later, catchup="all")
    assert [t.strftime("%H:%M") for t in every] == ["08:30", "09:00", "09:30", "10:00"]
    assert handled == created + 4 * 1800
    assert [t.strftime("%H:%M") for t in s.due(later, catchup="none", grace_seconds=60)[0]] == ["10:00"]  # on time
    assert s.due(later + 120, catchup="none", grace_seconds=60)[0] == []  # missed by 2 min: skipped
    assert due_period_times(60, 0, "UTC", since=120, now=150)[0] == []
