"""The run store: location rules, run records, concurrency, migrations and bad input."""

from __future__ import annotations

import ctypes
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from ferroflow import StoreError
from ferroflow.reports.models import PipelineReport, ReportStatus
from ferroflow.results import RunResult, TaskRecord, TaskStatus
from ferroflow.store.schema import MIGRATIONS, SCHEMA_VERSION
from ferroflow.store.sqlite import SQLiteDB
from ferroflow.store.store import DEFAULT_STORE, Store, default_store_path, open_store

from ..conftest import wait_until


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as e:  # noqa: BLE001 - returns it with its traceback set
        return e


def _finish(store: Store, run_id: str, records: list[TaskRecord], status: str = "completed") -> RunResult:
    results = {r.name: r.result for r in records if r.status is TaskStatus.COMPLETED}
    result = RunResult(
        run_id,
        "wf",
        results,
        status=status,
        stats={"total_tasks": len(records)},
        records={r.name: r for r in records},
        params={"n": 1},
        started_at=time.time() - 1,
        finished_at=time.time(),
    )
    rec = store.begin_run(run_id=run_id, workflow="wf", params={"n": 1}, task_names=[r.name for r in records])
    for r in records:
        rec.task_started(r.name, r.started_at or time.time())
        rec.task_finished(r)
    rec.finish(result)
    return result


def _run_child(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ---------------------------------------------------------------- location


def test_default_store_lives_in_ferroflow_home(_isolated_home: Path) -> None:
    store = open_store()
    assert store is not None
    assert store.path == (_isolated_home / "ferroflow.db").resolve()
    assert store.path.exists()
    assert open_store(DEFAULT_STORE) is store


def test_without_ferroflow_home_the_store_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FERROFLOW_HOME")
    assert default_store_path() == tmp_path / ".ferroflow" / "ferroflow.db"
    store = open_store()
    assert store is not None
    assert store.path == (tmp_path / ".ferroflow" / "ferroflow.db").resolve()


def test_store_none_opens_nothing_and_writes_nothing(tmp_path: Path, _isolated_home: Path) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    assert open_store(None) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not _isolated_home.exists()


def test_a_db_path_a_directory_an_existing_file_and_a_store_object(tmp_path: Path) -> None:
    by_file = open_store(tmp_path / "a" / "runs.db")
    assert by_file is not None and by_file.path == (tmp_path / "a" / "runs.db").resolve()
    by_dir = open_store(str(tmp_path / "b"))
    assert by_dir is not None and by_dir.path == (tmp_path / "b" / "ferroflow.db").resolve()
    sqlite3.connect(tmp_path / "plain.sqlite").close()
    by_existing = open_store(tmp_path / "plain.sqlite")
    assert by_existing is not None and by_existing.path.name == "plain.sqlite"
    assert open_store(by_dir) is by_dir
    assert open_store(tmp_path / "b") is by_dir
    with pytest.raises(TypeError, match="store="):
        open_store(42)


def test_an_open_store_whose_file_was_deleted_is_reopened(tmp_path: Path) -> None:
    first = open_store(tmp_path / "x.db")
    assert first is not None
    first.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(first.path) + suffix).unlink(missing_ok=True)
    second = open_store(tmp_path / "x.db")
    assert second is not None and second is not first
    assert second.list_runs() == []


# ---------------------------------------------------------------- records


