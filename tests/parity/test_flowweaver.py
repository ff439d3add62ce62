"""FlowWeaver's README examples, with ``flowweaver`` renamed to ``ferroflow``.

The document's non-ASCII characters are garbled in the original (``‚úì``); the
examples here print the characters meant (``✓``). Names a snippet leaves to the
reader (``requests``, ``risky_operation``) are defined first.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from typing import Any

import pytest
from ferroflow import (
    AsyncExecutor,
    BaseExecutor,
    ProcessExecutor,
    SequentialExecutor,
    Task,
    TaskStatus,
    ThreadedExecutor,
    Workflow,
    WorkflowError,
)


def test_the_sequential_quick_start(capsys: pytest.CaptureFixture[str]) -> None:
    from ferroflow import Task, Workflow, SequentialExecutor

    # Define tasks
    extract = Task(name="extract", fn=lambda: {"data": [1, 2, 3, 4, 5]})
    transform = Task(name="transform", fn=lambda: {"doubled": [2, 4, 6, 8, 10]})
    load = Task(name="load", fn=lambda: print("✓ Data loaded"))

    # Build workflow
    workflow = Workflow(name="ETL Pipeline")
    workflow.add_task(extract)
    workflow.add_task(transform, depends_on=["extract"])
    workflow.add_task(load, depends_on=["transform"])

    # Execute
    executor = SequentialExecutor()
    executor.execute(workflow)

    # Access results
    data = workflow.get_task_result("extract")
    print(data)  # {'data': [1, 2, 3, 4, 5]}

    assert capsys.readouterr().out == "✓ Data loaded\n{'data': [1, 2, 3, 4, 5]}\n"


def test_the_async_workflow_awaits_coroutines_returned_by_lambdas(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    from ferroflow import Task, Workflow, AsyncExecutor

    async def fetch_user(user_id: int) -> dict:
        # Simulated async I/O
        await asyncio.sleep(0.1)
        return {"id": user_id, "name": f"User{user_id}"}

    async def fetch_orders(user_id: int) -> dict:
        await asyncio.sleep(0.1)
        return {"user_id": user_id, "orders": []}

    workflow = Workflow(name="Data Fetch")

    # Create tasks for multiple users - these will run in parallel
    for user_id in range(1, 4):
        task = Task(name=f"user_{user_id}", fn=lambda uid=user_id: fetch_user(uid))
        workflow.add_task(task)

    # Run in parallel (completes in ~0.1s, not 0.3s)
    executor = AsyncExecutor()
    executor.execute(workflow)

    stats = workflow.get_workflow_stats()
    print(f"Completed {stats['completed']} tasks in {stats['total_time_seconds']:.3f}s")

    assert capsys.readouterr().out.startswith("Completed 3 tasks in ")
    assert [workflow.get_task_result(f"user_{u}") for u in (1, 2, 3)] == [
        {"id": u, "name": f"User{u}"} for u in (1, 2, 3)
    ]


async def _fetch(uid: int) -> dict[str, int]:
    await asyncio.sleep(0)
    return {"id": uid}


@pytest.mark.parametrize(
    "executor", [SequentialExecutor(), ThreadedExecutor(), AsyncExecutor(), ProcessExecutor(max_workers=2)]
)
@pytest.mark.parametrize("timeout", [None, 30.0])
def test_a_returned_coroutine_is_awaited_on_every_executor(executor: BaseExecutor, timeout: float | None) -> None:
    workflow = Workflow(name="coroutines")
    for uid in (1, 2):
        workflow.add_task(Task(name=f"u{uid}", fn=lambda uid=uid: _fetch(uid), timeout=timeout))
    workflow.add_task(Task(name="both", fn=lambda u1, u2: [u1, u2]), depends_on=["u1", "u2"])
    executor.execute(workflow)
    assert workflow.get_task_result("both") == [{"id": 1}, {"id": 2}]
    assert not inspect.iscoroutine(workflow.get_task_result("u1"))


def test_monitoring_callbacks(capsys: pytest.CaptureFixture[str]) -> None:
    # The network call the example makes, served here without a network.
    requests = types.SimpleNamespace(
        get=lambda url: types.SimpleNamespace(json=lambda: {"url": url, "items": [1, 2]})
    )

    def on_task_start(task_name: str, status):
        print(f"📌 {task_name} started")

    def on_task_complete(task_name: str, status):
        print(f"✅ {task_name} completed")

    def on_retry_attempt(task_name: str, attempt: int):
        print(f"🔄 {task_name} retry attempt #{attempt}")

    # Task with retry and monitoring
    task = Task(
        name="api_call",
        fn=lambda: requests.get("https://api.example.com/data").json(),
        retries=3,
        timeout=5.0,
        on_status_change=lambda name, status: (
            on_task_start(name, status) if status.value == "running"
            else on_task_complete(name, status) if status.value == "completed"
            else None
        ),
        on_retry=on_retry_attempt,
    )

    workflow = Workflow(name="monitored")
    workflow.add_task(task)
    SequentialExecutor().execute(workflow)
    assert capsys.readouterr().out == "📌 api_call started\n✅ api_call completed\n"
    assert workflow.get_task_result("api_call") == {"url": "https://api.example.com/data", "items": [1, 2]}


def test_the_api_reference_names() -> None:
    workflow = Workflow(name="Workflow")
    sync = Task(name="sum", fn=lambda: 1 + 1)
    asynchronous = Task(name="fetch", fn=_fetch)
    workflow.add_task(sync)
    workflow.add_task(asynchronous, depends_on=["sum"])

    assert (sync.is_async(), asynchronous.is_async()) == (False, True)
    tasks = workflow.get_all_tasks()
    assert isinstance(tasks, dict) and list(tasks) == ["sum", "fetch"]
    assert tasks["fetch"] is workflow.get_task("fetch") is asynchronous
    assert workflow.get_dependencies("fetch") == ["sum"]
    assert [[t.name for t in layer] for layer in workflow.get_execution_plan()] == [["sum"], ["fetch"]]
    assert workflow.get_task_status("sum") is TaskStatus.PENDING


def test_every_executor_is_a_base_executor() -> None:
    with pytest.raises(TypeError, match="abstract"):
        BaseExecutor()  # type: ignore[abstract]
    for executor in (SequentialExecutor(), ThreadedExecutor(max_workers=4), AsyncExecutor(use_uvloop=False)):
        assert isinstance(executor, BaseExecutor)
        workflow = Workflow(name="one")
        workflow.add_task(Task(name="a", fn=lambda: 1))
        executor.execute(workflow)
        assert workflow.get_task_result("a") == 1

    class InOrder(BaseExecutor):
        """A strategy of one's own (docs/writing-an-executor.md): it implements run_plan."""

        def run_plan(self, plan: Any) -> None:
            SequentialExecutor().run_plan(plan)

    workflow = Workflow(name="custom")
    workflow.add_task(Task(name="a", fn=lambda: 2))
    InOrder().execute(workflow)
    assert workflow.get_task_result("a") == 2


