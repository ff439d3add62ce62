"""Files written before the package layout (``tests/store/data/store_before_layout``) still open.

The fixture was written by ``make_fixture.py`` beside it, with the modules at their old
paths; its pickled results name ``ferroflow.results``, ``ferroflow.reports``,
``ferroflow.store`` and ``ferroflow.retries``.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import ferroflow
import pytest
from ferroflow import RetryPolicy, StateManager, TaskStatus
from ferroflow.reports import PipelineReport
from ferroflow.store import DEFAULT_STORE, open_store

DATA = Path(__file__).parent / "data" / "store_before_layout"


@pytest.fixture
def old_dir(tmp_path: Path) -> Path:
    for name in ("ferroflow.db", "state.db"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


def test_a_store_written_before_the_layout_opens_and_its_results_load(old_dir: Path) -> None:
    store = open_store(old_dir / "ferroflow.db")
    assert store is not None
    runs = store.list_runs()
    assert [(r.workflow, r.status) for r in runs] == [("fixture", "completed")]
    detail = store.get_run(runs[0].run_id)
    assert sorted(t.name for t in detail.tasks) == ["cached", "numbers", "report", "total"]
    assert all(t.status == "completed" for t in detail.tasks)
    assert store.load_result(runs[0].run_id, "numbers") == [1, 2, 3]
    assert store.load_result(runs[0].run_id, "cached") == 3
    report = store.load_result(runs[0].run_id, "report")
    assert isinstance(report, PipelineReport)
    assert report.stage == "fixture" and report.metadata == {"k": 1}
    # ``ferroflow.retries`` is one of the deprecated paths: it still resolves, and says so
    # (once per process: forget an earlier import of it).
    sys.modules.pop("ferroflow.retries", None)
    vars(ferroflow).pop("retries", None)
    with pytest.warns(
        DeprecationWarning, match=r"ferroflow\.retries is deprecated: import from ferroflow\.engine\.retries"
    ):
        total = store.load_result(runs[0].run_id, "total")
    assert total["sum"] == 6
    assert total["status"] is TaskStatus.COMPLETED
    assert isinstance(total["policy"], RetryPolicy)
    assert total["default"] is DEFAULT_STORE


def test_the_cache_of_an_old_store_still_answers(old_dir: Path) -> None:
    with sqlite3.connect(old_dir / "ferroflow.db") as conn:
        keys = [k for (k,) in conn.execute("SELECT key FROM cache WHERE task_name = 'cached'")]
    assert len(keys) == 1
    store = open_store(old_dir / "ferroflow.db")
    assert store is not None
    assert store.cache_get(keys[0]) == (True, 3)


def test_an_old_state_file_still_reads(old_dir: Path) -> None:
    state = StateManager(old_dir / "state.db")
    assert state.get("answer") == {"v": 42, "status": TaskStatus.FAILED}
    assert state.get_metadata("answer") == {"from": "fixture"}
