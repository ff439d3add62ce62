"""Featherflow's README examples, with ``featherflow`` renamed to ``ferroflow``, run as its users would.

The flows and task scripts are the document's (the scripts also write what they
received, so a test can read it); the commands run in a real ``ferroflow``
process; the scheduler examples start and stop the real daemon.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from ferroflow.processes import process_alive
from ferroflow.scheduling.daemon import PidFile, pid_file_path
from ferroflow.store.store import open_store

from tests.conftest import ferroflow, wait_until

SIMPLE_FLOW = {
    "name": "simple_flow",
    "description": "A sample flow to demonstrate Featherflow",
    "tasks": [
        {"id": "fetch_data", "script": "fetch_data.py", "description": "Fetch data from source"},
        {
            "id": "process_data",
            "script": "process_data.py",
            "description": "Process the fetched data",
            "depends_on": ["fetch_data"],
            "args": {"input-file": "data/raw_data.csv", "output-file": "data/processed_data.csv"},
        },
        {
            "id": "generate_report",
            "script": "generate_report.py",
            "description": "Generate final report",
            "depends_on": ["process_data"],
            "args": ["--format", "json", "--output", "reports/final_report.json"],
        },
    ],
}

FETCH_DATA = """#!/usr/bin/env python3
import sys
import argparse
import os

def parse_args():
    parser = argparse.ArgumentParser(description="Fetch data")
    # Add any arguments your task needs
    args, _ = parser.parse_known_args()  # Use known_args to handle Featherflow's argument passing
    return args

def main():
    args = parse_args()
    print("Fetching data...")

    # Access the temporary directory if needed
    tmp_dir = os.environ.get('TMP_DIR', os.path.join(os.getcwd(), 'tmp'))
    # You can create files in the temp directory that other tasks can use
    with open(f"{tmp_dir}/fetched_data.txt", "w") as f:
        f.write("Example data")

    return 0  # Return 0 for success

if __name__ == "__main__":
    sys.exit(main())
"""

# The "similar scripts for your other tasks": each records its argv and what it found.
RECORDER = """#!/usr/bin/env python3
import json, os, sys
tmp_dir = os.environ.get("TMP_DIR", os.path.join(os.getcwd(), "tmp"))
seen = open(os.path.join(tmp_dir, "fetched_data.txt")).read()
os.makedirs("seen", exist_ok=True)
name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
params = json.loads(os.environ.get("FERROFLOW_PARAMS", "{}"))
json.dump({"argv": sys.argv[1:], "tmp": seen, "params": params}, open(os.path.join("seen", name + ".json"), "w"))
print(name, "done")
"""


@pytest.fixture
def my_project(tmp_path: Path) -> Path:
    """The README's project structure: flows/simple_flow.json and tasks/*.py."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "simple_flow.json").write_text(json.dumps(SIMPLE_FLOW, indent=2))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "fetch_data.py").write_text(FETCH_DATA)
    for name in ("process_data", "generate_report"):
        (tmp_path / "tasks" / f"{name}.py").write_text(RECORDER)
    return tmp_path


def _seen(project: Path, name: str) -> dict[str, object]:
    return json.loads((project / "seen" / f"{name}.json").read_text())


def test_list_and_run_the_quick_start_flow(my_project: Path) -> None:
    listed = ferroflow("list", cwd=my_project)
    assert listed.returncode == 0 and "simple_flow" in listed.stdout

    run = ferroflow("run", "simple_flow", cwd=my_project)
    assert run.returncode == 0, run.stderr
    process = _seen(my_project, "process_data")
    assert process["argv"] == ["--input-file", "data/raw_data.csv", "--output-file", "data/processed_data.csv"]
    assert process["tmp"] == "Example data"  # TMP_DIR is shared by the run's tasks
    assert _seen(my_project, "generate_report")["argv"] == ["--format", "json", "--output", "reports/final_report.json"]


def test_params_as_json_text_or_as_the_path_of_a_json_file(my_project: Path) -> None:
    run = ferroflow("run", "simple_flow", "--params", '{"date": "2023-01-01", "source": "example"}', cwd=my_project)
    assert run.returncode == 0, run.stderr
    assert _seen(my_project, "process_data")["params"] == {"date": "2023-01-01", "source": "example"}

    (my_project / "params.json").write_text(json.dumps({"date": "2024-02-02"}))
    for value in ("params.json", str(my_project / "params.json"), "@params.json"):
        run = ferroflow("run", "simple_flow", "-p", value, cwd=my_project)
        assert run.returncode == 0, run.stderr
        assert _seen(my_project, "generate_report")["params"] == {"date": "2024-02-02"}

    missing = ferroflow("run", "simple_flow", "--params", "nothere.json", cwd=my_project)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "invalid --params" in missing.stderr