def test_conditional_execution_pattern() -> None:
    from ferroflow import Task, Workflow
    import random

    workflow = Workflow(name="Conditional Processing")

    def check_condition() -> bool:
        return random.choice([True, False])

    def process_if_true() -> str:
        return "Condition was true!"

    def process_if_false() -> str:
        return "Condition was false!"

    # Create parallel branches based on condition
    condition_task = Task(name="check", fn=check_condition)

    true_branch = Task(name="true_path", fn=process_if_true)
    false_branch = Task(name="false_path", fn=process_if_false)

    workflow.add_task(condition_task)
    # Note: In a real scenario, use a wrapper task that selectively executes branches
    workflow.add_task(true_branch, depends_on=["check"])
    workflow.add_task(false_branch, depends_on=["check"])

    executor = SequentialExecutor()  # Sequential for this example
    executor.execute(workflow)

    assert workflow.get_task_result("true_path") == "Condition was true!"
    assert workflow.get_task_result("false_path") == "Condition was false!"


def test_a_failure_is_a_runtime_error_and_its_error_is_on_the_run() -> None:
    def risky_operation() -> None:
        raise ConnectionError("backend unreachable")

    workflow = Workflow(name="fault-tolerant")
    task = Task(name="risky", fn=risky_operation, retries=3, delay=0)
    workflow.add_task(task)

    executor = SequentialExecutor()
    with pytest.raises(RuntimeError) as caught:
        executor.execute(workflow)
    # FlowWeaver's `workflow.get_task("risky").error` is the run's record here:
    error = caught.value
    assert isinstance(error, WorkflowError)
    assert "backend unreachable" in str(error.result.errors["risky"])
    assert workflow.get_task_status("risky") is TaskStatus.FAILED
    assert workflow.get_task_record("risky").attempts == 4  # type: ignore[union-attr]


def test_dependency_validation_raises_value_errors() -> None:
    task_a, task_b, task_c = (Task(name=n, fn=lambda: None) for n in ("task_a", "task_b", "task_c"))
    workflow = Workflow(name="checked")
    with pytest.raises(ValueError, match="nonexistent_task"):
        workflow.add_task(task_c, depends_on=["nonexistent_task"])
    workflow.add_task(task_a)
    workflow.add_task(task_b, depends_on=["task_a"])
    with pytest.raises(ValueError, match="task_a"):
        workflow.add_task(Task(name="task_a", fn=lambda: None), depends_on=["task_b"])


def test_debug_logging_and_statistics(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    # Enable debug logging
    logging.getLogger("ferroflow").setLevel(logging.DEBUG)

    workflow = Workflow(name="stats")
    for n in "abc":
        workflow.add_task(Task(name=n, fn=lambda: 1))
    SequentialExecutor().execute(workflow)

    stats = workflow.get_workflow_stats()
    assert {k: stats[k] for k in ("total_tasks", "completed", "failed", "pending", "running")} == {
        "total_tasks": 3,
        "completed": 3,
        "failed": 0,
        "pending": 0,
        "running": 0,
    }
    assert stats["total_time_seconds"] >= 0
    logging.getLogger("ferroflow").setLevel(logging.NOTSET)
