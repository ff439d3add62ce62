"""Each task's life on the ``ferroflow`` logger: start (DEBUG), success (SUCCESS), skip / not run (INFO)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow import Task, Workflow
from ferroflow.log import LogLevel, configure_logging, reset_logging

from tests.conftest import ferroflow

EXECUTORS = ["sequential", "thread", "async", "process"]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    reset_logging()


def _double(x: int) -> int:
    return 2 * x


def _one() -> int:
    return 1


def _boom(x: int) -> int:
    raise ValueError(f"bad {x}")


def _never(x: int) -> bool:
    return False


def _workflow() -> Workflow:
    wf = Workflow("logged")
    wf.add_task(Task(fn=_one, name="one"))
    wf.add_task(Task(fn=_double, name="two"), depends_on=["one"])
    wf.add_task(Task(fn=_double, name="maybe", when=_never), depends_on=["one"])
    wf.add_task(Task(fn=_boom, name="boom"), depends_on=["one"])
    wf.add_task(Task(fn=_double, name="after"), depends_on=["boom"])
    return wf


def _lines(level: LogLevel, executor: str, **run: object) -> list[dict[str, object]]:
    buf = io.StringIO()
    configure_logging(level, json_output=True, stream=buf)
    result = _workflow().run(executor=executor, raise_on_failure=False, **run)  # type: ignore[arg-type]
    assert result.status == "failed"
    return [json.loads(line) for line in buf.getvalue().splitlines()]


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("store", [None, "default"])
def test_debug_logs_start_success_with_duration_and_skip_with_reason(executor: str, store: str | None) -> None:
    run: dict[str, object] = {} if store == "default" else {"store": None}
    lines = _lines(LogLevel.DEBUG, executor, **run)
    by_event: dict[str, list[dict[str, object]]] = {}
    for line in lines:
        by_event.setdefault(str(line.get("event")), []).append(line)
    assert sorted(str(x["task"]) for x in by_event["task_started"]) == ["boom", "one", "two"]
    assert all(x["level"] == "DEBUG" and x["logger"] == "ferroflow" for x in by_event["task_started"])
    done = {str(x["task"]): x for x in by_event["task_completed"]}
    assert sorted(done) == ["one", "two"]
    for line in done.values():
        assert line["level"] == "SUCCESS"
        assert isinstance(line["duration_seconds"], float) and line["duration_seconds"] >= 0
        assert f"task '{line['task']}' completed in " in str(line["message"])
        assert line["workflow"] == "logged" and line["run_id"]
    (skip,) = by_event["task_skipped"]
    assert skip["level"] == "INFO" and skip["task"] == "maybe"
    assert skip["message"] == "task 'maybe' skipped: its `when` condition returned false"
    (blocked,) = by_event["task_not_run"]
    assert blocked["level"] == "INFO" and blocked["task"] == "after"
    assert "upstream task 'boom' failed" in str(blocked["message"])
    errors = [x for x in lines if x["level"] == "ERROR"]
    assert len(errors) == 1 and "task 'boom' failed" in str(errors[0]["message"])


def test_info_level_has_success_and_skip_but_no_start() -> None:
    lines = _lines(LogLevel.INFO, "thread", store=None)
    events = [x.get("event") for x in lines]
    assert "task_started" not in events
    assert events.count("task_completed") == 2 and events.count("task_skipped") == 1


def test_warning_level_logs_no_task_line_and_installs_no_hook() -> None:
    buf = io.StringIO()
    configure_logging(LogLevel.WARNING, json_output=True, stream=buf)
    wf = _workflow()
    wf.run(store=None, raise_on_failure=False)
    plan = wf._last
    assert plan is not None
    # The levels are read once per run: filtered out, the hot path has no hook to call.
    assert plan._on_start is None and plan._log_final is None and plan._final_hook is None
    levels = {json.loads(line)["level"] for line in buf.getvalue().splitlines()}
    assert levels == {"ERROR"}


def test_a_library_user_sees_task_lines_through_their_own_handler() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("ferroflow")
    handler = Keep()
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        _workflow().run(store=None, raise_on_failure=False)
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    names = {(r.levelname, getattr(r, "task", None)) for r in records if getattr(r, "event", None)}
    assert ("SUCCESS", "two") in names and ("DEBUG", "one") in names and ("INFO", "maybe") in names


def test_cli_json_logs_and_log_file_get_every_task_line(tmp_path: Path) -> None:
    (tmp_path / "wf.py").write_text(
        "from ferroflow import Workflow, task\n"
        "wf = Workflow('cli')\n"
        "a = wf.add_task(task(lambda: 1, name='a'))\n"
        "b = wf.add_task(task(lambda a: a + 1, name='b'))\n"
    )
    proc = ferroflow("--log-level", "DEBUG", "--json-logs", "--log-dir", "logs", "run", "wf.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stderr = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [(x["event"], x["task"]) for x in stderr if "event" in x] == [
        ("task_started", "a"),
        ("task_completed", "a"),
        ("task_started", "b"),
        ("task_completed", "b"),
    ]
    in_file = [json.loads(line) for line in (tmp_path / "logs" / "ferroflow.log").read_text().splitlines()]
    assert [x.get("event") for x in in_file if "event" in x] == [x["event"] for x in stderr if "event" in x]
    plain = ferroflow("--log-dir", "plain", "run", "wf.py", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    text = (tmp_path / "plain" / "ferroflow.log").read_text()
    assert "SUCCESS  ferroflow: task 'a' completed in " in text and "task 'b' completed in " in text
