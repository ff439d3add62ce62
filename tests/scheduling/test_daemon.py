"""The scheduler daemon as a real background process: start, refuse a second, status, stop, runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow.processes import process_alive as _alive
from ferroflow.scheduling.daemon import DaemonInfo, PidFile, pid_file_path, scheduler_status
from ferroflow.scheduling.loop import Scheduler
from ferroflow.scheduling.table import add_schedule, schedule_runs
from ferroflow.store.store import open_store

from tests.conftest import ferroflow, wait_until


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return Path(os.environ["FERROFLOW_HOME"])


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "tick.json").write_text(
        json.dumps({"params": {"word": "tick"}, "tasks": [{"id": "say", "command": ["echo", "{word}"]}]})
    )
    return folder


@pytest.fixture
def daemon(tmp_path: Path, home: Path, flows: Path) -> Iterator[Path]:
    """A running detached daemon checking every 0.2 s; stopped (or killed) at the end."""
    started = ferroflow("scheduler", "start", "--check-interval", "0.2", "--grace", "1", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    yield tmp_path
    info = PidFile(pid_file_path(open_store(home))).holder()
    if info is not None:
        ferroflow("scheduler", "stop", "--timeout", "20", cwd=tmp_path)
        if _alive(info.pid):
            os.kill(info.pid, signal.SIGKILL)


def _set_last_fire(home: Path, schedule_id: str, stamp: float) -> None:
    store = open_store(home)
    with store.transaction() as conn:  # type: ignore[union-attr]
        conn.execute("UPDATE schedules SET last_fire = ? WHERE id = ?", (stamp, schedule_id))


def _hour_floor() -> float:
    now = time.time()
    return now - now % 3600


def _backdate(home: Path, schedule_id: str, seconds: float) -> None:
    store = open_store(home)
    with store.transaction() as conn:  # type: ignore[union-attr]
        conn.execute("UPDATE schedules SET last_fire = last_fire - ? WHERE id = ?", (seconds, schedule_id))


def test_start_refuses_a_second_instance_status_and_stop(daemon: Path, home: Path) -> None:
    info = PidFile(pid_file_path(open_store(home))).holder()
    assert info is not None and _alive(info.pid)
    second = ferroflow("scheduler", "start", cwd=daemon)
    assert second.returncode == 1
    assert f"already running (pid {info.pid}" in second.stderr
    status = ferroflow("--json-logs", "scheduler", "status", cwd=daemon)
    data = json.loads(status.stdout)
    assert data["running"] is True and data["pid"] == info.pid and data["uptime_seconds"] >= 0
    stopped = ferroflow("scheduler", "stop", cwd=daemon)
    assert stopped.returncode == 0 and f"scheduler stopped (pid {info.pid})" in stopped.stdout
    wait_until(lambda: not _alive(info.pid), timeout=15)
    assert not pid_file_path(open_store(home)).exists()
    assert "not running" in ferroflow("scheduler", "status", cwd=daemon).stdout
    assert "not running" in ferroflow("scheduler", "stop", cwd=daemon).stdout


def test_a_schedule_added_while_running_is_picked_up_and_recorded(daemon: Path, home: Path) -> None:
    added = ferroflow(
        "--json-logs", "schedule", "add", "tick", "--cron", "@yearly", "--params", '{"word": "tock"}', cwd=daemon
    )
    schedule_id = json.loads(added.stdout)["id"]
    _backdate(home, schedule_id, 400 * 86400)  # due now: one catch-up run (the latest missed new year)
    store = open_store(home)
    wait_until(lambda: any(r.status == "completed" for r in schedule_runs(store, schedule_id)), timeout=30)
    (row,) = schedule_runs(store, schedule_id)
    assert row.run_id is not None and row.log_path is not None
    run = store.get_run(row.run_id)  # type: ignore[union-attr]
    assert run.run.workflow == "tick" and run.run.status == "completed"
    assert run.run.params == {"word": "tock"}
    assert "completed" in Path(row.log_path).read_text()
    stdout_log = daemon / "ferroflow_output" / "logs" / "tick" / row.run_id / "say.stdout.log"
    assert stdout_log.read_text() == "tock\n"
    status = json.loads(ferroflow("--json-logs", "scheduler", "status", cwd=daemon).stdout)
    (entry,) = status["schedules"]
    assert entry["last_status"] == "completed" and entry["last_run_id"] == row.run_id and entry["next_run"]


def test_stop_cancels_an_in_flight_run_and_kills_its_processes(daemon: Path, home: Path, flows: Path) -> None:
    pid_file = daemon / "sleeper.pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    (flows / "slow.json").write_text(json.dumps({"tasks": [{"id": "sleep", "command": ["python", "-c", code]}]}))
    added = ferroflow("--json-logs", "schedule", "add", "slow", "--cron", "@yearly", cwd=daemon)
    schedule_id = json.loads(added.stdout)["id"]
    _backdate(home, schedule_id, 400 * 86400)
    wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", timeout=30)
    sleeper = int(pid_file.read_text())
    stopped = ferroflow("scheduler", "stop", "--timeout", "30", cwd=daemon)
    assert stopped.returncode == 0
    wait_until(lambda: not _alive(sleeper), timeout=15)
    store = open_store(home)
    (row,) = schedule_runs(store, schedule_id)
    assert row.status == "cancelled"
    # The same word in the runs table, and the task says why it stopped (not "exit code -15").
    assert row.run_id is not None
    run = store.get_run(row.run_id)
    assert run.run.status == "cancelled"
    task = run.task("sleep")
    assert task.status == "cancelled" and task.error is None
    assert task.reason is not None and "stopped by a cancel of the run" in task.reason


def test_stale_pid_file_is_detected_and_cleaned(tmp_path: Path, home: Path, flows: Path) -> None:
    store = open_store(home)
    path = pid_file_path(store)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"pid": dead.pid, "started_at": time.time() - 100}))
    status = scheduler_status(store)
    assert not status.running and status.stale_pid == dead.pid and not path.exists()
    path.write_text(json.dumps({"pid": dead.pid, "started_at": 0}))
    shown = ferroflow("scheduler", "status", cwd=tmp_path)
    assert f"stale pid file left by a crashed scheduler (pid {dead.pid})" in shown.stdout
    path.write_text(json.dumps({"pid": dead.pid, "started_at": 0}))
    started = ferroflow("scheduler", "start", "--check-interval", "0.2", cwd=tmp_path)
    try:
        assert started.returncode == 0, started.stderr
        assert f"removed a stale pid file left by a scheduler that is gone (pid {dead.pid})" in started.stdout
    finally:
        assert ferroflow("scheduler", "stop", cwd=tmp_path).returncode == 0


def test_kill_9_leaves_a_stale_file_that_the_next_start_replaces(daemon: Path, home: Path) -> None:
    info = PidFile(pid_file_path(open_store(home))).holder()
    assert info is not None
    os.kill(info.pid, signal.SIGKILL)
    wait_until(lambda: not _alive(info.pid), timeout=15)
    again = ferroflow("scheduler", "start", "--check-interval", "0.2", cwd=daemon)
    assert again.returncode == 0, again.stderr
    assert f"(pid {info.pid})" in again.stdout  # the stale file was reported and replaced


def test_start_with_an_unwritable_store_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = ferroflow("--home", str(blocker / "home"), "scheduler", "start", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and str(blocker) in done.stderr
    assert blocker.read_text() == "not a folder"


def test_foreground_scheduler_stops_on_sigterm(tmp_path: Path, home: Path, flows: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "scheduler", "start", "--foreground", "--check-interval", "0.2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        store = open_store(home)
        wait_until(lambda: scheduler_status(store).running, timeout=30)
        assert scheduler_status(store).info.pid == proc.pid  # type: ignore[union-attr]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not scheduler_status(store).running
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_catch_up_after_downtime_runs_once_and_never_twice(tmp_path: Path, home: Path, flows: Path) -> None:
    store = open_store(home)
    hourly = add_schedule(
        store,
        "tick",
        kind="flow",
        cron="0 * * * *",
        tz="UTC",
        workdir=tmp_path,
        flows_dir=str(flows),
        tasks_dir=str(tmp_path / "tasks"),
        output_dir=str(tmp_path / "out"),
    )
    every = add_schedule(
        store,
        "tick",
        kind="flow",
        cron="*/10 * * * *",
        tz="UTC",
        workdir=tmp_path,
        flows_dir=str(flows),
        tasks_dir=str(tmp_path / "tasks"),
        output_dir=str(tmp_path / "out"),
    )
    _backdate(home, hourly.id, 5 * 3600)
    _backdate(home, every.id, 3600)
    now = time.time()  # one clock for every tick: no fire time may pass during the test
    scheduler = Scheduler(store, check_interval=0.2, catchup="latest", grace=30)
    scheduler.tick(now=now)
    scheduler.tick(now=now)  # a second tick (or a restart) finds nothing new to run
    restarted = Scheduler(store, check_interval=0.2, catchup="latest", grace=30)
    restarted.tick(now=now)
    wait_until(lambda: not (scheduler.reap() or scheduler.in_flight), timeout=30)
    assert len(schedule_runs(store, hourly.id)) == 1
    assert len(schedule_runs(store, every.id)) == 1
    assert all(r.status == "completed" for r in schedule_runs(store))


def test_catch_up_all_runs_every_missed_time(tmp_path: Path, home: Path, flows: Path) -> None:
    store = open_store(home)
    s = add_schedule(
        store,
        "tick",
        kind="flow",
        cron="0 * * * *",
        tz="UTC",
        workdir=tmp_path,
        flows_dir=str(flows),
        tasks_dir=str(tmp_path / "tasks"),
        output_dir=str(tmp_path / "out"),
    )
    # Down since half past, three hours ago: exactly three whole hours were missed.
    floor = _hour_floor()
    _set_last_fire(home, s.id, floor - 3 * 3600 + 1800)
    now = floor + 1800  # one clock for every tick: no new hour may start during the test
    scheduler = Scheduler(store, check_interval=0.2, catchup="all", grace=30)
    scheduler.tick(now=now)
    wait_until(
        lambda: (
            scheduler.tick(now=now) is not None
            and not scheduler.in_flight
            and all(r.status == "completed" for r in schedule_runs(store, s.id))
        ),
        timeout=60,
    )
    runs = schedule_runs(store, s.id)
    # One after another, oldest first, each recorded with its own run.
    assert len(runs) == 3 and len({r.run_id for r in runs}) == 3
    assert [r.fire_time for r in runs] == sorted((r.fire_time for r in runs), reverse=True)


def test_catch_up_none_skips_missed_times(tmp_path: Path, home: Path, flows: Path) -> None:
    store = open_store(home)
    s = add_schedule(
        store,
        "tick",
        kind="flow",
        cron="0 * * * *",
        tz="UTC",
        workdir=tmp_path,
        flows_dir=str(flows),
        tasks_dir=str(tmp_path / "tasks"),
        output_dir=str(tmp_path / "out"),
    )
    floor = _hour_floor()
    _set_last_fire(home, s.id, floor - 3 * 3600 + 600)
    # Checked at half past: every missed hour is more than the grace period old.
    Scheduler(store, check_interval=0.2, catchup="none", grace=30).tick(now=floor + 1800)
    assert schedule_runs(store, s.id) == []


def test_pid_file_info_round_trip(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "scheduler.pid")
    assert pid_file.acquire(DaemonInfo(pid=os.getpid(), started_at=1.0, catchup="all")) is None
    try:
        data = json.loads((tmp_path / "scheduler.pid").read_text())
        assert data["pid"] == os.getpid() and data["catchup"] == "all"
    finally:
        pid_file.release()
    assert not (tmp_path / "scheduler.pid").exists()


def test_a_python_workflow_target_runs_on_schedule(tmp_path: Path, home: Path) -> None:
    (tmp_path / "sched_target_mod.py").write_text(
        "from ferroflow import Task, Workflow\n"
        "nightly = Workflow('nightly')\n"
        "nightly.add_task(Task(fn=lambda n=1: n * 10, name='ten'))\n"
    )
    added = ferroflow(
        "--json-logs",
        "schedule",
        "add",
        "sched_target_mod.py:nightly",
        "--cron",
        "@yearly",
        "--params",
        '{"n": 4}',
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    schedule_id = json.loads(added.stdout)["id"]
    store = open_store(home)
    _backdate(home, schedule_id, 400 * 86400)
    scheduler = Scheduler(store, check_interval=0.2)  # type: ignore[arg-type]
    scheduler.tick()
    wait_until(lambda: scheduler.tick() is not None and not scheduler.in_flight, timeout=30)
    (row,) = schedule_runs(store, schedule_id)
    assert row.status == "completed", Path(row.log_path or "").read_text()
    assert store.load_result(row.run_id, "ten") == 40  # type: ignore[union-attr,arg-type]


def test_interactive_status_refreshes_until_its_duration(tmp_path: Path, home: Path, flows: Path) -> None:
    from ferroflow.cli.app import app
    from ferroflow.log import reset_logging
    from typer.testing import CliRunner

    add_schedule(open_store(home), "tick", kind="flow", cron="@daily", tz="UTC")
    try:
        result = CliRunner().invoke(
            app, ["scheduler", "status", "--interactive", "--refresh", "0.1", "--duration", "0.5"]
        )
    finally:
        reset_logging()
    assert result.exit_code == 0
    assert "scheduler not running" in result.stdout and "tick" in result.stdout
    try:
        as_json = CliRunner().invoke(app, ["--json-logs", "scheduler", "status", "--interactive", "--duration", "0"])
    finally:
        reset_logging()
    assert as_json.exit_code == 2 and as_json.stdout == ""
    assert "live screen" in json.loads(as_json.stderr)["message"]
