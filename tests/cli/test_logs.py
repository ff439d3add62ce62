"""``ferroflow logs`` and failures in full in ``ferroflow runs``, through the real command."""

from __future__ import annotations

import os
from pathlib import Path

from ferroflow.store.store import open_store

from tests.cli.conftest import ferroflow


def test_logs_prints_script_output_and_unknown_run_exits_2(project: Path) -> None:
    assert ferroflow("run", "daily", cwd=project).returncode == 0
    run_id = open_store(os.environ["FERROFLOW_HOME"]).list_runs()[0].run_id
    one = ferroflow("logs", run_id, "fetch", cwd=project)
    assert one.returncode == 0 and "fetched today" in one.stdout, one.stderr
    every = ferroflow("logs", run_id, cwd=project)
    assert "fetch | fetched today" in every.stdout
    missing = ferroflow("logs", "no-such-run", cwd=project)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    no_task = ferroflow("logs", run_id, "nope", cwd=project)
    assert no_task.returncode == 2 and "nope" in no_task.stderr and "Traceback" not in no_task.stderr


def test_runs_shows_every_attempt_with_its_traceback(project: Path) -> None:
    (project / "wf.py").write_text(
        "from ferroflow import Workflow, task\n"
        "wf = Workflow('flaky')\n"
        "def boom():\n"
        "    raise ValueError('boom here')\n"
        "wf.add_task(task(boom, name='boom', retries=1, delay=0.01))\n"
    )
    assert ferroflow("run", "wf.py", cwd=project).returncode == 1
    run_id = open_store(os.environ["FERROFLOW_HOME"]).list_runs()[0].run_id
    shown = ferroflow("runs", run_id, cwd=project)
    assert "Traceback (most recent call last)" in shown.stdout, shown.stdout + shown.stderr
    assert "raise ValueError('boom here')" in shown.stdout
    assert "attempt 1 failed" in shown.stdout and "attempt 2 failed" in shown.stdout