def test_a_run_is_recorded_in_full(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    t0 = time.time()
    records = [
        TaskRecord("extract", TaskStatus.COMPLETED, attempts=1, started_at=t0, finished_at=t0 + 0.5, result=[1, 2]),
        TaskRecord(
            "load",
            TaskStatus.FAILED,
            attempts=3,
            started_at=t0 + 0.5,
            finished_at=t0 + 0.9,
            error=_raise(ValueError("bad row 7")),
            logs=["INFO ferroflow.task: loading"],
        ),
        TaskRecord("notify", TaskStatus.UPSTREAM_FAILED, reason="upstream 'load' failed"),
        TaskRecord("obj", TaskStatus.COMPLETED, attempts=1, started_at=t0, finished_at=t0 + 0.1, result={1, 2}),
    ]
    result = _finish(store, "run-1", records, status="failed")

    detail = store.get_run("run-1")
    assert detail.run.workflow == "wf"
    assert detail.run.status == "failed"
    assert detail.run.params == {"n": 1}
    assert detail.run.task_count == 4
    assert detail.run.finished_at is not None and detail.run.duration_seconds is not None
    assert detail.run.stats == {"total_tasks": 4}
    assert store.get_run_summary("run-1") == detail.run
    extract = detail.task("extract")
    assert (extract.status, extract.attempts, extract.result_json) == ("completed", 1, "[1, 2]")
    assert extract.duration_seconds == pytest.approx(0.5)
    load = detail.task("load")
    assert load.status == "failed" and load.attempts == 3
    assert load.error == "ValueError: bad row 7"
    assert load.traceback is not None and "ValueError: bad row 7" in load.traceback and "_raise" in load.traceback
    assert load.logs == ["INFO ferroflow.task: loading"]
    assert not load.has_result
    assert detail.task("notify").reason == "upstream 'load' failed"
    assert detail.task("obj").result_json is None  # a set has no JSON view, but is pickled
    assert store.load_result("run-1", "obj") == {1, 2}
    assert store.load_result("run-1", "extract") == [1, 2]
    with pytest.raises(StoreError, match="no stored result for task 'load'"):
        store.load_result("run-1", "load")

    assert isinstance(result.report, PipelineReport)
    report = store.get_report("run-1")
    assert report is not None and report.batch_id == "run-1" and report.status is ReportStatus.FAILED
    assert [s.id for s in report.steps] == ["extract", "load", "notify", "obj"]
    assert store.get_report("nope") is None
    assert [r.run_id for r in store.list_runs()] == ["run-1"]
    assert store.last_run_id("wf", status="failed") == "run-1"
    assert store.last_run_id("wf", status="completed") is None


def test_finished_tasks_are_committed_in_batches_before_the_run_ends(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    rec = store.begin_run(run_id="r", workflow="wf", params={}, task_names=["a", "b"])
    rec.task_started("a", time.time())
    rec.task_finished(TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result="A"))
    rec.task_started("b", time.time())

    other = Store(store.path)  # an independent reader with its own connections, as another process would be

    def seen() -> dict[str, str]:
        return {t.name: t.status for t in other.get_run("r").tasks}

    wait_until(lambda: seen() == {"a": "completed", "b": "running"})
    assert other.get_run("r").run.status == "running"
    rec.finish(RunResult("r", "wf", {"a": "A"}, status="cancelled", stats={}))
    assert seen() == {"a": "completed", "b": "running"}
    assert other.get_run("r").run.status == "cancelled"
    other.close()


def test_finish_writes_records_the_engine_never_queued(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    rec = store.begin_run(run_id="r", workflow="wf", params={}, task_names=["a", "b"])
    records = {
        "a": TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=1),
        "b": TaskRecord("b", TaskStatus.CANCELLED),
    }
    rec.finish(RunResult("r", "wf", {"a": 1}, status="cancelled", stats={}, records=records))
    assert {t.name: t.status for t in store.get_run("r").tasks} == {"a": "completed", "b": "cancelled"}


def test_a_duplicate_run_id_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    store.begin_run(run_id="same", workflow="wf", params={}, task_names=[]).abandon()
    with pytest.raises(StoreError, match="'same' already exists"):
        store.begin_run(run_id="same", workflow="wf", params={}, task_names=[])


def test_run_id_prefixes_resolve_when_unique(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    _finish(store, "abcd1234", [])
    _finish(store, "abcd9999", [])
    assert store.get_run("abcd1").run.run_id == "abcd1234"
    with pytest.raises(StoreError, match="ambiguous"):
        store.get_run("abcd")
    with pytest.raises(StoreError, match="no run 'abc_'"):
        store.get_run("abc_")  # '_' is literal, not a wildcard
    with pytest.raises(StoreError, match="no run 'zzzz'"):
        store.get_run("zzzz")


def test_list_runs_is_newest_first_and_filters_by_workflow(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    for i in range(3):
        rec = store.begin_run(run_id=f"r{i}", workflow="wf" if i != 1 else "other", params={}, task_names=[])
        rec.finish(RunResult(f"r{i}", "wf", {}, status="completed", stats={}))
    assert [r.run_id for r in store.list_runs()] == ["r2", "r1", "r0"]
    assert [r.run_id for r in store.list_runs("wf", limit=1)] == ["r2"]
    assert store.last_run_id() == "r2"
    assert store.delete_run("r1") is True
    assert store.delete_run("r1") is False


def test_a_killed_run_shows_as_interrupted(tmp_path: Path) -> None:
    code = """
        import sys, time
        from ferroflow.store.store import open_store
        from ferroflow.results import TaskRecord, TaskStatus
        store = open_store(sys.argv[1])
        rec = store.begin_run(run_id="dead", workflow="wf", params={}, task_names=["a"])
        rec.task_finished(TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=5))
        rec.flush()
        import os; os.kill(os.getpid(), 9)
    """
    proc = _run_child(code, str(tmp_path))
    assert proc.returncode == -9, proc.stderr
    store = open_store(tmp_path)
    assert store is not None
    assert store.get_run("dead").run.status == "interrupted"
    assert store.last_run_id(status="interrupted") == "dead"


# ---------------------------------------------------------------- concurrency


def test_two_processes_writing_runs_at_once_lose_nothing(tmp_path: Path) -> None:
    code = """
        import sys, time
        from ferroflow.store.store import open_store
        from ferroflow.results import RunResult, TaskRecord, TaskStatus
        store = open_store(sys.argv[1])
        who = sys.argv[2]
        for r in range(15):
            run_id = f"{who}-{r}"
            rec = store.begin_run(run_id=run_id, workflow=who, params={}, task_names=[])
            records = {}
            for t in range(40):
                records[f"t{t}"] = TaskRecord(f"t{t}", TaskStatus.COMPLETED, attempts=1, result=(who, r, t))
                rec.task_finished(records[f"t{t}"])
            store.cache_put(f"{who}-{r}", who, r, ttl_seconds=60)
            rec.finish(RunResult(run_id, who, {}, status="completed", stats={}, records=records))
        print("done")
    """
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(code))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "s.db"), who],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("p1", "p2", "p3")
    ]
    store = open_store(tmp_path / "s.db")
    assert store is not None
    while any(p.poll() is None for p in procs):  # read while they write, as the dashboard does
        store.list_runs(limit=5)
        time.sleep(0.005)
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and out.strip() == "done", err
    runs = store.list_runs(limit=1000)
    assert len(runs) == 45 and all(r.status == "completed" for r in runs)
    with store.read() as conn:
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 45 * 40
        assert conn.execute("SELECT count(*) FROM cache").fetchone()[0] == 45
    assert store.load_result("p2-14", "t39") == ("p2", 14, 39)


