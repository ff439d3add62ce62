"""A watch app's runs are recorded in the store as sessions; runs its handlers start say so."""

from __future__ import annotations

from pathlib import Path

from ferroflow import Task, Workflow
from ferroflow.store import open_store
from ferroflow.store.sessions import list_sessions
from ferroflow.watch import FileEvent, WatchApp, on_created

from ..conftest import wait_until


def test_a_session_records_counts_failures_with_tracebacks_and_its_end(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    store = open_store(tmp_path / "store")
    assert store is not None
    app = WatchApp("inbox-app", debounce=0.05, store=store)
    seen: list[str] = []

    @on_created(inbox, app=app)
    def ingest(event: FileEvent) -> None:
        seen.append(str(event.path))
        if str(event.path).endswith(".bad"):
            raise ValueError(f"cannot ingest <{event.path}>")

    app.start()
    try:
        running = list_sessions(store)
        assert [(s.app, s.status) for s in running] == [("inbox-app", "running")]
        assert running[0].roots == [str(inbox)] and running[0].handlers[0]["name"].endswith("ingest")
        (inbox / "a.csv").write_text("1")
        (inbox / "b.bad").write_text("2")
        wait_until(lambda: len(seen) == 2, timeout=15)
    finally:
        app.stop(timeout=10)
    (session,) = list_sessions(store)
    assert session.status == "stopped" and session.finished_at is not None
    assert session.stats["events_total"] == 2 and session.stats["handler_errors"] == 1
    (failure,) = session.errors
    assert failure["handler"].endswith("ingest") and failure["path"].endswith("b.bad")
    assert "ValueError: cannot ingest" in failure["error"] and "Traceback" in failure["traceback"]
    assert sorted(Path(e["path"]).name for e in session.last_events) == ["a.csv", "b.bad"]


def test_no_store_means_no_record_and_a_run_started_by_a_handler_says_which_event(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    store = open_store(tmp_path / "store")
    assert store is not None
    app = WatchApp(debounce=0.05, store=None)
    run_ids: list[str] = []

    @on_created(inbox, app=app)
    def process(event: FileEvent) -> None:
        wf = Workflow("on-file")
        wf.add_task(Task(fn=lambda: 1, name="one"))
        run_ids.append(wf.run(store=store).run_id)

    app.start()
    try:
        (inbox / "x.txt").write_text("x")
        wait_until(lambda: run_ids, timeout=15)
    finally:
        app.stop(timeout=10)
    assert list_sessions(store) == []
    trigger = store.get_run(run_ids[0]).run.trigger
    assert trigger["kind"] == "watch" and trigger["detail"]["change"] == "added"
    assert trigger["detail"]["path"].endswith("x.txt")
