"""Resume: completed tasks of an earlier run are not run again, even after ``kill -9``."""

from __future__ import annotations

import importlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from ferroflow import StoreError
from ferroflow.store.store import open_store

from ..conftest import wait_until

WORKFLOW_MODULE = """
    import os, threading
    from pathlib import Path
    from ferroflow import Workflow, task

    MARKS = Path(os.environ["FF_TEST_MARKS"])
    RELEASE = Path(os.environ["FF_TEST_RELEASE"])

    def mark(name):
        with MARKS.open("a") as fh:
            fh.write(name + "\\n")

    def wait_for_release():
        # Blocks until the test lets it go (never, in the run that gets killed).
        while not RELEASE.exists():
            threading.Event().wait(0.02)

    @task
    def a():
        mark("a")
        return 1

    @task
    def b(a):
        mark("b")
        return a + 1

    @task
    def side(a):
        mark("side")
        return {"rows": [a, a]}

    @task
    def c(b):
        mark("c")
        wait_for_release()
        return b * 10

    @task
    def d(c, side):
        mark("d")
        return c + len(side["rows"])

    wf = Workflow("resumable")
    for t, deps in ((a, []), (b, ["a"]), (side, ["a"]), (c, ["b"]), (d, ["c", "side"])):
        wf.add_task(t, depends_on=deps)
"""


@pytest.fixture
def wfmod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A workflow module importable by this process and by a child process."""
    name = f"resumable_{os.getpid()}_{tmp_path.name}".replace("-", "_")
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(WORKFLOW_MODULE))
    monkeypatch.setenv("FF_TEST_MARKS", str(tmp_path / "marks.txt"))
    monkeypatch.setenv("FF_TEST_RELEASE", str(tmp_path / "release"))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    yield module
    sys.modules.pop(name, None)


def _marks(tmp_path: Path) -> list[str]:
    path = tmp_path / "marks.txt"
    return path.read_text().split() if path.exists() else []


def _completed(db: Path) -> set[str]:
    if not db.exists():
        return set()
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT name FROM tasks WHERE status = 'completed'").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return set()
    finally:
        conn.close()
    return {r[0] for r in rows}


@pytest.mark.parametrize("executor", ["sequential", "thread"])
def test_resume_after_kill_9_reruns_only_what_had_not_completed(
    wfmod: ModuleType, tmp_path: Path, executor: str
) -> None:
    db = tmp_path / "store" / "ferroflow.db"
    code = f"import {wfmod.__name__} as m; m.wf.run(store={str(db)!r}, executor={executor!r})"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        # a, b and side complete; c is stuck. Kill once their results are committed.
        wait_until(lambda: _completed(db) >= {"a", "b", "side"} and "c" in _marks(tmp_path), timeout=60)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        assert child.stderr is not None
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert sorted(_marks(tmp_path)) == ["a", "b", "c", "side"]

    store = open_store(db)
    assert store is not None
    killed_id = store.last_run_id("resumable")
    assert killed_id is not None and store.get_run(killed_id).run.status == "interrupted"

    (tmp_path / "release").touch()
    result = wfmod.wf.run(store=db, resume=True, executor=executor)
    assert dict(result) == {"a": 1, "b": 2, "side": {"rows": [1, 1]}, "c": 20, "d": 22}
    assert sorted(_marks(tmp_path)) == ["a", "b", "c", "c", "d", "side"]  # a, b, side ran once in all
    assert {n for n, r in result.records.items() if r.resumed} == {"a", "b", "side"}

    detail = store.get_run(result.run_id)
    assert detail.run.resumed_from == killed_id and detail.run.status == "completed"
    assert {t.name: (t.status, t.resumed) for t in detail.tasks} == {
        "a": ("completed", True),
        "b": ("completed", True),
        "side": ("completed", True),
        "c": ("completed", False),
        "d": ("completed", False),
    }
    report = store.get_report(result.run_id)
    assert report is not None and report.steps[0].metadata["resumed"] is True


def test_resume_by_id_of_a_failed_run(wfmod: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "release").touch()
    calls: list[int] = []
    boom = {"on": True}

    from ferroflow import Workflow, task

    @task
    def first() -> int:
        calls.append(1)
        return 5

    @task
    def second(first: int) -> int:
        if boom["on"]:
            raise RuntimeError("flaky")
        return first * 2

    wf = Workflow("flaky")
    wf.add_task(first)
    wf.add_task(second, depends_on=["first"])
    failed = wf.run(raise_on_failure=False)
    assert failed.status == "failed" and calls == [1]
    boom["on"] = False
    result = wf.run(resume=failed.run_id)
    assert dict(result) == {"first": 5, "second": 10} and calls == [1]
    with pytest.raises(StoreError, match="belongs to workflow 'flaky', not 'resumable'"):
        wfmod.wf.run(resume=failed.run_id)
    with pytest.raises(StoreError, match="no run 'does-not-exist'"):
        wf.run(resume="does-not-exist")


def test_resume_with_other_params_warns_and_names_them(caplog: pytest.LogCaptureFixture) -> None:
    from ferroflow import Task, Workflow

    state = {"fail": True}

    def scaled(factor: int) -> int:
        return factor * 10

    def check(scaled: int) -> int:
        if state["fail"]:
            raise RuntimeError("not yet")
        return scaled

    wf = Workflow("params-change")
    wf.add_task(Task(fn=scaled, name="scaled"))
    wf.add_task(Task(fn=check, name="check"))
    failed = wf.run(params={"factor": 1, "day": "mon"}, raise_on_failure=False)
    state["fail"] = False
    with caplog.at_level("WARNING", logger="ferroflow"):
        same = wf.run(params={"factor": 1, "day": "mon"}, resume=failed.run_id)
    assert same["check"] == 10 and "parameters differ" not in caplog.text
    with caplog.at_level("WARNING", logger="ferroflow"):
        result = wf.run(params={"factor": 2, "day": "mon"}, resume=failed.run_id)
    assert result["check"] == 10  # reused as it was: the warning says so
    assert f"resumes run {failed.run_id}, whose parameters differ (factor)" in caplog.text


def test_store_level_kill_9_during_heavy_recording_keeps_a_consistent_prefix(tmp_path: Path) -> None:
    code = """
        import sys
        import time
        from ferroflow.store.store import open_store
        from ferroflow.results import TaskRecord, TaskStatus
        store = open_store(sys.argv[1])
        rec = store.begin_run(run_id="heavy", workflow="heavy", params={}, task_names=[])
        i = 0
        while True:  # until killed
            rec.task_started(f"t{i}", 0.0)
            rec.task_finished(TaskRecord(f"t{i}", TaskStatus.COMPLETED, attempts=1, result=i * i))
            i += 1
            if i % 200 == 0:
                time.sleep(0.0005)  # still ~100k records/s, but the writer thread gets the GIL on a busy machine
    """
    db = tmp_path / "heavy.db"

    def committed() -> int:
        if not db.exists():
            return 0
        conn = sqlite3.connect(db)
        try:
            return int(conn.execute("SELECT count(*) FROM tasks WHERE status = 'completed'").fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()

    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(db)])
    try:
        wait_until(lambda: committed() >= 2000, timeout=60)
    finally:
        child.kill()
        child.wait(timeout=30)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    store = open_store(db)
    assert store is not None
    run_id, results = store.resume_results(True, "heavy")
    assert run_id == "heavy" and len(results) >= 2000
    assert all(results[f"t{i}"] == i * i for i in range(len(results)))  # a prefix, nothing torn
