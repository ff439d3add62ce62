"""The process executor: cloudpickle, coroutines, errors crossing back, bad results."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from ferroflow import FerroflowError, ProcessExecutor, Task, TaskStatus, Workflow, task
from ferroflow.context import current_task


@task
def decorated_source() -> int:
    return 20


def test_lambdas_closures_decorated_tasks_and_coroutines_run_in_workers() -> None:
    offset = 2

    def closure(decorated_source: int) -> int:
        return decorated_source + offset

    async def coro(closure: int) -> tuple[int, int]:
        await asyncio.sleep(0)
        return closure, os.getpid()

    def where() -> tuple[str | None, int, int]:
        ctx = current_task()
        return (ctx.task if ctx else None, ctx.attempt if ctx else 0, os.getpid())

    wf = Workflow("proc")
    wf.add_task(decorated_source)
    wf.add_task(Task(fn=closure, name="closure"))
    wf.add_task(Task(fn=coro, name="coro"))
    wf.add_task(Task(fn=lambda coro: coro[0] * 10, name="lam"))
    wf.add_task(Task(fn=where, name="where"))
    result = wf.run(executor=ProcessExecutor(max_workers=2), store=None)
    assert result["closure"] == 22
    assert result["coro"][0] == 22 and result["coro"][1] != os.getpid()
    assert result["lam"] == 220
    assert result["where"][:2] == ("where", 1) and result["where"][2] != os.getpid()


def test_errors_cross_back_with_their_type_and_worker_traceback() -> None:
    def bad() -> None:
        raise KeyError("missing-key")

    wf = Workflow("err")
    wf.add_task(Task(fn=bad, name="bad"))
    result = wf.run(executor="process", store=None, raise_on_failure=False)
    error = result.errors["bad"]
    assert isinstance(error, KeyError)
    assert any("in the worker process" in note for note in getattr(error, "__notes__", []))


def test_unpicklable_result_fails_with_an_error_naming_the_task() -> None:
    def returns_a_lock() -> Any:
        return threading.Lock()

    wf = Workflow("unpicklable")
    wf.add_task(Task(fn=returns_a_lock, name="locky"))
    wf.add_task(Task(fn=lambda locky: 1, name="after"))
    result = wf.run(executor="process", store=None, raise_on_failure=False)
    error = result.errors["locky"]
    assert isinstance(error, FerroflowError)
    assert "'locky'" in str(error) and "pickled" in str(error)
    assert result.records["after"].status is TaskStatus.UPSTREAM_FAILED


def test_unpicklable_input_fails_clearly_in_the_parent() -> None:
    wf = Workflow("bad-input")
    wf.add_task(Task(fn=lambda lock: 1, name="uses_lock"))
    result = wf.run(executor="process", store=None, raise_on_failure=False, params={"lock": threading.Lock()})
    error = result.errors["uses_lock"]
    assert isinstance(error, FerroflowError)
    assert "'uses_lock'" in str(error) and "cannot be pickled" in str(error)


def test_a_crashing_worker_is_reported_and_replaced() -> None:
    def crash() -> None:
        os._exit(3)

    wf = Workflow("crash")
    wf.add_task(Task(fn=crash, name="crash"))
    wf.add_task(Task(fn=lambda: "still works", name="other"), depends_on=["crash"])
    wf.add_task(Task(fn=lambda: "next", name="next_one"))
    result = wf.run(executor=ProcessExecutor(max_workers=1), store=None, raise_on_failure=False)
    assert "died" in str(result.errors["crash"]) and "exit code 3" in str(result.errors["crash"])
    assert result["next_one"] == "next"


def test_retries_and_callbacks_run_in_the_parent() -> None:
    events: list[tuple[str, object]] = []
    marker_dir = os.environ["FERROFLOW_HOME"]

    def flaky(path: str = os.path.join(marker_dir, "attempts")) -> int:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            f.write("x")
        with open(path) as f:
            n = len(f.read())
        if n < 2:
            raise ConnectionError("first attempt fails")
        return n

    wf = Workflow("proc-retry")
    wf.add_task(
        Task(
            fn=flaky,
            name="flaky",
            retries=2,
            delay=0,
            on_retry=lambda name, attempt: events.append(("retry", attempt)),
            on_status_change=lambda name, status: events.append(("status", status)),
        )
    )
    result = wf.run(executor="process", store=None)
    assert result["flaky"] == 2
    assert events == [("status", TaskStatus.RUNNING), ("retry", 1), ("status", TaskStatus.COMPLETED)]


def test_bad_max_workers_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        ProcessExecutor(max_workers=0)


def test_a_task_the_worker_cannot_load_fails_with_that_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "vanishing_tasks.py"
    module.write_text("def produce():\n    return 41\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    mod = importlib.import_module("vanishing_tasks")
    wf = Workflow("unloadable")
    wf.add_task(Task(fn=mod.produce, name="produce"))
    module.unlink()  # the worker imports the module by name, and it is gone
    result = wf.run(executor=ProcessExecutor(max_workers=1), raise_on_failure=False, store=None)
    assert result.status == "failed"
    message = str(result.errors["produce"])
    assert "could not load the task" in message and "vanishing_tasks" in message
