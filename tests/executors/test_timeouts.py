"""Timeouts on every executor: failed at once, downstream blocked, what happens to the attempt."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from ferroflow import Task, TaskStatus, TaskTimeoutError, Workflow


def _wf(fn: object, timeout: float = 0.2) -> Workflow:
    wf = Workflow("timeouts")
    wf.add_task(Task(fn=fn, name="slow", timeout=timeout))  # type: ignore[arg-type]
    wf.add_task(Task(fn=lambda slow: slow, name="after"))
    wf.add_task(Task(fn=lambda: "fine", name="independent"))
    return wf


@pytest.mark.parametrize("executor", ["sequential", "thread"])
def test_thread_timeouts_fail_at_once_and_report_the_abandoned_thread(
    executor: str, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    finished = threading.Event()

    def stuck() -> str:
        release.wait(10)
        finished.set()
        return "late"

    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="ferroflow"):
        result = _wf(stuck).run(executor=executor, store=None, raise_on_failure=False)
    elapsed = time.monotonic() - start
    try:
        assert elapsed < 5  # did not wait for the stuck function
        assert isinstance(result.errors["slow"], TaskTimeoutError)
        assert result.records["after"].status is TaskStatus.UPSTREAM_FAILED
        assert result["independent"] == "fine"
        assert "'slow'" in caplog.text and "abandoned" in caplog.text
        assert not finished.is_set()  # the abandoned thread is still blocked
    finally:
        release.set()
    assert finished.wait(10)


@pytest.mark.parametrize("executor", ["sequential", "thread", "async"])
def test_coroutine_timeouts_cancel_the_coroutine(executor: str) -> None:
    cancelled = threading.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    result = _wf(slow).run(executor=executor, store=None, raise_on_failure=False)
    assert isinstance(result.errors["slow"], TaskTimeoutError)
    assert "cancelled" in str(result.errors["slow"])
    assert cancelled.is_set()
    assert result["independent"] == "fine"


def test_sync_task_timeout_on_the_async_executor(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()

    def stuck() -> None:
        release.wait(10)

    try:
        with caplog.at_level(logging.WARNING, logger="ferroflow"):
            result = _wf(stuck).run(executor="async", store=None, raise_on_failure=False)
        assert isinstance(result.errors["slow"], TaskTimeoutError)
        assert "abandoned" in caplog.text
    finally:
        release.set()


def test_process_timeout_kills_the_worker(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    def stuck(path: str = str(pid_file)) -> None:
        import os as _os
        import time as _time

        with open(path, "w") as f:
            f.write(str(_os.getpid()))
        _time.sleep(30)

    def fine() -> str:
        return "fine"

    wf = Workflow("proc-timeout")
    wf.add_task(Task(fn=stuck, name="slow", timeout=5.0))  # room for the worker to start on a busy machine
    wf.add_task(Task(fn=lambda slow: slow, name="after"))
    wf.add_task(Task(fn=fine, name="independent"))
    result = wf.run(executor="process", max_workers=2, store=None, raise_on_failure=False)
    error = result.errors["slow"]
    assert isinstance(error, TaskTimeoutError) and "killed" in str(error)
    assert result.records["after"].status is TaskStatus.UPSTREAM_FAILED
    assert result["independent"] == "fine"
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
