"""A store that cannot be written is still read by the read-only commands, and nothing is left beside it.

The commands run as real processes without the permission override root has, so
permission bits hold for them even when the tests run as root.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow.results import RunResult, TaskRecord, TaskStatus
from ferroflow.store.store import Store

from .test_store import _without_permission_override


def _as_user(*args: str, home: Path, cwd: Path, code: str | None = None) -> subprocess.CompletedProcess[str]:
    command = (
        [sys.executable, "-c", textwrap.dedent(code), *args] if code else [sys.executable, "-m", "ferroflow", *args]
    )
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "FERROFLOW_HOME": str(home)},
        preexec_fn=_without_permission_override if os.geteuid() == 0 else None,
        check=False,
    )


def _record_run(home: Path, run_id: str = "r1") -> None:
    store = Store(home / "ferroflow.db")
    rec = store.begin_run(run_id=run_id, workflow="wf", params={}, task_names=["a"])
    rec.task_finished(TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=42))
    rec.finish(RunResult(run_id, "wf", {"a": 42}, status="completed", stats={"completed": 1}))
    store.close()


def _listing(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir())


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    yield home
    home.chmod(0o755)
    for p in home.iterdir():
        p.chmod(0o644)


def _runs(home: Path, cwd: Path) -> list[tuple[str, str]]:
    shown = _as_user("--json-logs", "runs", home=home, cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    return [(r["run_id"], r["status"]) for r in map(json.loads, shown.stdout.splitlines())]


def test_runs_and_reports_read_a_store_in_a_read_only_folder(tmp_path: Path, home: Path) -> None:
    _record_run(home)
    assert _listing(home) == ["ferroflow.db"]
    home.chmod(0o555)
    assert _runs(home, tmp_path) == [("r1", "completed")]
    one = _as_user("runs", "r1", home=home, cwd=tmp_path)
    assert one.returncode == 0 and "a" in one.stdout and "completed" in one.stdout, one.stderr
    report = _as_user("report", "show", "r1", home=home, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert _listing(home) == ["ferroflow.db"]


def test_a_read_only_store_file_is_read_and_nothing_is_left_beside_it(tmp_path: Path, home: Path) -> None:
    _record_run(home)
    (home / "ferroflow.db").chmod(0o444)
    assert _runs(home, tmp_path) == [("r1", "completed")]
    assert _listing(home) == ["ferroflow.db"]
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "one.json").write_text(json.dumps({"tasks": [{"id": "a", "command": ["true"]}]}))
    run = _as_user("run", "one", home=home, cwd=tmp_path)
    assert run.returncode == 2 and "read-only" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert _listing(home) == ["ferroflow.db"]


_KILLED_WRITER = """
    import os, sys
    from ferroflow.results import RunResult, TaskRecord, TaskStatus
    from ferroflow.store.store import Store
    store = Store(sys.argv[1])
    rec = store.begin_run(run_id="in-the-log", workflow="wf", params={}, task_names=["a"])
    rec.task_finished(TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=1))
    rec.finish(RunResult("in-the-log", "wf", {"a": 1}, status="completed", stats={}))
    os.kill(os.getpid(), 9)  # its run is committed to the write-ahead log, not yet to the file
"""


def _kill_a_writer(home: Path) -> None:
    code = textwrap.dedent(_KILLED_WRITER)
    killed = subprocess.run([sys.executable, "-c", code, str(home / "ferroflow.db")], check=False, timeout=60)
    assert killed.returncode == -signal.SIGKILL


def test_a_read_only_folder_with_a_write_ahead_log_is_read_through_its_shm(tmp_path: Path, home: Path) -> None:
    _record_run(home)
    _kill_a_writer(home)
    assert _listing(home) == ["ferroflow.db", "ferroflow.db-shm", "ferroflow.db-wal"]
    home.chmod(0o555)
    assert _runs(home, tmp_path) == [("in-the-log", "completed"), ("r1", "completed")]


def test_a_write_ahead_log_without_its_shm_in_a_read_only_folder_is_explained(tmp_path: Path, home: Path) -> None:
    _record_run(home)
    _kill_a_writer(home)
    (home / "ferroflow.db-shm").unlink()
    home.chmod(0o555)
    shown = _as_user("runs", home=home, cwd=tmp_path)
    assert shown.returncode == 2 and "Traceback" not in shown.stderr, shown.stderr
    message = " ".join(shown.stderr.split())
    assert "ferroflow.db-wal holds data" in message and "no ferroflow.db-shm" in message
    assert "read-only" in message and "--home" in message
    assert _listing(home) == ["ferroflow.db", "ferroflow.db-wal"]


def test_a_store_opened_read_only_refuses_writes(tmp_path: Path, home: Path) -> None:
    _record_run(home)
    home.chmod(0o555)
    code = """
        import sys
        from ferroflow.errors import StoreError
        from ferroflow.store.store import open_store
        store = open_store(sys.argv[1], readonly=True)
        print(store.readonly, [r.run_id for r in store.list_runs()])
        try:
            store.delete_run("r1")
        except StoreError as exc:
            print("StoreError:", exc)
    """
    shown = _as_user(str(home), home=home, cwd=tmp_path, code=code)
    assert shown.stdout.splitlines()[0] == "True ['r1']", shown.stderr
    assert "opened read-only" in shown.stdout.splitlines()[1]
    assert _listing(home) == ["ferroflow.db"]