def test_dry_run_writes_the_script_and_runs_nothing(my_project: Path) -> None:
    dry = ferroflow("run", "simple_flow", "--dry-run", cwd=my_project)
    assert dry.returncode == 0, dry.stderr
    scripts = list((my_project / "ferroflow_output").rglob("*.sh"))
    assert scripts and "fetch_data.py" in scripts[0].read_text()
    assert not (my_project / "seen").exists()


def test_global_options_including_config_dir(my_project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (my_project / "flows").rename(tmp_path / "my_flows")
    (my_project / "tasks").rename(tmp_path / "my_tasks")
    run = ferroflow(
        "--flows-dir",
        str(tmp_path / "my_flows"),
        "-t",
        str(tmp_path / "my_tasks"),
        "-o",
        str(elsewhere / "out"),
        "-l",
        "DEBUG",
        "--log-dir",
        str(elsewhere / "logs"),
        "--config-dir",
        str(elsewhere / "config"),
        "run",
        "simple_flow",
        cwd=my_project,
    )
    assert run.returncode == 0, run.stderr
    assert (elsewhere / "config" / "ferroflow.db").is_file()  # the store lives in --config-dir
    assert (elsewhere / "logs" / "ferroflow.log").is_file()
    assert (elsewhere / "out").is_dir()


# ---------------------------------------------------------------- schedules


def _flows(project: Path, *names: str) -> None:
    for name in names:
        (project / "flows" / f"{name}.json").write_text(
            json.dumps({"name": name, "tasks": [{"id": "say", "command": ["echo", name]}]})
        )


def _schedules(project: Path) -> list[dict[str, object]]:
    listed = ferroflow("--json-logs", "schedule", "list", cwd=project)
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


def test_the_scheduling_examples(my_project: Path) -> None:
    _flows(
        my_project,
        "data_sync_flow",
        "nightly_report_flow",
        "weekly_summary_flow",
        "monthly_report_flow",
        "monitoring_flow",
        "business_hours_flow",
    )
    commands = [
        ["data_sync_flow", "--interval", "hourly"],
        ["nightly_report_flow", "--interval", "daily", "--at", "03:00"],
        ["weekly_summary_flow", "--interval", "weekly", "--at", "09:00"],
        ["monthly_report_flow", "--interval", "monthly"],
        ["monitoring_flow", "--cron", "*/15 * * * *"],
        [
            "business_hours_flow",
            "--cron",
            "0 9-17 * * 1-5",
            "--description",
            "Every hour during business hours, weekdays only",
        ],
    ]
    for args in commands:
        added = ferroflow("schedule", "add", *args, cwd=my_project)
        assert added.returncode == 0, added.stderr
    rows = {row["target"]: row for row in _schedules(my_project)}
    assert {name: rows[name]["cron"] for name in rows} == {
        "data_sync_flow": "0 * * * *",
        "nightly_report_flow": "0 3 * * *",
        "weekly_summary_flow": "0 9 * * 0",  # "weekly on Sunday at 9:00 AM"
        "monthly_report_flow": "0 0 1 * *",
        "monitoring_flow": "*/15 * * * *",
        "business_hours_flow": "0 9-17 * * 1-5",
    }
    weekly = datetime.fromisoformat(str(rows["weekly_summary_flow"]["next_run"]))
    assert weekly.strftime("%A %H:%M") == "Sunday 09:00"
    assert rows["business_hours_flow"]["description"] == "Every hour during business hours, weekdays only"

    removed = ferroflow("schedule", "remove", "monitoring_flow", cwd=my_project)
    assert removed.returncode == 0 and "removed schedule" in removed.stdout
    assert "monitoring_flow" not in {row["target"] for row in _schedules(my_project)}


def test_a_disabled_schedule_and_periods_shorter_than_an_hour(my_project: Path) -> None:
    _flows(my_project, "quick")
    for period, seconds in (("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400)):
        added = ferroflow("schedule", "add", "quick", "--interval", period, "--disabled", cwd=my_project)
        assert added.returncode == 0, added.stderr
        row = _schedules(my_project)[-1]
        assert row["every_seconds"] == seconds and row["cron"] is None and row["enabled"] is False
        assert row["schedule"] == f"every {period}"
    twice = ferroflow("schedule", "add", "quick", "--interval", "5m", cwd=my_project)
    assert twice.returncode == 2 and "already runs quick every 5m" in twice.stderr
    bad = ferroflow("schedule", "add", "quick", "--interval", "0s", cwd=my_project)
    assert bad.returncode == 2 and "at least 1s" in bad.stderr
    unknown = ferroflow("schedule", "add", "quick", "--interval", "fortnightly", cwd=my_project)
    assert unknown.returncode == 2 and "30s, 5m, 2h or 1d" in unknown.stderr


def test_a_period_anchored_at_its_at_time(my_project: Path) -> None:
    _flows(my_project, "quick")
    added = ferroflow("schedule", "add", "quick", "--interval", "2h", "--at", "09:15", "--tz", "UTC", cwd=my_project)
    assert added.returncode == 0, added.stderr
    nxt = ferroflow("--json-logs", "schedule", "next", "quick", "-n", "3", cwd=my_project)
    times = [datetime.fromisoformat(t) for t in json.loads(nxt.stdout)["times"]]
    assert {(t.hour % 2, t.minute) for t in times} == {(1, 15)}  # 09:15 + k * 2h
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [7200, 7200]


@pytest.fixture
def stop_daemon_after(my_project: Path) -> Iterator[None]:
    yield
    home = Path(os.environ["FERROFLOW_HOME"])
    info = PidFile(pid_file_path(open_store(home))).holder()  # type: ignore[arg-type]
    if info is not None:
        ferroflow("scheduler", "stop", "--timeout", "20", cwd=my_project)
        if process_alive(info.pid):
            os.kill(info.pid, signal.SIGKILL)


def _runs(schedule_id: str) -> list[tuple[float, str]]:
    db = Path(os.environ["FERROFLOW_HOME"]) / "ferroflow.db"
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT fire_time, status FROM schedule_runs WHERE schedule_id = ? ORDER BY fire_time", (schedule_id,)
        ).fetchall()


def test_the_daemon_fires_a_short_period_on_time_whatever_its_check_interval(
    my_project: Path, stop_daemon_after: None
) -> None:
    _flows(my_project, "quick")
    # A daemon that reads its schedules only every 10 minutes...
    started = ferroflow("scheduler", "start", "--check-interval", "600", "--grace", "1", cwd=my_project)
    assert started.returncode == 0, started.stderr
    # ...is told of a schedule added afterwards, and wakes for each fire time.
    added = ferroflow("--json-logs", "schedule", "add", "quick", "--interval", "2s", cwd=my_project)
    assert added.returncode == 0, added.stderr
    schedule_id = json.loads(added.stdout)["id"]
    wait_until(lambda: len([s for _, s in _runs(schedule_id) if s == "completed"]) >= 2, timeout=60, interval=0.1)
    fires = [t for t, _ in _runs(schedule_id)]
    assert all(round(b - a, 6) % 2 == 0 for a, b in itertools.pairwise(fires))  # anchored: 2 s apart
    status = ferroflow("scheduler", "status", cwd=my_project)
    assert "scheduler running" in status.stdout and "every 2s" in status.stdout


def test_the_python_scheduler_api(my_project: Path, tmp_path: Path, stop_daemon_after: None) -> None:
    _flows(my_project, "sample_flow")
    script = tmp_path / "schedule_it.py"
    script.write_text(
        """
from ferroflow import scheduler

# Get the scheduler instance
scheduler_instance = scheduler.get_scheduler(
    flows_dir="./flows",
    tasks_dir="./tasks",
    output_dir="./output",
    check_interval=60
)

# Start the scheduler
scheduler_instance.start()

# Add a schedule
schedule_manager = scheduler_instance.schedule_manager
schedule_manager.add_schedule(
    "sample_flow",
    "0 * * * *",  # Run hourly
    enabled=True,
    description="Hourly processing"
)
print("running:", scheduler_instance.running)

# Stop the scheduler
scheduler_instance.stop()
print("running:", scheduler_instance.running)
"""
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=my_project, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["running: True", "running: False"]
    rows = _schedules(my_project)
    assert [(r["target"], r["cron"], r["enabled"], r["description"]) for r in rows] == [
        ("sample_flow", "0 * * * *", True, "Hourly processing")
    ]
    import ferroflow.scheduler

    assert ferroflow.scheduler.__all__ == ["get_scheduler"]  # the module holds only this face


def test_ferroflow_own_schedule_api(my_project: Path) -> None:
    from ferroflow import ScheduleManager, SchedulerDaemon

    _flows(my_project, "quick")
    daemon = SchedulerDaemon(check_interval=5)
    manager = daemon.schedule_manager
    assert isinstance(manager, ScheduleManager)
    every = manager.add("quick", interval="5m", description="often")
    cron = manager.add_schedule("quick", "daily at 03:00", tz="UTC")
    assert (every.spec, every.every, cron.cron) == ("every 5m", 300.0, "0 3 * * *")
    assert [s.id for s in manager.list()] == [every.id, cron.id]
    fires = manager.next_fires(every.id, count=2)[every.id]
    assert (fires[1] - fires[0]).total_seconds() == 300
    assert abs(fires[0].timestamp() - (every.created_at + 300)) < 1e-6
    assert [s.enabled for s in manager.disable("quick")] == [False, False]
    assert [s.enabled for s in manager.enable(cron.id)] == [True]
    assert daemon.status().running is False and len(daemon.status().schedules) == 2
    assert {s.id for s in manager.remove("quick")} == {every.id, cron.id}
    assert manager.list() == []
