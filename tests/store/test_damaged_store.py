"""A damaged store file takes no more writes; what is intact can still be read.

The integrity check runs when a writer did not close the store (its row in
``store_writers`` outlives its process), not on every open.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ferroflow.errors import StoreError
from ferroflow.results import RunResult
from ferroflow.store.store import Store

from tests.conftest import ferroflow

_RUNS = 60


def _fill(path: Path) -> None:
    """Runs whose params are big enough that each lands on its own pages."""
    store = Store(path)
    for i in range(_RUNS):
        rec = store.begin_run(
            run_id=f"r{i:03d}", workflow="wf", params={"pad": f"MARK-{i:03d}-" + "x" * 3000}, task_names=[]
        )
        rec.finish(RunResult(f"r{i:03d}", "wf", {}, status="completed", stats={}))
    store.close()


def _damage_page_of(path: Path, marker: str) -> None:
    """Random bytes over the page of the main file that holds ``marker``."""
    data = path.read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    offset = data.index(marker.encode())
    page = offset // page_size
    with path.open("r+b") as fh:
        fh.seek(page * page_size)
        fh.write(os.urandom(page_size))


def _kill_a_writer(path: Path) -> None:
    code = """
        import os, sys
        from ferroflow.results import RunResult
        from ferroflow.store.store import Store
        store = Store(sys.argv[1])
        store.begin_run(run_id="late", workflow="wf", params={}, task_names=[]).finish(
            RunResult("late", "wf", {}, status="completed", stats={})
        )
        os.kill(os.getpid(), 9)
    """
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(path)], check=False, timeout=60)
    assert killed.returncode == -signal.SIGKILL


def test_after_a_killed_writer_a_damaged_store_refuses_writes_and_reads_what_is_intact(tmp_path: Path) -> None:
    path = tmp_path / "ferroflow.db"
    _fill(path)
    _kill_a_writer(path)
    _damage_page_of(path, "MARK-030-")

    store = Store(path)
    assert store.damaged is not None and "integrity check" in store.damaged
    with pytest.raises(StoreError) as refused:
        store.begin_run(run_id="new", workflow="wf", params={}, task_names=[])
    message = str(refused.value)
    assert f"store {path} is damaged" in message and "does not write into it" in message
    assert f"mv {path}*" in message and "--home" in message
    assert store.get_run_summary("r005").status == "completed"  # an intact run still reads
    assert store.get_run_summary("late").status == "completed"
    with pytest.raises(StoreError, match="malformed"):
        store.get_run_summary("r030")
    store.close()

    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    (project / "flows" / "one.json").write_text(json.dumps({"tasks": [{"id": "a", "command": ["true"]}]}))
    run = ferroflow("--home", str(tmp_path), "run", "one", cwd=project)
    assert run.returncode == 2 and "is damaged" in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_a_clean_close_skips_the_check_and_a_malformed_read_still_stops_writes(tmp_path: Path) -> None:
    path = tmp_path / "ferroflow.db"
    _fill(path)
    _damage_page_of(path, "MARK-030-")
    store = Store(path)
    assert store.damaged is None  # every writer closed cleanly: no integrity check at open
    store.begin_run(run_id="before", workflow="wf", params={}, task_names=[]).abandon()
    with pytest.raises(StoreError, match="malformed"):
        store.get_run_summary("r030")
    assert store.damaged is not None  # SQLite said the file is malformed: no more writes
    with pytest.raises(StoreError, match="is damaged"):
        store.begin_run(run_id="after", workflow="wf", params={}, task_names=[])
    assert store.get_run_summary("r005").status == "completed"
    store.close()


def test_an_intact_store_after_a_killed_writer_is_checked_once_and_takes_writes(tmp_path: Path) -> None:
    path = tmp_path / "ferroflow.db"
    _fill(path)
    _kill_a_writer(path)
    store = Store(path)
    assert store.damaged is None
    with store.read() as conn:
        assert conn.execute("SELECT count(*) FROM store_writers").fetchone()[0] == 1  # the dead one is gone; we wrote
    store.begin_run(run_id="next", workflow="wf", params={}, task_names=[]).abandon()
    store.close()
    with Store(path).read() as conn:
        assert conn.execute("SELECT count(*) FROM store_writers").fetchone()[0] == 0
