"""kill -9 of `ferroflow run`: its scripts die with it, and `resume` stops what was left and cleans up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ferroflow.processes import process_alive

from tests.conftest import ferroflow, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")

# The task writes its pid and TMP_DIR, starts a grandchild in a session of its own that
# ignores SIGTERM (the parent-death signal does not reach it), and sleeps. Run again (the
# "again" marker exists), it finishes at once.
SCRIPT = """
import os, subprocess, sys, time
here = sys.argv[1]
if os.path.exists(os.path.join(here, "again")):
    raise SystemExit(0)
grandchild = subprocess.Popen([sys.executable, "-c",
    "import os, signal, time; os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
for name, value in (("grandchild", grandchild.pid), ("tmp", os.environ["TMP_DIR"]), ("child", os.getpid())):
    with open(os.path.join(here, name + ".tmp"), "w") as fh:
        fh.write(str(value))
    os.replace(os.path.join(here, name + ".tmp"), os.path.join(here, name))
time.sleep(60)
"""


def _project(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "long.py").write_text(SCRIPT)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "long.json").write_text(
        json.dumps({"tasks": [{"id": "long", "script": "long.py", "args": [str(tmp_path)]}]})
    )


def test_kill_9_of_the_run_kills_its_scripts_and_resume_stops_the_rest(tmp_path: Path) -> None:
    _project(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "run", "long"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    grandchild = 0
    try:
        wait_until(lambda: (tmp_path / "child").exists(), timeout=30)
        child = int((tmp_path / "child").read_text())
        grandchild = int((tmp_path / "grandchild").read_text())
        tmp_dir = Path((tmp_path / "tmp").read_text())
        assert tmp_dir.is_dir()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # The script does not outlive the killed run (its parent-death signal).
        wait_until(lambda: not process_alive(child), timeout=10)
        assert process_alive(grandchild)  # escaped: only resume can find it now

        (tmp_path / "again").write_text("")
        done = ferroflow("run", "long", "--resume-last", cwd=tmp_path, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "stopped 1 process(es) the killed run left running" in done.stderr
        assert not process_alive(grandchild)
        assert not tmp_dir.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if grandchild and process_alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)


WORKFLOW = """
import os, time
from pathlib import Path
from ferroflow import Workflow, task

wf = Workflow("sleepy")

@task
def slow():
    Path("worker.tmp").write_text(str(os.getpid()))
    os.replace("worker.tmp", "worker")
    time.sleep(60)

wf.add_task(slow)
"""


def test_kill_9_of_the_run_kills_its_process_workers(tmp_path: Path) -> None:
    (tmp_path / "sleepy.py").write_text(WORKFLOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "run", "sleepy.py", "--executor", "process"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    worker = 0
    try:
        wait_until(lambda: (tmp_path / "worker").exists(), timeout=30)
        worker = int((tmp_path / "worker").read_text())
        assert worker != proc.pid and process_alive(worker)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: not process_alive(worker), timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if worker and process_alive(worker):
            os.kill(worker, signal.SIGKILL)
