"""A task that finished well before a ``kill -9`` is in the store and does not run again on resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ferroflow.store import Store

_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from ferroflow import Task, Workflow

    store, marks, block, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] or None

    def first() -> None:
        with open(marks, "a") as fh:
            fh.write(f"first {os.getpid()}\\n")

    def slow() -> None:
        deadline = time.monotonic() + 120
        while block and time.monotonic() < deadline:
            time.sleep(0.01)

    wf = Workflow("kill9")
    wf.add_task(Task(fn=first, name="first"))
    wf.add_task(Task(fn=slow, name="slow"))
    wf.run(executor="thread", max_workers=2, store=store, resume=resume)
    """
)


def _run(tmp_path: Path, block: bool, resume: str = "") -> subprocess.Popen[bytes]:
    script = tmp_path / "flow.py"
    script.write_text(_SCRIPT)
    args = [sys.executable, str(script), str(tmp_path / "ferroflow.db"), str(tmp_path / "marks"), "1" if block else "0"]
    return subprocess.Popen([*args, resume])


def test_task_finished_50ms_before_kill9_is_not_rerun(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    proc = _run(tmp_path, block=True)
    deadline = time.monotonic() + 60
    while not (marks.exists() and marks.read_text()) and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before its first task finished"
        time.sleep(0.002)
    assert marks.read_text(), "the first task never finished"
    time.sleep(0.05)  # the task finished 50 ms before the kill: its completion must be committed by now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    store = Store(tmp_path / "ferroflow.db")
    run = store.list_runs()[0]
    assert run.status == "interrupted"
    assert store.get_run(run.run_id).task("first").status == "completed"
    store.close()

    resumed = _run(tmp_path, block=False, resume=run.run_id)
    assert resumed.wait(timeout=120) == 0
    assert marks.read_text().count("first") == 1, "the first task ran again on resume"
