"""A run's process is named by host, pid and start time: a pid handed to another process does not keep it running."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from ferroflow.store.store import Store

from tests.conftest import ferroflow, wait_until


def _flow(tmp_path: Path, flag: Path) -> None:
    (tmp_path / "flows").mkdir()
    wait_for_flag = f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.01)"
    (tmp_path / "flows" / "reuse.json").write_text(
        json.dumps(
            {
                "tasks": [
                    {"id": "one", "command": [sys.executable, "-c", "print(1)"]},
                    {"id": "two", "command": [sys.executable, "-c", wait_for_flag], "depends_on": ["one"]},
                ]
            }
        )
    )


def _statuses(store_file: Path) -> dict[str, str]:
    store = Store(store_file)
    try:
        runs = store.list_runs()
        return {t.name: t.status for t in store.get_run(runs[0].run_id).tasks} if runs else {}
    finally:
        store.close()


def test_a_dead_run_whose_pid_now_belongs_to_another_process_is_interrupted_and_resumable(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    _flow(tmp_path, flag)
    store_file = Path(os.environ["FERROFLOW_HOME"]) / "ferroflow.db"
    run = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "run", "reuse"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    other: subprocess.Popen[bytes] | None = None
    try:
        wait_until(
            lambda: store_file.exists() and _statuses(store_file).get("one") == "completed",
            timeout=60,
            interval=0.05,
        )
        os.killpg(run.pid, signal.SIGKILL)  # the run and its script: nothing is left to finish it
        run.wait(30)
        # The kernel hands the dead run's pid to a new process: here, the row is pointed at one.
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        with sqlite3.connect(store_file) as conn:
            conn.execute("UPDATE runs SET pid = ?", (other.pid,))
        conn.close()

        listed = [json.loads(line) for line in ferroflow("--json-logs", "runs", cwd=tmp_path).stdout.splitlines()]
        assert [(r["workflow"], r["status"]) for r in listed] == [("reuse", "interrupted")]

        flag.touch()
        resumed = ferroflow("run", "reuse", "--resume-last", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "1 resumed" in resumed.stdout
    finally:
        if other is not None:
            other.kill()
            other.wait()
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
