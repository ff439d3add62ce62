"""User objects whose ``__str__`` and ``__repr__`` raise: errors, results, parameters and logs.

Every executor, the store, the run report and the JSON log lines must turn them into a
placeholder, never lose the run's finish to them.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from ferroflow import Task, Workflow, WorkflowError
from ferroflow.log import JsonFormatter, SafeFormatter, configure_logging, get_task_logger, reset_logging
from ferroflow.reports.models import load_report
from ferroflow.safetext import describe_error, safe_repr, safe_str
from ferroflow.store.store import Store

EXECUTORS = ["sequential", "thread", "process", "async"]


def _unprintable_types() -> tuple[type[Exception], type]:
    # Defined in a function so that cloudpickle sends them by value to process workers.
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("__str__ is broken")

        def __repr__(self) -> str:
            raise ValueError("__repr__ is broken")

    class Opaque:
        def __str__(self) -> str:
            raise ValueError("__str__ is broken")

        def __repr__(self) -> str:
            raise ValueError("__repr__ is broken")

    return Unprintable, Opaque


def test_the_helpers_fall_back_to_a_placeholder() -> None:
    unprintable, opaque = _unprintable_types()

    class StrOnlyBroken:
        def __str__(self) -> str:
            raise RuntimeError

        def __repr__(self) -> str:
            return "StrOnlyBroken()"

    class NotText:
        def __str__(self) -> Any:
            return 42  # noqa: PLE0307 - the broken case under test

    assert safe_str(opaque()) == "<unprintable Opaque object>"
    assert safe_repr(opaque()) == "<unprintable Opaque object>"
    assert safe_str(StrOnlyBroken()) == "StrOnlyBroken()"
    assert safe_str(NotText()).startswith("<")
    assert describe_error(unprintable()) == "Unprintable: <unprintable Unprintable object>"
    assert describe_error(KeyError("k")) == "KeyError: 'k'"


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_task_error_with_a_broken_str_fails_the_run_cleanly(executor: str, tmp_path: Path) -> None:
    unprintable, _ = _unprintable_types()

    def boom() -> None:
        raise unprintable()

    wf = Workflow(f"unprintable-error-{executor}")
    wf.add_task(Task(fn=boom, name="boom"))
    wf.add_task(Task(fn=lambda: 1, name="fine"))
    store = Store(tmp_path / "s.db")
    report_path = tmp_path / "report.json"
    with pytest.raises(WorkflowError) as info:
        wf.run(executor=executor, store=store, report_path=report_path)
    assert "boom (Unprintable: <unprintable Unprintable object>)" in str(info.value)
    result = info.value.result
    assert result.status == "failed" and result["fine"] == 1
    assert "<unprintable" in repr(result) or "fine" in repr(result)
    run = store.get_run(result.run_id)
    assert run.run.status == "failed"
    assert run.task("boom").status == "failed"
    assert run.task("boom").error == "Unprintable: <unprintable Unprintable object>"
    report = load_report(report_path)
    step = next(s for s in report.steps if s.id == "boom")
    assert step.status.value == "FAILED"
    assert any("<unprintable Unprintable object>" in e for e in step.errors)
    assert store.get_report(result.run_id) is not None
    store.close()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_results_and_params_with_a_broken_str_are_recorded(executor: str, tmp_path: Path) -> None:
    _, opaque = _unprintable_types()

    def make() -> Any:
        return {"value": opaque(), "n": 1}

    def use(make: Any) -> int:
        return int(make["n"]) + 1

    wf = Workflow(f"unprintable-result-{executor}")
    wf.add_task(Task(fn=make, name="make"))
    wf.add_task(Task(fn=use, name="use"))
    store = Store(tmp_path / "s.db")
    result = wf.run(executor=executor, store=store, params={"odd": opaque()}, report_path=tmp_path / "r.json")
    assert result.status == "completed" and result["use"] == 2
    assert "'make': <unprintable dict object>" in repr(result)
    run = store.get_run(result.run_id)
    assert run.run.status == "completed"
    assert run.run.params == {"odd": "<unprintable Opaque object>"}
    assert load_report(tmp_path / "r.json").status.value == "SUCCESS"
    store.close()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_retries_when_conditions_and_task_logs_survive_broken_str(executor: str, tmp_path: Path) -> None:
    unprintable, opaque = _unprintable_types()
    calls: list[int] = []

    def flaky() -> str:
        get_task_logger().info("got %s", opaque())
        if executor != "process":
            calls.append(1)
            if len(calls) == 1:
                raise unprintable()
        return "ok"

    def condition(flaky: str) -> bool:
        raise unprintable()

    stream = io.StringIO()
    configure_logging("debug", json_output=True, stream=stream)
    try:
        wf = Workflow(f"unprintable-retry-{executor}")
        wf.add_task(Task(fn=flaky, name="flaky", retries=1, delay=0))
        wf.add_task(Task(fn=lambda flaky: flaky, name="gated", when=condition))
        result = wf.run(executor=executor, store=Store(tmp_path / "s.db"), raise_on_failure=False)
    finally:
        reset_logging()
    assert result["flaky"] == "ok"
    assert result.status == "failed" and set(result.errors) == {"gated"}
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    messages = [line["message"] for line in lines]
    assert any("`when` condition raised Unprintable: <unprintable Unprintable object>" in m for m in messages)
    if executor != "process":
        assert any("retry 1/1" in m and "<unprintable Unprintable object>" in m for m in messages)
    assert "Logging error" not in stream.getvalue()


def test_log_formatters_keep_a_line_whose_arguments_cannot_be_shown() -> None:
    _, opaque = _unprintable_types()
    record = logging.LogRecord("ferroflow", logging.INFO, __file__, 1, "got %s", (opaque(),), None)
    record.extra_value = opaque()
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "got %s (arguments: <unprintable Opaque object>)"
    assert data["extra_value"] == "<unprintable Opaque object>"
    plain = logging.LogRecord("ferroflow", logging.INFO, __file__, 1, "got %s", (opaque(),), None)
    assert SafeFormatter("%(message)s").format(plain) == "got %s (arguments: <unprintable Opaque object>)"
