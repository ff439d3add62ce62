"""The executor protocol: names, objects, ``execute(workflow)``, bad arguments."""

from __future__ import annotations

import pytest
from ferroflow import (
    AsyncExecutor,
    Executor,
    Flow,
    ProcessExecutor,
    SequentialExecutor,
    Task,
    ThreadedExecutor,
    Workflow,
)
from ferroflow.executors import resolve_executor


def _wf() -> Workflow:
    wf = Workflow("api")
    wf.add_task(Task(fn=lambda: 2, name="two"))
    wf.add_task(Task(fn=lambda two: two * 21, name="answer"))
    return wf


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        (None, ThreadedExecutor),
        ("thread", ThreadedExecutor),
        ("sequential", SequentialExecutor),
        ("process", ProcessExecutor),
        ("async", AsyncExecutor),
    ],
)
def test_names_resolve_to_executors(name: str | None, cls: type) -> None:
    executor = resolve_executor(name, 3)
    assert isinstance(executor, cls) and isinstance(executor, Executor)


def test_max_workers_reaches_the_executor() -> None:
    assert resolve_executor("thread", 3).max_workers == 3
    assert resolve_executor("async", 5).max_concurrency == 5


@pytest.mark.parametrize(
    "executor", [SequentialExecutor(), ThreadedExecutor(2), AsyncExecutor()], ids=lambda e: type(e).__name__
)
def test_objects_offer_execute(executor: Executor) -> None:
    assert executor.execute(_wf(), store=None)["answer"] == 42
    flow = Flow("f").add(Task(fn=lambda: 1, name="one"))
    assert executor.execute(flow, store=None)["one"] == 1


def test_bad_executor_arguments() -> None:
    with pytest.raises(ValueError, match="unknown executor"):
        resolve_executor("gpu", None)
    with pytest.raises(TypeError, match="executor"):
        resolve_executor(42, None)
    with pytest.raises(ValueError, match="max_workers"):
        ThreadedExecutor(max_workers=-1)
    with pytest.raises(ValueError, match="max_concurrency"):
        AsyncExecutor(max_concurrency=0)


def test_empty_workflows_run_everywhere() -> None:
    for executor in ("sequential", "thread", "async", "process"):
        result = Workflow("empty").run(executor=executor, store=None)
        assert result.status == "completed" and len(result) == 0


def test_reprs_name_the_settings() -> None:
    assert repr(ThreadedExecutor(4)) == "ThreadedExecutor(max_workers=4)"
    assert repr(AsyncExecutor(max_concurrency=2)) == "AsyncExecutor(use_uvloop=False, max_concurrency=2)"
    assert repr(ProcessExecutor()) == "ProcessExecutor(max_workers=None)"