def test_a_transaction_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    blocker = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("CREATE TABLE schedules (id TEXT PRIMARY KEY)")
    blocker.execute("INSERT INTO schedules VALUES ('from-the-other-writer')")

    def release() -> None:
        time.sleep(0.3)  # hold the write lock for a while
        blocker.execute("COMMIT")

    other = threading.Thread(target=release)
    other.start()
    with store.transaction() as conn:
        # Only possible once the other writer committed: its row is there.
        assert conn.execute("SELECT id FROM schedules").fetchall() == [("from-the-other-writer",)]
        conn.execute("INSERT INTO schedules VALUES ('s1')")
    other.join()
    with store.read() as conn:
        assert sorted(conn.execute("SELECT id FROM schedules").fetchall()) == [("from-the-other-writer",), ("s1",)]
    blocker.close()


def test_a_transaction_rolls_back_when_its_body_raises(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    with store.transaction() as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO notes VALUES (1)")
        raise RuntimeError("boom")
    with store.read() as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


def test_the_store_is_wal_with_full_sync(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    with store.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


# ---------------------------------------------------------------- schema


def test_a_store_from_schema_version_1_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO runs (run_id, workflow, status, params, started_at, finished_at, task_count)"
        " VALUES ('old', 'wf', 'failed', '{\"x\": 1}', 100.0, 101.0, 1)"
    )
    conn.execute(
        "INSERT INTO tasks (run_id, name, status, attempts, has_result, result) VALUES ('old', 'a', 'completed', 1, 1, ?)",
        (__import__("pickle").dumps(41),),
    )
    conn.close()

    store = open_store(path)
    assert store is not None
    assert store.schema_version == SCHEMA_VERSION == 6
    detail = store.get_run("old")
    assert detail.run.params == {"x": 1} and detail.task("a").logs == []
    assert store.resume_results("old", "wf") == ("old", {"a": 41})
    report = store.get_report("old")  # no stored report in v1: rebuilt from the rows
    assert report is not None and [s.id for s in report.steps] == ["a"]
    _finish(store, "new", [TaskRecord("b", TaskStatus.COMPLETED, attempts=1, result=1, logs=["x"])])
    assert store.get_run("new").task("b").logs == ["x"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process trees are found through /proc")
def test_a_version_4_store_gets_the_run_processes_table_and_reclaims_a_dead_runs_tree(tmp_path: Path) -> None:
    from ferroflow.processes import ProcessTree, process_alive, process_start_time
    from ferroflow.store.leftovers import RunProcess
    from ferroflow.store.records import HOST

    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:4]:
        migration(conn)
    conn.execute("PRAGMA user_version = 4")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)  # the pid of a run whose process is gone
    conn.execute(
        "INSERT INTO runs (run_id, workflow, status, params, started_at, pid, host, task_count)"
        " VALUES ('dead', 'wf', 'running', '{}', 100.0, ?, ?, 1)",
        (dead.pid, HOST),
    )
    conn.close()

    store = open_store(path)
    assert store is not None and store.schema_version == SCHEMA_VERSION
    tree = ProcessTree()
    left = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, **tree.environment},
        start_new_session=True,
    )
    try:
        tmp_dir = Path(tempfile.mkdtemp(prefix="ferroflow-wf-"))
        store.record_process("dead", "t", RunProcess(tree.token, left.pid, process_start_time(left.pid), str(tmp_dir)))
        lines = store.reclaim_run("dead", grace=0.5)
        assert lines == [
            "task 't': stopped 1 process(es) the killed run left running",
            f"removed its TMP_DIR {tmp_dir}",
        ]
        assert left.wait(timeout=10) == -15 and not process_alive(left.pid) and not tmp_dir.exists()
        with store.read() as rows:
            assert rows.execute("SELECT count(*) FROM run_processes").fetchone()[0] == 0
    finally:
        if left.poll() is None:
            left.kill()
            left.wait(timeout=10)


