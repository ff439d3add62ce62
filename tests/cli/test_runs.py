"""``ferroflow runs`` and ``ferroflow report show``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ferroflow.store.store import open_store

from tests.cli.conftest import Invoker, ferroflow


def _store():  # type: ignore[no-untyped-def]
    return open_store(os.environ["FERROFLOW_HOME"])


def test_runs_lists_history_and_one_run(project: Path, invoke: Invoker) -> None:
    assert "no runs recorded yet" in invoke("runs").stdout  # type: ignore[attr-defined]
    invoke("run", "daily")
    (project / "flows" / "bad.yaml").write_text("tasks:\n  - {id: x, command: 'false'}\n")
    invoke("run", "bad", code=1)
    out = invoke("runs").stdout  # type: ignore[attr-defined]
    assert "daily" in out and "bad" in out and "failed" in out and "completed" in out
    assert "bad" not in invoke("runs", "--workflow", "daily").stdout  # type: ignore[attr-defined]
    run_id = _store().list_runs(workflow="bad")[0].run_id
    detail = invoke("runs", run_id).stdout  # type: ignore[attr-defined]
    assert "exited with code 1" in detail and f"bad run {run_id}: failed (started " in detail
    done = ferroflow("--json-logs", "runs", "-n", "1", cwd=project)
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["run_id"] == run_id and row["status"] == "failed"
    one = json.loads(ferroflow("--json-logs", "runs", run_id, cwd=project).stdout)
    assert one["tasks"][0]["name"] == "x" and one["tasks"][0]["status"] == "failed"


def test_unknown_run_id_exits_2(project: Path, invoke: Invoker) -> None:
    result = invoke("runs", "nope", code=2)
    assert "nope" in result.stderr  # type: ignore[attr-defined]


def test_report_show_from_the_store_and_from_a_file(project: Path, invoke: Invoker) -> None:
    invoke("run", "daily", "--report", "report.json")
    run_id = _store().list_runs()[0].run_id
    by_id = invoke("report", "show", run_id).stdout  # type: ignore[attr-defined]
    assert run_id in by_id and "fetch" in by_id and "SUCCESS" in by_id
    assert "fetched today" in by_id and "exit 0 after" in by_id  # the captured output, summarised
    by_file = invoke("report", "show", "report.json").stdout  # type: ignore[attr-defined]
    assert "fetch" in by_file and "report" in by_file
    as_json = json.loads(ferroflow("--json-logs", "report", "show", run_id, cwd=project).stdout)
    assert as_json["report"]["batch_id"] == run_id


def test_report_show_errors_exit_2(project: Path, invoke: Invoker) -> None:
    assert "neither a report file nor a run id" in invoke("report", "show", "zzz", code=2).stderr  # type: ignore[attr-defined]
    (project / "bad.json").write_text("{not json")
    assert "bad.json" in invoke("report", "show", "bad.json", code=2).stderr  # type: ignore[attr-defined]
