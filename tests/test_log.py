"""Logging: levels, JSON lines, Rich on a terminal, task capture, and no root-logger side effects."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow import JsonFormatter, LogLevel, configure_logging, get_task_logger
from ferroflow.context import CURRENT_TASK as _CURRENT
from ferroflow.context import TaskContext
from ferroflow.log import reset_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    reset_logging()


def test_importing_ferroflow_adds_no_handler_to_the_root_logger() -> None:
    code = """
        import logging
        root = logging.getLogger()
        before = (list(root.handlers), root.level)
        import ferroflow, ferroflow.log, ferroflow.store, ferroflow.reports
        print(json.dumps([before == (list(root.handlers), root.level), len(root.handlers)]))
    """
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + textwrap.dedent(code)], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [True, 0]


def test_log_levels_extend_the_standard_ones() -> None:
    assert [LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARNING, LogLevel.ERROR, LogLevel.CRITICAL] == [
        logging.DEBUG,
        logging.INFO,
        logging.WARNING,
        logging.ERROR,
        logging.CRITICAL,
    ]
    assert (LogLevel.SUCCESS, LogLevel.SYSTEM) == (25, 22)
    assert logging.getLevelName(25) == "SUCCESS" and logging.getLevelName(22) == "SYSTEM"
    assert LogLevel.parse("success") is LogLevel.SUCCESS and LogLevel.parse(10) is LogLevel.DEBUG
    with pytest.raises(ValueError, match="unknown log level 'loud'; choose one of debug, info"):
        LogLevel.parse("loud")


def test_level_filters_are_honoured_and_extra_levels_show_at_info() -> None:
    buf = io.StringIO()
    log = configure_logging(LogLevel.INFO, use_colors=False, stream=buf)
    log.debug("debug-hidden")
    log.info("info-shown")
    log.log(LogLevel.SYSTEM, "system-shown")
    log.log(LogLevel.SUCCESS, "success-shown")
    logging.getLogger("ferroflow.store").debug("child-debug-hidden")
    text = buf.getvalue()
    assert "debug-hidden" not in text and "child-debug-hidden" not in text
    assert all(w in text for w in ("info-shown", "SYSTEM", "system-shown", "SUCCESS", "success-shown"))
    buf2 = io.StringIO()
    configure_logging("error", stream=buf2)
    log.warning("warn-hidden")
    log.error("error-shown")
    assert "warn-hidden" not in buf2.getvalue() and "error-shown" in buf2.getvalue()
    assert buf.getvalue() == text  # the earlier handler was replaced, not kept


def test_configure_logging_leaves_the_root_logger_alone() -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    configure_logging(LogLevel.DEBUG, stream=io.StringIO())
    assert (list(root.handlers), root.level) == before
    assert len(logging.getLogger("ferroflow").handlers) == 2  # the capture plus ours


def test_json_lines_carry_level_logger_message_and_extras() -> None:
    buf = io.StringIO()
    configure_logging(LogLevel.DEBUG, json_output=True, stream=buf)
    log = logging.getLogger("ferroflow.watch")
    log.log(LogLevel.SUCCESS, "moved \x1b[32m%s\x1b[0m", "a.csv", extra={"path": Path("/in/a.csv"), "size": 12})
    log.info("[bold]styled[/bold] text", extra={"markup": True})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("handler failed")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert {k: first[k] for k in ("level", "logger", "message", "path", "size")} == {
        "level": "SUCCESS",
        "logger": "ferroflow.watch",
        "message": "moved a.csv",
        "path": "/in/a.csv",
        "size": 12,
    }
    assert first["timestamp"].endswith("+00:00")
    assert second["message"] == "styled text" and "markup" not in second
    assert third["level"] == "ERROR" and "ValueError: boom" in third["exception"]
    assert "\x1b" not in buf.getvalue()


def test_json_formatter_adds_the_task_context() -> None:
    token = _CURRENT.set(TaskContext(run_id="r1", workflow="wf", task="load"))
    try:
        rec = logging.LogRecord("ferroflow.task", logging.INFO, __file__, 1, "hi", None, None)
        data = json.loads(JsonFormatter().format(rec))
    finally:
        _CURRENT.reset(token)
    assert (data["run_id"], data["task"], data["message"]) == ("r1", "load", "hi")


def test_rich_colours_on_a_terminal_and_plain_text_otherwise() -> None:
    master, slave = os.openpty()
    tty = os.fdopen(slave, "w")
    try:
        configure_logging(LogLevel.INFO, use_colors=True, stream=tty)
        logging.getLogger("ferroflow").log(LogLevel.SUCCESS, "all good")
        tty.flush()
        out = os.read(master, 65536).decode(errors="replace")
    finally:
        tty.close()
        os.close(master)
    assert "all good" in out and "\x1b[" in out
    buf = io.StringIO()
    configure_logging(LogLevel.INFO, use_colors=True, stream=buf)
    logging.getLogger("ferroflow").log(LogLevel.SUCCESS, "all good")
    assert "all good" in buf.getvalue() and "\x1b[" not in buf.getvalue()


def test_log_file_gets_the_same_lines(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "ferroflow.jsonl"
    configure_logging(LogLevel.INFO, json_output=True, stream=io.StringIO(), log_file=path)
    logging.getLogger("ferroflow").info("to the file", extra={"n": 1})
    reset_logging()
    line = json.loads(path.read_text().strip())
    assert line["message"] == "to the file" and line["n"] == 1


def test_records_logged_inside_a_task_are_captured_into_its_context() -> None:
    ctx = TaskContext(run_id="r", workflow="wf", task="t")
    get_task_logger().info("outside")  # no task: not captured anywhere
    token = _CURRENT.set(ctx)
    try:
        get_task_logger().info("step %d", 1)
        logging.getLogger("ferroflow.store").warning("library warning")
        logging.getLogger("someone.else").warning("not ours")
        get_task_logger().debug("below the level")
    finally:
        _CURRENT.reset(token)
    assert len(ctx.logs) == 2
    assert ctx.logs[0].endswith("INFO ferroflow.task: step 1")
    assert ctx.logs[1].endswith("WARNING ferroflow.store: library warning")


def test_capture_follows_the_configured_level() -> None:
    configure_logging(LogLevel.WARNING, stream=io.StringIO())
    ctx = TaskContext(run_id="r", workflow="wf", task="t")
    token = _CURRENT.set(ctx)
    try:
        get_task_logger().info("filtered")
        get_task_logger().warning("kept")
    finally:
        _CURRENT.reset(token)
    assert [line.rsplit(": ", 1)[1] for line in ctx.logs] == ["kept"]


def test_json_lines_from_a_real_run_name_the_run_and_the_task() -> None:
    from ferroflow import Workflow, task

    @task
    def load() -> int:
        get_task_logger().log(LogLevel.SUCCESS, "loaded", extra={"rows": 3})
        return 3

    wf = Workflow("logged")
    wf.add_task(load)
    buf = io.StringIO()
    configure_logging(LogLevel.INFO, json_output=True, stream=buf)
    result = wf.run(store=None)
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    mine = [line for line in lines if line["message"] == "loaded"]
    assert len(mine) == 1
    assert mine[0] | {"timestamp": None} == {
        "timestamp": None,
        "level": "SUCCESS",
        "logger": "ferroflow.task",
        "message": "loaded",
        "run_id": result.run_id,
        "task": "load",
        "rows": 3,
    }
    assert any(line.endswith("SUCCESS ferroflow.task: loaded") for line in result.records["load"].logs)
