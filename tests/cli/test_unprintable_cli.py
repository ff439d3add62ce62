"""``ferroflow run`` on tasks whose errors and results have a ``__str__`` / ``__repr__`` that raises."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.cli.conftest import ferroflow

TARGET = textwrap.dedent(
    """
    from ferroflow import Task, Workflow


    class Unprintable(Exception):
        def __str__(self):
            raise ValueError("__str__ is broken")

        __repr__ = __str__


    class Opaque:
        def __str__(self):
            raise ValueError("__str__ is broken")

        __repr__ = __str__


    def boom():
        raise Unprintable()


    def make():
        return Opaque()


    wf = Workflow("unprintable")
    wf.add_task(Task(fn=boom, name="boom"))
    wf.add_task(Task(fn=make, name="make"))
    """
)


@pytest.mark.parametrize("executor", ["sequential", "thread", "process", "async"])
def test_the_cli_reports_the_failure_without_a_traceback(executor: str, tmp_path: Path) -> None:
    (tmp_path / "unprintable_target.py").write_text(TARGET)
    done = ferroflow("run", "unprintable_target.py", "--executor", executor, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr, done.stderr
    assert "boom: <unprintable Unprintable object>" in done.stdout
    listed = ferroflow("--json-logs", "runs", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    run = json.loads(listed.stdout.splitlines()[0])
    assert run["status"] == "failed"
    shown = ferroflow("runs", run["run_id"], cwd=tmp_path)
    assert shown.returncode == 0 and "Unprintable: <unprintable Unprintable object>" in shown.stdout, shown.stderr
    report = ferroflow("report", "show", run["run_id"], cwd=tmp_path)
    assert report.returncode == 0 and "<unprintable Unprintable object>" in report.stdout, report.stderr


def test_json_lines_carry_the_placeholder(tmp_path: Path) -> None:
    (tmp_path / "unprintable_target.py").write_text(TARGET)
    done = ferroflow("--json-logs", "run", "unprintable_target.py", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    finished = next(e for e in events if e["event"] == "run_finished")
    assert finished["status"] == "failed"
    assert finished["errors"] == {"boom": "<unprintable Unprintable object>"}
    task = next(e for e in events if e["event"] == "task" and e["task"] == "boom")
    assert task["error"] == "<unprintable Unprintable object>"
