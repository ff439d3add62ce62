"""Dispatch rules: priority order, per-path order, failure isolation, async handlers, backpressure."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import pytest
from ferroflow import Change, FileEvent, WatchApp, on_any, on_created, on_modified
from ferroflow.watch.dispatch import Call, Dispatcher

from ..conftest import wait_until
from .conftest import Recorder


def test_handlers_of_one_event_run_in_priority_order_one_after_another(inbox: Path, app: WatchApp) -> None:
    log: list[str] = []
    lock = threading.Lock()

    def make(name: str, delay: float) -> object:
        def h(event: FileEvent) -> None:
            with lock:
                log.append(f"start {name}")
            time.sleep(delay)
            with lock:
                log.append(f"end {name}")

        return h

    on_created(inbox, priority=0, app=app)(make("low", 0.0))
    on_created(inbox, priority=10, app=app)(make("high", 0.2))
    on_created(inbox, priority=5, app=app)(make("mid", 0.1))
    on_created(inbox, priority=5, app=app)(make("mid2", 0.0))
    app.start()
    (inbox / "a").write_text("x")
    wait_until(lambda: len(log) == 8)
    assert log == [
        "start high", "end high", "start mid", "end mid", "start mid2", "end mid2", "start low", "end low"
    ]  # fmt: skip


def test_events_of_one_path_are_handled_in_order_never_concurrently(inbox: Path) -> None:
    app = WatchApp(debounce=0.05, max_workers=8)
    active: dict[str, int] = {}
    overlaps: list[str] = []
    seen: list[tuple[str, Change]] = []
    lock = threading.Lock()

    @on_any(inbox, app=app)
    def slow(event: FileEvent) -> None:
        with lock:
            active[event.path] = active.get(event.path, 0) + 1
            if active[event.path] > 1:
                overlaps.append(event.path)
            seen.append((event.name, event.change))
        time.sleep(0.3)
        with lock:
            active[event.path] -= 1

    app.start()
    try:
        f = inbox / "same"
        f.write_text("1")
        wait_until(lambda: len(seen) == 1)
        for i in range(3):  # each write lands in a new window while the handler still runs
            time.sleep(0.12)
            f.write_text(str(i))
        f.unlink()
        (inbox / "other").write_text("x")
        wait_until(lambda: ("same", Change.deleted) in seen and ("other", Change.added) in seen, timeout=20)
        wait_until(lambda: app.stats["pending"] == 0)
    finally:
        app.stop()
    assert overlaps == []
    same = [c for n, c in seen if n == "same"]
    assert same[0] == Change.added and same[-1] == Change.deleted
    assert set(same[1:-1]) <= {Change.modified}
    # another path is not held up behind the queue of "same"
    assert seen.index(("other", Change.added)) < seen.index(("same", Change.deleted))


def test_a_failing_handler_is_logged_counted_and_isolated(
    inbox: Path, app: WatchApp, caplog: pytest.LogCaptureFixture
) -> None:
    after = Recorder("after")

    @on_created(inbox, priority=1, app=app)
    def broken(event: FileEvent) -> None:
        raise KeyError("no such column")

    on_created(inbox, priority=0, app=app)(after)
    with caplog.at_level(logging.ERROR, logger="ferroflow.watch"):
        app.start()
        (inbox / "a").write_text("x")
        (inbox / "b").write_text("x")
        after.wait_for(2)
        wait_until(lambda: app.stats["handler_errors"] == 2)
    assert app.is_running
    failures = [r for r in caplog.records if "broken" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info and r.exc_info[0] is KeyError for r in failures)
    assert sorted(after.names()) == [(Change.added, "a"), (Change.added, "b")]


def test_async_handlers_run_on_one_loop_thread_concurrently(inbox: Path, app: WatchApp) -> None:
    threads: set[int] = set()
    running = 0
    peak = 0
    done: list[str] = []

    @on_created(inbox, app=app)
    async def handler(event: FileEvent) -> None:
        nonlocal running, peak
        threads.add(threading.get_ident())
        asyncio.get_running_loop()  # we are on a loop
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.3)
        running -= 1
        done.append(event.name)

    app.start()
    for i in range(8):
        (inbox / f"f{i}").write_text("x")
    wait_until(lambda: len(done) == 8)
    assert len(threads) == 1
    assert threading.main_thread().ident not in threads
    assert peak > 1  # async handlers overlap on the loop


def test_sync_and_async_handlers_mix_in_priority_order(inbox: Path, app: WatchApp) -> None:
    order: list[str] = []

    @on_modified(inbox, priority=2, app=app)
    async def first(event: FileEvent) -> None:
        await asyncio.sleep(0.05)
        order.append("async")

    @on_modified(inbox, priority=1, app=app)
    def second(event: FileEvent) -> None:
        order.append("sync")

    (inbox / "m").write_text("0")
    app.start()
    (inbox / "m").write_text("1")
    wait_until(lambda: len(order) == 2)
    assert order == ["async", "sync"]


def test_async_handler_failures_are_isolated_too(inbox: Path, app: WatchApp) -> None:
    @on_created(inbox, app=app)
    async def bad(event: FileEvent) -> None:
        raise ValueError("async boom")

    app.start()
    (inbox / "x").write_text("x")
    wait_until(lambda: app.stats["handler_errors"] == 1)
    assert app.is_running


def test_a_slow_handler_slows_intake_without_dropping_events(inbox: Path) -> None:
    app = WatchApp(debounce=0.05, max_workers=2, max_pending=4)
    gate = threading.Event()
    handled: list[str] = []
    peak_pending = 0

    @on_created(inbox, app=app)
    def slow(event: FileEvent) -> None:
        gate.wait(30)
        handled.append(event.name)

    app.start()
    try:
        for i in range(200):
            (inbox / f"f{i:03d}").write_text("x")
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # the handlers are blocked: pending must stay bounded
            peak_pending = max(peak_pending, app.stats["pending"])
            time.sleep(0.01)
        assert app.stats["events_total"] <= 4 + 1  # intake waits instead of queueing everything
        gate.set()
        wait_until(lambda: len(handled) == 200, timeout=30)
    finally:
        gate.set()
        app.stop()
    assert peak_pending <= 4
    assert sorted(handled) == [f"f{i:03d}" for i in range(200)]


def test_dispatcher_shutdown_drops_queued_events_and_counts_them() -> None:
    d = Dispatcher(max_workers=1, max_pending=10)
    gate = threading.Event()
    ran: list[int] = []

    def block(event: FileEvent) -> None:
        gate.wait(10)
        ran.append(1)

    e = FileEvent(Change.added, "/r/a", "/r")
    assert d.submit("/r/a", [Call("block", block, False, e)])
    assert d.submit("/r/a", [Call("block", block, False, e)])  # same path: waits behind the first
    wait_until(lambda: d.pending == 2)
    threading.Timer(0.2, gate.set).start()
    assert d.shutdown(timeout=10)
    assert ran == [1] and d.dropped == 1
    assert not d.submit("/r/b", [Call("block", block, False, e)])


def test_submit_many_takes_what_max_pending_allows_and_keeps_each_path_in_order() -> None:
    d = Dispatcher(max_workers=2, max_pending=3)
    gate = threading.Event()
    handled: list[str] = []
    lock = threading.Lock()
    runs: list[int] = []

    def h(event: FileEvent) -> None:
        gate.wait(30)
        with lock:
            handled.append(str(event.path))

    paths = ["/r/a", "/r/b", "/r/a", "/r/c", "/r/a", "/r/d", "/r/b"]
    jobs = [(p, [("h", h, False, FileEvent(Change.modified, p, "/r"))]) for p in paths]
    accepted: list[int] = []
    intake = threading.Thread(target=lambda: accepted.append(d.submit_many(jobs, lambda part: runs.append(len(part)))))
    intake.start()
    wait_until(lambda: d.pending == 3)
    assert runs == [3]  # the intake waits for room instead of queueing everything
    gate.set()
    intake.join(30)
    assert accepted == [7]
    assert d.shutdown(timeout=30)
    assert sum(runs) == 7 and max(runs) <= 3
    assert sorted(handled) == sorted(paths)
    assert [p for p in handled if p == "/r/a"] == ["/r/a"] * 3
    assert d.calls == 7 and d.errors == 0 and d.dropped == 0


def test_submit_many_stops_taking_events_at_shutdown() -> None:
    d = Dispatcher(max_workers=1, max_pending=1)
    gate, started = threading.Event(), threading.Event()

    def block(event: FileEvent) -> None:
        started.set()
        gate.wait(30)

    e = FileEvent(Change.added, "/r/a", "/r")
    jobs = [(f"/r/{i}", [("block", block, False, e)]) for i in range(3)]
    accepted: list[int] = []
    intake = threading.Thread(target=lambda: accepted.append(d.submit_many(jobs)))
    intake.start()
    assert started.wait(30)  # the first handler runs (not merely queued)
    wait_until(lambda: d.pending == 1)
    assert not d.shutdown(timeout=0.05)  # the first handler still runs
    intake.join(30)
    assert accepted == [1]
    gate.set()
    assert d.shutdown(timeout=30)
    assert d.calls == 1 and d.pending == 0


def test_handler_counts_add_up_over_restarts(inbox: Path) -> None:
    app = WatchApp(debounce=0.05)

    @on_created(inbox, app=app)
    def flaky(event: FileEvent) -> None:
        if event.name.startswith("bad"):
            raise ValueError("bad file")

    for calls, name in enumerate(("a", "bad1"), start=1):
        app.start()
        try:
            (inbox / name).write_text("x")
            wait_until(lambda n=calls: app.stats["handler_calls"] == n)
        finally:
            app.stop()
        assert app.stats["handler_calls"] == calls  # kept once the session is gone
    assert app.stats["handler_errors"] == 1 and app.stats["events_total"] == 2
