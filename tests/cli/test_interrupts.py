"""Ctrl+C with a running Python task: the first stops starting tasks, the second exits 130 at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ferroflow.processes import process_alive
from ferroflow.store.store import open_store

from tests.conftest import wait_until

WORKFLOW = """
import os
import time
from pathlib import Path
from ferroflow import Workflow, task

wf = Workflow("sleepy")

@task
def slow():
    Path("started.tmp").write_text(str(os.getpid()))
    os.replace("started.tmp", "started")
    time.sleep(30)
    return 1

@task
def after(slow):
    return slow + 1

wf.add_task(slow)
wf.add_task(after, depends_on=[slow])
"""


@pytest.mark.parametrize("executor", ["thread", "process", "async"])
def test_a_second_ctrl_c_abandons_a_running_task_and_exits_130(tmp_path: Path, executor: str) -> None:
    (tmp_path / "sleepy.py").write_text(WORKFLOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "run", "sleepy.py", "--executor", executor],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        wait_until(lambda: (tmp_path / "started").exists(), timeout=30)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)  # not a synchronisation: the first interrupt must not end the run by itself
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        code = proc.wait(timeout=10)
        _, err = proc.communicate(timeout=10)
        assert code == 130, err
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    # The process that ran the task (a process-executor worker, or the CLI itself) is gone.
    runner = int((tmp_path / "started").read_text())
    wait_until(lambda: not process_alive(runner), timeout=10)
    assert "no new task starts" in err and "Ctrl+C again" in err
    assert "recorded as cancelled" in err
    store = open_store(Path(os.environ["FERROFLOW_HOME"]))
    assert store is not None
    (run,) = store.list_runs()
    assert run.status == "cancelled"
    statuses = {t.name: t.status for t in store.get_run(run.run_id).tasks}
    assert statuses == {"slow": "cancelled", "after": "cancelled"}
    # Resumable: the next run resumes it.
    assert store.resume_results(True, "sleepy")[0] == run.run_id
