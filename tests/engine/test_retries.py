"""Retries: delays, backoff, jitter, caps, which errors, callbacks — with real and injected sleeps."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from typing import Any

import pytest
from ferroflow import Task, TaskStatus, TaskTimeoutError, Workflow
from ferroflow.engine.plan import RunOptions
from ferroflow.engine.retries import RetryPolicy


def test_delay_grows_by_backoff_and_is_capped() -> None:
    p = RetryPolicy(retries=5, delay=0.5, backoff=2.0, jitter=0.0, max_delay=3.0)
    assert [p.delay_for(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_moves_the_delay_by_at_most_its_fraction() -> None:
    p = RetryPolicy(retries=1, delay=1.0, backoff=2.0, jitter=0.1)
    assert p.delay_for(1, rand=lambda: 0.0) == pytest.approx(0.9)
    assert p.delay_for(1, rand=lambda: 1.0) == pytest.approx(1.1)
    assert p.delay_for(1, rand=lambda: 0.5) == pytest.approx(1.0)
    assert all(0.9 <= p.delay_for(1) <= 1.1 for _ in range(200))


def test_huge_backoff_does_not_overflow() -> None:
    assert RetryPolicy(retries=3, delay=1, backoff=1e300, jitter=0, max_delay=60).delay_for(3) == 60.0


def test_should_retry_respects_count_and_types() -> None:
    p = RetryPolicy(retries=2, retry_on=(ConnectionError,))
    assert p.should_retry(ConnectionError(), 1) and p.should_retry(ConnectionError(), 2)
    assert not p.should_retry(ConnectionError(), 3)
    assert not p.should_retry(ValueError(), 1)


class Flaky:
    """Fails ``failures`` times, then returns ``value``."""

    def __init__(self, failures: int, value: Any = "ok", error: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.value = value
        self.error = error
        self.calls: list[float] = []

    def __call__(self) -> Any:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise self.error(f"failure {len(self.calls)}")
        return self.value


def _one(fn: Any, **options: Any) -> Workflow:
    wf = Workflow("retry")
    wf.add_task(Task(fn=fn, name="flaky", **options))
    return wf


@pytest.mark.parametrize("executor", ["sequential", "thread", "async"])
def test_retries_then_succeeds_with_injected_sleep(executor: str) -> None:
    flaky = Flaky(failures=3)
    retried: list[tuple[str, int]] = []
    slept: list[float] = []

    async def async_sleep(seconds: float) -> None:
        slept.append(seconds)

    wf = _one(flaky, retries=3, delay=1.0, backoff=2.0, jitter=0.1, on_retry=lambda n, a: retried.append((n, a)))
    options = RunOptions(executor=executor, store=None, sleep=slept.append, async_sleep=async_sleep, rand=lambda: 0.5)
    result = wf._run(options)
    assert result["flaky"] == "ok"
    assert retried == [("flaky", 1), ("flaky", 2), ("flaky", 3)]
    assert slept == [1.0, 2.0, 4.0]
    assert result.records["flaky"].attempts == 4
    assert result.records["flaky"].status is TaskStatus.COMPLETED


def test_retry_delays_really_happen() -> None:
    flaky = Flaky(failures=2)
    result = _one(flaky, retries=2, delay=0.05, backoff=2.0, jitter=0.0).run(executor="sequential", store=None)
    assert result["flaky"] == "ok"
    gaps = [b - a for a, b in zip(flaky.calls, flaky.calls[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1


def test_out_of_retries_fails_with_the_last_error() -> None:
    flaky = Flaky(failures=10)
    result = _one(flaky, retries=2, delay=0).run(store=None, raise_on_failure=False)
    assert len(flaky.calls) == 3
    assert str(result.errors["flaky"]) == "failure 3"
    assert result.records["flaky"].attempts == 3


def test_errors_not_in_retry_on_fail_at_once() -> None:
    flaky = Flaky(failures=1, error=ValueError)
    result = _one(flaky, retries=5, delay=0, retry_on=ConnectionError).run(store=None, raise_on_failure=False)
    assert len(flaky.calls) == 1
    assert isinstance(result.errors["flaky"], ValueError)


def test_a_raising_on_retry_does_not_stop_the_retries() -> None:
    flaky = Flaky(failures=1)

    def on_retry(name: str, attempt: int) -> None:
        raise RuntimeError("observer broke")

    assert _one(flaky, retries=1, delay=0, on_retry=on_retry).run(store=None)["flaky"] == "ok"
    assert len(flaky.calls) == 2


def test_timeouts_are_retried_like_other_errors() -> None:
    attempts: list[int] = []

    def slow_then_fast() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            time.sleep(1.0)
        return "fast"

    result = _one(slow_then_fast, retries=1, delay=0, timeout=0.2).run(executor="sequential", store=None)
    assert result["flaky"] == "fast" and len(attempts) == 2


def test_async_retries_on_the_async_executor() -> None:
    calls: list[int] = []

    async def flaky() -> int:
        calls.append(1)
        await asyncio.sleep(0)
        if len(calls) < 3:
            raise ConnectionError("not yet")
        return len(calls)

    assert _one(flaky, retries=2, delay=0.01).run(executor="async", store=None)["flaky"] == 3


def test_timeout_error_type_and_message() -> None:
    def stuck() -> None:
        time.sleep(1.0)

    result = _one(stuck, timeout=0.1).run(executor="thread", store=None, raise_on_failure=False)
    error = result.errors["flaky"]
    assert isinstance(error, TaskTimeoutError) and isinstance(error, TimeoutError)
    assert "'flaky'" in str(error) and "0.1" in str(error)


def test_max_delay_caps_the_delay_after_jitter() -> None:
    policy = RetryPolicy(retries=5, delay=10, backoff=2, jitter=0.1, max_delay=15)
    assert [policy.delay_for(n, rand=lambda: 0.999) for n in (1, 2, 3)] == [pytest.approx(10.998), 15.0, 15.0]
    assert policy.delay_for(3, rand=lambda: 0.0) == pytest.approx(13.5)


def _stuck_retrier(retrying: threading.Event | None = None) -> Task[..., Any]:
    """A task that always fails and would wait a minute before each of its retries."""

    def flaky() -> None:
        raise ConnectionError("down")

    on_retry = (lambda name, attempt: retrying.set()) if retrying is not None else None
    return Task(fn=flaky, retries=5, delay=60, jitter=0, on_retry=on_retry)


def test_an_interrupt_stops_a_task_waiting_to_retry_on_the_thread_executor() -> None:
    retrying = threading.Event()

    def interrupt() -> None:
        assert retrying.wait(30)
        _thread.interrupt_main()  # what Ctrl+C does

    wf = Workflow("interrupted-retry")
    wf.add_task(_stuck_retrier(retrying))
    wf.add_task(Task(fn=interrupt, name="interrupt"))
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        wf.run(executor="thread", max_workers=2, store=None)
    assert time.monotonic() - t0 < 30  # not the minute of the retry delay
    record = wf.get_task_record("flaky")
    assert record is not None and record.status is TaskStatus.FAILED and record.attempts == 1
    assert "not retried: the run is stopping" in "".join(getattr(record.error, "__notes__", []))


@pytest.mark.parametrize("executor", ["thread", "process", "async"])
def test_fail_fast_stops_tasks_waiting_to_retry(executor: str) -> None:
    def broken() -> None:
        time.sleep(0.5)  # usually the other task is waiting to retry by then; either order works
        raise ValueError("broken")

    wf = Workflow("fail-fast-retry")
    wf.add_task(_stuck_retrier())
    wf.add_task(Task(fn=broken, name="broken"))
    t0 = time.monotonic()
    result = wf.run(executor=executor, max_workers=2, fail_fast=True, raise_on_failure=False, store=None)
    assert time.monotonic() - t0 < 30  # not the minute of the retry delay
    assert result.records["broken"].status is TaskStatus.FAILED
    flaky = result.records["flaky"]
    assert flaky.status is TaskStatus.FAILED and flaky.attempts == 1
    assert isinstance(flaky.error, ConnectionError)
