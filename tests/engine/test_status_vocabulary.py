"""One status vocabulary: ``sys.exit()`` in a task fails it; ``KeyboardInterrupt`` interrupts
the run on every executor; a task stopped by a cancel is ``cancelled`` with its reason."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ferroflow import FerroflowError, Task, TaskCancelledError, TaskStatus, Workflow, WorkflowError
from ferroflow.store.store import Store

EXECUTORS = ["sequential", "thread", "process", "async"]


def _quitter() -> None:
    sys.exit(3)


async def _async_quitter() -> None:
    sys.exit("no more")


def _interrupted() -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("retries", [0, 1])
def test_a_task_calling_sys_exit_fails_and_the_run_goes_on(executor: str, retries: int, tmp_path: Path) -> None:
    wf = Workflow(f"exit-{executor}")
    wf.add_task(Task(fn=_quitter, name="quitter", retries=retries, delay=0))
    wf.add_task(Task(fn=lambda: "fine", name="other"))
    store = Store(tmp_path / "s.db")
    with pytest.raises(WorkflowError) as info:
        wf.run(executor=executor, store=store)
    result = info.value.result
    assert result["other"] == "fine"
    error = result.errors["quitter"]
    assert isinstance(error, FerroflowError)
    assert "task 'quitter' called sys.exit(3)" in str(error)
    assert result.records["quitter"].status is TaskStatus.FAILED
    run = store.get_run(result.run_id)
    assert run.run.status == "failed"
    assert "called sys.exit(3)" in (run.task("quitter").error or "")
    store.close()


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("retries", [0, 1])
def test_a_coroutine_task_calling_sys_exit_fails_too(executor: str, retries: int, tmp_path: Path) -> None:
    wf = Workflow(f"async-exit-{executor}")
    wf.add_task(Task(fn=_async_quitter, name="quitter", retries=retries, delay=0))
    wf.add_task(Task(fn=lambda: "fine", name="other"))
    result = wf.run(executor=executor, store=Store(tmp_path / "s.db"), raise_on_failure=False)
    assert result.status == "failed" and result["other"] == "fine"
    assert "task 'quitter' called sys.exit('no more')" in str(result.errors["quitter"])
    assert result.records["quitter"].attempts == retries + 1


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_keyboard_interrupt_in_a_task_interrupts_the_run_on_every_executor(executor: str, tmp_path: Path) -> None:
    wf = Workflow(f"kbi-{executor}")
    wf.add_task(Task(fn=_interrupted, name="interrupted"))
    store = Store(tmp_path / "s.db")
    with pytest.raises(KeyboardInterrupt):
        wf.run(executor=executor, store=store)
    (run,) = store.list_runs()
    detail = store.get_run(run.run_id)
    assert detail.run.status == "cancelled"
    task = detail.task("interrupted")
    assert task.status == "cancelled"
    assert "exit code" not in (task.error or "") and "interrupted" in (task.reason or "")
    store.close()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_task_raising_task_cancelled_is_cancelled_with_its_reason(executor: str, tmp_path: Path) -> None:
    calls = tmp_path / "calls"

    def stopped() -> None:
        with calls.open("a") as f:
            f.write("x")
        raise TaskCancelledError("stopped from outside")

    wf = Workflow(f"cancel-{executor}")
    wf.add_task(Task(fn=stopped, name="stopped", retries=2, delay=0))
    wf.add_task(Task(fn=lambda stopped: stopped, name="after"))
    wf.add_task(Task(fn=lambda: 1, name="independent"))
    store = Store(tmp_path / "s.db")
    result = wf.run(executor=executor, store=store, raise_on_failure=False)
    assert calls.read_text() == "x"  # not retried
    assert result.status == "cancelled" and not result.errors
    assert result.records["stopped"].status is TaskStatus.CANCELLED
    assert result.records["stopped"].reason == "cancelled: stopped from outside"
    assert result.records["after"].status is TaskStatus.CANCELLED
    assert result.records["after"].reason == "cancelled: upstream task 'stopped' was cancelled"
    steps = {s.id: s for s in result.report.steps}
    assert steps["stopped"].status.value == "SKIPPED" and "stopped from outside" in steps["stopped"].notes[0]
    assert steps["after"].status.value == "SKIPPED"
    assert store.get_run(result.run_id).run.status == "cancelled"
    store.close()
