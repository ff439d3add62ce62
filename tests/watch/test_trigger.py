"""app.trigger: one workflow run per file event, recorded in the store."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from ferroflow import DAG, Change, FileEvent, RunResult, Task, WatchApp, Workflow, open_store
from ferroflow.watch import WatchHandlerError

from ..conftest import wait_until


def test_trigger_runs_the_workflow_with_the_event_and_path(inbox: Path, app: WatchApp) -> None:
    results: list[RunResult] = []
    lock = threading.Lock()

    def parse(path: str) -> int:
        return len(Path(path).read_text())

    def report(parse: int, event: FileEvent) -> tuple[str, int]:
        return (event.name, parse)

    wf = Workflow("ingest")
    wf.add_task(Task(fn=parse, name="parse"))
    wf.add_task(Task(fn=report, name="report"), depends_on=["parse"])
    original_run = wf.run

    def recording_run(**kwargs: Any) -> RunResult:
        result = original_run(**kwargs)
        with lock:
            results.append(result)
        return result

    wf.run = recording_run  # type: ignore[method-assign]
    handler = app.trigger(wf, inbox, pattern="*.csv")
    assert handler.name == "trigger:ingest" and handler.events == [Change.added, Change.modified]
    app.start()
    (inbox / "a.csv").write_text("12345")
    (inbox / "skip.txt").write_text("x")
    wait_until(lambda: len(results) == 1, timeout=30)
    (result,) = results
    assert result.status == "completed"
    assert result["report"] == ("a.csv", 5)
    runs = open_store().list_runs("ingest")
    assert [r.run_id for r in runs] == [result.run_id]


def test_trigger_failed_runs_do_not_stop_the_app(inbox: Path, app: WatchApp) -> None:
    done = threading.Event()

    def explode(path: str) -> None:
        raise RuntimeError(f"cannot parse {path}")

    def mark() -> None:
        done.set()

    wf = Workflow("fragile")
    wf.add_task(Task(fn=explode, name="explode"))
    ok = Workflow("ok")
    ok.add_task(Task(fn=mark, name="mark"))
    app.trigger(wf, inbox, events=[Change.added], priority=1)
    app.trigger(ok, inbox, events=[Change.added])
    app.start()
    (inbox / "bad.csv").write_text("x")
    assert done.wait(30)
    wait_until(lambda: app.stats["handler_calls"] == 2)
    assert app.stats["handler_errors"] == 0  # a failed run is a result, not a handler error
    assert app.is_running
    statuses = {r.workflow: r.status for r in open_store().list_runs()}
    assert statuses == {"fragile": "failed", "ok": "completed"}


def test_trigger_accepts_a_dag(inbox: Path, app: WatchApp) -> None:
    seen: list[str] = []

    def collect(path: str) -> None:
        seen.append(Path(path).name)

    dag = DAG("collector", tasks=[Task(fn=collect, name="collect")])
    app.trigger(dag, inbox, events=[Change.deleted])
    (inbox / "gone.txt").write_text("x")
    app.start()
    (inbox / "gone.txt").unlink()
    wait_until(lambda: seen == ["gone.txt"], timeout=30)


def test_trigger_needs_something_runnable(inbox: Path) -> None:
    with pytest.raises(WatchHandlerError, match="run"):
        WatchApp().trigger(object(), inbox)
