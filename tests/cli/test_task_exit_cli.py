"""``ferroflow run``: a task calling ``sys.exit(n)`` fails the run with exit code 1, saying so."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.cli.conftest import ferroflow

TARGET = textwrap.dedent(
    """
    import sys
    from ferroflow import Task, Workflow


    def quitter():
        sys.exit(7)


    wf = Workflow("quits")
    wf.add_task(Task(fn=quitter, name="quitter"))
    wf.add_task(Task(fn=lambda: "fine", name="other"))
    """
)


@pytest.mark.parametrize("executor", ["sequential", "thread", "process", "async"])
def test_sys_exit_in_a_task_is_a_failed_task_and_exit_code_1(executor: str, tmp_path: Path) -> None:
    (tmp_path / "quits_target.py").write_text(TARGET)
    done = ferroflow("run", "quits_target.py", "--executor", executor, cwd=tmp_path)
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert "quitter: task 'quitter' called sys.exit(7)" in done.stdout
    assert "1 completed, 1 failed" in done.stdout
    listed = ferroflow("--json-logs", "runs", cwd=tmp_path)
    run = json.loads(listed.stdout.splitlines()[0])
    assert run["status"] == "failed"
