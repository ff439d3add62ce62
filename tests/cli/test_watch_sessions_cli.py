"""Watch sessions in ``ferroflow runs``, through the real command, and the session's summary line."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from ferroflow.store.store import open_store
from ferroflow.watch import FileEvent, WatchApp, on_created

from tests.cli.conftest import ferroflow
from tests.conftest import wait_until


def test_runs_lists_a_watch_session_and_shows_it_with_its_failure(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = project / "inbox"
    inbox.mkdir()
    store = open_store(os.environ["FERROFLOW_HOME"])
    assert store is not None
    app = WatchApp("inbox-app", debounce=0.05, store=store)
    seen: list[str] = []

    @on_created(inbox, app=app)
    def ingest(event: FileEvent) -> None:
        seen.append(event.path.name)
        if event.path.suffix == ".bad":
            raise ValueError(f"cannot ingest {event.path.name}")

    with caplog.at_level(logging.INFO, logger="ferroflow.watch"):
        app.start()
        try:
            (inbox / "a.csv").write_text("1")
            (inbox / "b.bad").write_text("2")
            wait_until(lambda: len(seen) == 2, timeout=15)
        finally:
            app.stop(timeout=10)
    summary = [r.getMessage() for r in caplog.records if "session ended" in r.getMessage()]
    assert len(summary) == 1 and "2 event(s), 2 handler call(s), 1 failure(s)" in summary[0], summary

    listed = ferroflow("runs", "--watch", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert "inbox-app" in listed.stdout and "stopped" in listed.stdout

    as_json = ferroflow("--json-logs", "runs", "--watch", cwd=project)
    (row,) = [json.loads(line) for line in as_json.stdout.splitlines() if line.startswith("{")]
    assert row["watch_session"] is True and row["app"] == "inbox-app"

    shown = ferroflow("runs", row["session_id"], cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert "ingest" in shown.stdout and "cannot ingest b.bad" in shown.stdout
    assert "Traceback (most recent call last)" in shown.stdout