def test_a_store_from_a_newer_version_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"schema version 99, newer"):
        Store(path)
    assert path.read_bytes() == before


# ---------------------------------------------------------------- bad input


def test_a_corrupt_store_file_gives_a_store_error_and_is_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "ferroflow.db"
    path.write_bytes(b"this is not a database at all, just some text\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        open_store(path)
    assert str(path) in str(info.value) and "not a valid SQLite database" in str(info.value)
    assert path.read_bytes() == before


def test_an_sqlite_file_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"something else \(tables: customers\)"):
        open_store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("customers",)]
    conn.close()


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the forked child must not dlopen


def _without_permission_override() -> None:
    """In the child, before exec: drop CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so that even root
    obeys permission bits (a read-only directory is then read-only for the child)."""
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if _LIBC.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_store_in_a_read_only_directory_gives_a_store_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    code = """
        import sys
        from ferroflow.store.store import open_store
        from ferroflow.errors import StoreError
        try:
            open_store(sys.argv[1])
        except StoreError as e:
            print("StoreError:", e)
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code), str(ro / "ferroflow.db")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=_without_permission_override if os.geteuid() == 0 else None,
        )
        assert proc.stdout.startswith("StoreError:"), proc.stdout + proc.stderr
        assert str(ro / "ferroflow.db") in proc.stdout and "writable" in proc.stdout
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_a_full_disk_mid_run_gives_a_store_error_and_keeps_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    assert store is not None
    rec = store.begin_run(run_id="r", workflow="wf", params={}, task_names=["a", "big"])
    rec.task_finished(TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result="kept"))
    rec.flush()
    pages = store._db.query("PRAGMA page_count")[0][0]

    # From now on every new connection sees a database that cannot grow: SQLite reports SQLITE_FULL,
    # exactly as it does when the disk is full.
    connect = SQLiteDB._connect

    def full_connect(self: SQLiteDB) -> sqlite3.Connection:
        conn = connect(self)
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(SQLiteDB, "_connect", full_connect)
    for conn in store._db._all:
        conn.execute(f"PRAGMA max_page_count = {pages}")
    records = {
        "a": TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result="kept"),
        "big": TaskRecord("big", TaskStatus.COMPLETED, attempts=1, result=os.urandom(200_000)),
    }
    rec.task_finished(records["big"])
    with pytest.raises(StoreError) as info:
        rec.finish(RunResult("r", "wf", {}, status="completed", stats={}, records=records))
    assert str(store.path) in str(info.value) and "full" in str(info.value)

    monkeypatch.setattr(SQLiteDB, "_connect", connect)
    store.close()
    check = sqlite3.connect(store.path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert check.execute("SELECT name, status FROM tasks").fetchall() == [("a", "completed")]
    check.close()
    fresh = Store(store.path)
    assert fresh.resume_results("r", "wf") == ("r", {"a": "kept"})


def test_resume_of_an_unknown_or_foreign_run_says_what_and_where(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    with pytest.raises(StoreError, match=rf"no run 'nope' in store {store.path}"):
        store.resume_results("nope", "wf")
    _finish(store, "r1", [TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=1)])
    with pytest.raises(StoreError, match="belongs to workflow 'wf', not 'other'"):
        store.resume_results("r1", "other")
    with pytest.raises(StoreError, match="no failed, cancelled or interrupted run of workflow 'wf'"):
        store.resume_results(True, "wf")


def test_resume_true_picks_the_latest_failed_run_of_the_workflow(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    _finish(store, "f1", [TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result="old")], status="failed")
    _finish(store, "f2", [TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result="new")], status="failed")
    _finish(store, "ok", [TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result="done")])
    assert store.resume_results(True, "wf") == ("f2", {"a": "new"})
    assert store.resume_results("f1", "wf") == ("f1", {"a": "old"})


def test_params_that_are_not_json_are_recorded_as_text(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    rec = store.begin_run(run_id="r", workflow="wf", params={"path": tmp_path, "n": 2}, task_names=[])
    rec.finish(RunResult("r", "wf", {}, status="completed", stats={}))
    assert store.get_run("r").run.params == {"path": str(tmp_path), "n": 2}
    with store.read() as conn:
        assert json.loads(conn.execute("SELECT params FROM runs").fetchone()[0])["n"] == 2


def test_compact_records_of_small_tasks_read_back_like_full_ones(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    names = ["a", "b", "c", "d"]
    rec = store.begin_run(run_id="r", workflow="wf", params={}, task_names=names)
    rec.task_started("d", 5.0)
    rec.task_started("a", 1.0)
    rec.task_completed("a", 1.0, 2.0)  # result None: a compact entry
    rec.flush()
    rec.task_completed("b", 2.0, 3.0, result={"x": 1})  # a result: a full row
    rec.task_finished(TaskRecord("c", TaskStatus.COMPLETED, attempts=1, started_at=3.0, finished_at=4.0))
    rec.flush()
    mid = {t.name: (t.status, t.attempts) for t in store.get_run("r").tasks}
    assert mid == {"a": ("completed", 1), "b": ("completed", 1), "c": ("completed", 1), "d": ("running", 0)}
    rec.task_finished(TaskRecord("d", TaskStatus.FAILED, attempts=2, started_at=5.0, finished_at=6.0))
    rec.finish(RunResult("r", "wf", {}, status="failed", stats={}, started_at=0.5, finished_at=7.0))

    detail = store.get_run("r")
    assert [t.name for t in detail.tasks] == names  # workflow order, whatever the recording order
    a, b, _, d = detail.tasks
    assert (a.started_at, a.finished_at, a.result_json, a.has_result) == (1.0, 2.0, "null", True)
    assert b.result_json == '{"x": 1}' and store.load_result("r", "b") == {"x": 1}
    assert store.load_result("r", "a") is None and store.load_result("r", "c") is None
    assert (d.status, d.attempts) == ("failed", 2)
    assert store.resume_results("r", "wf") == ("r", {"a": None, "b": {"x": 1}, "c": None})
    assert detail.run.started_at == 0.5 and detail.run.finished_at == 7.0


def test_the_report_rebuilt_from_the_store_equals_the_one_the_run_built(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    t0 = 1000.0
    records = [
        TaskRecord("a", TaskStatus.COMPLETED, attempts=1, started_at=t0, finished_at=t0 + 1),
        TaskRecord("b", TaskStatus.COMPLETED, attempts=2, started_at=t0, finished_at=t0 + 2, result=[1]),
        TaskRecord("c", TaskStatus.FAILED, attempts=1, started_at=t0, finished_at=t0 + 3, error=_raise(OSError("x"))),
        TaskRecord("d", TaskStatus.SKIPPED, reason="its `when` condition returned false"),
        TaskRecord("e", TaskStatus.UPSTREAM_FAILED, reason="upstream 'c' failed", logs=["line"]),
    ]
    result = _finish(store, "r", records, status="failed")
    stored = store.get_report("r")
    assert stored is not None
    assert stored.model_dump() == result.report.model_dump()


def test_a_report_edited_before_the_run_ends_is_stored_as_it_is(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    rec = store.begin_run(run_id="r", workflow="wf", params={}, task_names=["a"])
    records = {"a": TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=1)}
    result = RunResult("r", "wf", {"a": 1}, status="completed", stats={}, records=records)
    from ferroflow.store.run_report import build_run_report

    result.report = build_run_report(result).set_progress(message="reviewed by ops")
    rec.finish(result)
    stored = store.get_report("r")
    assert stored is not None and stored.message == "reviewed by ops"


def test_a_failed_batch_is_written_by_a_later_flush_once_space_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    assert store is not None
    rec = store.begin_run(run_id="r", workflow="wf", params={}, task_names=["a", "b"])
    pages = store._db.query("PRAGMA page_count")[0][0]
    for conn in store._db._all:
        conn.execute(f"PRAGMA max_page_count = {pages}")
    rec.task_finished(TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=os.urandom(100_000)))
    rec.task_completed("b", 1.0, 2.0)
    rec.flush()  # fails (logged), keeps the data
    assert store.get_run("r").tasks == []
    for conn in store._db._all:
        conn.execute("PRAGMA max_page_count = 1073741823")
    rec.flush()
    assert {t.name for t in store.get_run("r").tasks} == {"a", "b"}
    rec.finish(RunResult("r", "wf", {}, status="completed", stats={}))
    assert store.get_run("r").run.status == "completed"


def test_two_processes_running_workflows_into_one_store_lose_nothing(tmp_path: Path) -> None:
    code = """
        import sys
        from ferroflow import Task, Workflow
        who, db = sys.argv[1], sys.argv[2]
        wf = Workflow(f"wf-{who}")
        for i in range(30):
            wf.add_task(Task(fn=(lambda i=i: i if i % 3 else None), name=f"t{i}"))
        ids = [wf.run(store=db, executor="thread", max_workers=4).run_id for _ in range(8)]
        print(" ".join(ids))
    """
    db = tmp_path / "shared.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), who, str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    ]
    ids: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        ids += out.split()
    store = open_store(db)
    assert store is not None
    assert len(ids) == 16 and sorted(r.run_id for r in store.list_runs(limit=100)) == sorted(ids)
    for run_id in ids:
        detail = store.get_run(run_id)
        assert detail.run.status == "completed" and len(detail.tasks) == 30
        assert all(t.status == "completed" for t in detail.tasks)
        assert store.load_result(run_id, "t4") == 4 and store.load_result(run_id, "t3") is None


def test_runs_do_not_leave_connections_behind(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    store.list_runs()
    before = len(store._db._all)

    def recorded(run_id: str) -> bool:
        return len(store.get_run(run_id).tasks) == 1

    for i in range(5):
        rec = store.begin_run(run_id=f"r{i}", workflow="wf", params={}, task_names=["a"])
        rec.task_completed("a", 1.0, 2.0)
        wait_until(partial(recorded, f"r{i}"))  # the writer thread has written
        rec.finish(RunResult(f"r{i}", "wf", {"a": None}, status="completed", stats={}))
    assert len(store._db._all) == before


def test_prune_runs_keeps_the_latest_and_the_running(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    for i in range(4):
        _finish(store, f"old{i}", [TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=i)])
    live = store.begin_run(run_id="live", workflow="wf", params={}, task_names=["a"])
    with pytest.raises(ValueError, match="needs keep_last"):
        store.prune_runs()
    assert store.prune_runs(older_than_seconds=3600) == 0  # all are recent
    assert store.prune_runs(keep_last=2) == 3  # old0..old2 go; 'live' is running and stays
    assert sorted(r.run_id for r in store.list_runs()) == ["live", "old3"]
    with store.read() as conn:
        assert conn.execute("SELECT count(*) FROM tasks WHERE run_id LIKE 'old%'").fetchone()[0] == 1
    live.finish(RunResult("live", "wf", {}, status="completed", stats={}))


def test_a_stored_report_that_fails_validation_gives_a_store_error(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    _finish(store, "r", [TaskRecord("a", TaskStatus.COMPLETED, attempts=1)])
    with store.transaction() as conn:
        conn.execute("UPDATE runs SET report = ? WHERE run_id = 'r'", ('{"steps": [{"status": "EXPLODED"}]}',))
    with pytest.raises(StoreError, match=r"the report of run 'r' in store .* is invalid"):
        store.get_report("r")
    assert store.get_run("r").task("a").status == "completed"  # the rest of the run still reads
