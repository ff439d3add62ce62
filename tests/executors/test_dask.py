"""The Dask executor on a real LocalCluster (2 worker processes, 1 thread each): the same
outcomes as the sequential oracle, and the run semantics every executor keeps."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest
from ferroflow import (
    FerroflowError,
    SequentialExecutor,
    Task,
    TaskCancelledError,
    TaskStatus,
    TaskTimeoutError,
    Workflow,
    WorkflowError,
)
from ferroflow.executors.dask import DaskExecutor
from ferroflow.safetext import describe_error

from .test_equivalence import add_all, fail_if_multiple_of_7, outcome, random_workflow

# No dashboard, and the scheduler's HTTP server on a free port (not 8787, which others may hold).
NO_DASHBOARD: dict[str, Any] = {
    "dashboard_address": None,
    "scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # the workers import the tests' functions
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, env=env, **NO_DASHBOARD)
    c = distributed.Client(cluster, set_as_default=False)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture
def dask(client: Any) -> DaskExecutor:
    return DaskExecutor(client=client)


# ---------------------------------------------------------------- the oracle


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_dags_match_the_sequential_oracle(dask: DaskExecutor, seed: int) -> None:
    oracle = outcome(random_workflow(seed, 300).run(executor=SequentialExecutor(), store=None))
    assert outcome(random_workflow(seed, 300).run(executor=dask, store=None)) == oracle


def test_failures_block_the_same_tasks(dask: DaskExecutor) -> None:
    def run(ex: Any) -> tuple[dict[str, Any], dict[str, TaskStatus]]:
        wf = random_workflow(11, 200, fn=fail_if_multiple_of_7)
        return outcome(wf.run(executor=ex, store=None, raise_on_failure=False))

    oracle = run("sequential")
    assert TaskStatus.FAILED in oracle[1].values() and TaskStatus.UPSTREAM_FAILED in oracle[1].values()
    assert run(dask) == oracle


def test_params_skips_and_none_results_match(dask: DaskExecutor) -> None:
    def build() -> Workflow:
        wf = Workflow("mixed")
        wf.add_task(Task(fn=lambda base: base, name="base_value"))
        wf.add_task(Task(fn=lambda: None, name="nothing"))
        wf.add_task(Task(fn=lambda x: x * 2, name="double", when=lambda x: x > 100), depends_on=["base_value"])
        wf.add_task(Task(fn=lambda double, nothing, base: (double, nothing, base), name="report"))
        return wf

    expected = build().run(executor="sequential", store=None, params={"base": 5})
    got = build().run(executor=dask, store=None, params={"base": 5})
    assert dict(got) == dict(expected) == {"base_value": 5, "nothing": None, "report": (None, None, 5)}
    assert got.records["double"].status is TaskStatus.SKIPPED


# ---------------------------------------------------------------- retries, callbacks, logs


def _flaky(marker: str) -> int:
    """Fails on the first two calls (counted in a file: attempts may land on either worker)."""
    path = Path(marker)
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    if calls < 3:
        raise ConnectionError(f"call {calls} fails")
    return calls


def test_retries_and_callbacks_in_order_on_the_client(dask: DaskExecutor, tmp_path: Path) -> None:
    seen: list[tuple[str, Any]] = []
    marker = str(tmp_path / "calls")
    wf = Workflow("retries")
    wf.add_task(
        Task(
            fn=lambda: _flaky(marker),
            name="flaky",
            retries=2,
            delay=0.05,
            on_retry=lambda name, attempt: seen.append(("retry", attempt)),
            on_status_change=lambda name, status: seen.append(("status", status)),
        )
    )
    wf.add_task(Task(fn=lambda flaky: flaky * 10, name="after"))
    result = wf.run(executor=dask, store=tmp_path)
    assert result["after"] == 30
    assert result.records["flaky"].attempts == 3
    assert seen == [
        ("status", TaskStatus.RUNNING),
        ("retry", 1),
        ("retry", 2),
        ("status", TaskStatus.COMPLETED),
    ]
    assert threading.current_thread() is threading.main_thread()  # callbacks ran on this thread


def test_a_task_that_fails_for_good_after_its_retries(dask: DaskExecutor) -> None:
    wf = Workflow("no-luck")
    wf.add_task(Task(fn=lambda: 1 / 0, name="broken", retries=1, delay=0.01))
    wf.add_task(Task(fn=lambda broken: broken, name="downstream"))
    result = wf.run(executor=dask, store=None, raise_on_failure=False)
    assert result.records["broken"].status is TaskStatus.FAILED
    assert result.records["broken"].attempts == 2
    assert isinstance(result.errors["broken"], ZeroDivisionError)
    assert "on the Dask worker" in result.records["broken"].traceback
    assert result.records["downstream"].status is TaskStatus.UPSTREAM_FAILED
    with pytest.raises(WorkflowError, match="broken"):
        wf.run(executor=dask, store=None)


def _chatty() -> int:
    print("printed on the worker")
    logging.getLogger("ferroflow.task").warning("logged on the worker")
    return os.getpid()


def test_logs_and_prints_are_captured_on_the_worker_and_stored(dask: DaskExecutor, tmp_path: Path) -> None:
    wf = Workflow("chatty")
    wf.add_task(Task(fn=_chatty, name="chatty"))
    result = wf.run(executor=dask, store=tmp_path)
    assert result["chatty"] != os.getpid()  # it ran in a worker process
    logs = "\n".join(result.records["chatty"].logs)
    assert "printed on the worker" in logs and "logged on the worker" in logs
    with sqlite3.connect(tmp_path / "ferroflow.db") as db:
        (stored,) = db.execute("SELECT logs FROM tasks WHERE name = 'chatty'").fetchone()
    assert "printed on the worker" in stored


# ---------------------------------------------------------------- timeouts, fail_fast


def _wait_for(stop_file: str, limit: float = 20.0) -> str:
    """Sleep until ``stop_file`` exists (the test creates it), at most ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not Path(stop_file).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "woke"


def test_a_timeout_fails_the_task_and_blocks_its_downstream(dask: DaskExecutor, tmp_path: Path) -> None:
    stop = str(tmp_path / "stop")
    wf = Workflow("slow")
    wf.add_task(Task(fn=lambda: _wait_for(stop), name="slow", timeout=0.3))
    wf.add_task(Task(fn=lambda slow: slow, name="after"))
    wf.add_task(Task(fn=lambda: "fine", name="other"))
    try:
        result = wf.run(executor=dask, store=None, raise_on_failure=False)
    finally:
        Path(stop).touch()
    assert isinstance(result.errors["slow"], TaskTimeoutError)
    assert result.records["after"].status is TaskStatus.UPSTREAM_FAILED
    assert result["other"] == "fine"


def test_fail_fast_cancels_the_futures_not_finished(dask: DaskExecutor, tmp_path: Path) -> None:
    stop = str(tmp_path / "stop")
    wf = Workflow("fast-fail")
    wf.add_task(Task(fn=lambda: _wait_for(stop), name="slow"))
    wf.add_task(Task(fn=lambda: time.sleep(0.2) or 1 / 0, name="boom"))
    wf.add_task(Task(fn=lambda slow: slow, name="after_slow"))
    began = time.monotonic()
    try:
        result = wf.run(executor=dask, store=None, fail_fast=True, raise_on_failure=False)
    finally:
        Path(stop).touch()
    assert time.monotonic() - began < 15  # it did not wait for the slow task
    statuses = {n: r.status for n, r in result.records.items()}
    assert statuses == {
        "slow": TaskStatus.CANCELLED,
        "boom": TaskStatus.FAILED,
        "after_slow": TaskStatus.CANCELLED,
    }
    assert result.status == "failed"


def _scheduler_keys(dask_scheduler: Any) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks]


def test_downstream_tasks_are_submitted_before_their_upstream_ends(client: Any, tmp_path: Path) -> None:
    """As with plain Dask futures, the scheduler knows a chain's later tasks while the first
    runs (no round trip through the client per hop), and statuses still come in order."""
    stop = str(tmp_path / "go")
    seen: list[tuple[str, TaskStatus]] = []

    def log(name: str, status: TaskStatus) -> None:
        seen.append((name, status))

    wf = Workflow("ahead")
    wf.add_task(Task(fn=lambda: len(_wait_for(stop)), name="first", on_status_change=log))
    wf.add_task(Task(fn=lambda first: first * 2, name="second", on_status_change=log))
    wf.add_task(Task(fn=lambda second: second + 1, name="third", on_status_change=log))
    box: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: box.update(r=wf.run(executor=DaskExecutor(client=client), store=None)))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        keys: list[str] = []
        while time.monotonic() < deadline:
            keys = client.run_on_scheduler(_scheduler_keys)
            if any(k.startswith("third-") for k in keys):
                break
            time.sleep(0.05)
        assert any(k.startswith("third-") for k in keys), keys
        assert not any(status is TaskStatus.RUNNING for name, status in seen if name != "first")
    finally:
        Path(stop).touch()
        runner.join(60)
    assert box["r"]["third"] == 2 * box["r"]["first"] + 1
    assert [s for n, s in seen if n == "third"] == [TaskStatus.RUNNING, TaskStatus.COMPLETED]
    order = [n for n, s in seen if s is TaskStatus.RUNNING]
    assert order == ["first", "second", "third"]


def test_a_failure_ahead_blocks_the_tasks_submitted_after_it(dask: DaskExecutor) -> None:
    wf = Workflow("ahead-fails")
    wf.add_task(Task(fn=lambda: 1 / 0, name="root"))
    wf.add_task(Task(fn=lambda root: root, name="mid"))
    wf.add_task(Task(fn=lambda mid: mid, name="leaf"))
    wf.add_task(Task(fn=lambda: "ok", name="apart"))
    result = wf.run(executor=dask, store=None, raise_on_failure=False)
    statuses = {n: r.status for n, r in result.records.items()}
    assert statuses == {
        "root": TaskStatus.FAILED,
        "mid": TaskStatus.UPSTREAM_FAILED,
        "leaf": TaskStatus.UPSTREAM_FAILED,
        "apart": TaskStatus.COMPLETED,
    }


# ---------------------------------------------------------------- store, resume, gather


def _fails_unless(flag: str) -> str:
    if not Path(flag).exists():
        raise RuntimeError("not yet")
    return "now"


def _counted(marker_dir: str, name: str) -> str:
    with open(Path(marker_dir) / name, "a") as f:
        f.write("x")
    return name


def test_store_resume_and_run_report(dask: DaskExecutor, tmp_path: Path) -> None:
    flag, runs = str(tmp_path / "flag"), tmp_path / "runs"
    runs.mkdir()

    def build() -> Workflow:
        wf = Workflow("resumable")
        wf.add_task(Task(fn=lambda: _counted(str(runs), "first"), name="first"))
        wf.add_task(Task(fn=lambda first: _fails_unless(flag), name="second"))
        wf.add_task(Task(fn=lambda second: _counted(str(runs), "third"), name="third"))
        return wf

    failed = build().run(executor=dask, store=tmp_path, raise_on_failure=False)
    assert failed.status == "failed" and failed.records["third"].status is TaskStatus.UPSTREAM_FAILED
    steps = {s.id: s.status.value for s in failed.report.steps}
    assert steps == {"first": "SUCCESS", "second": "FAILED", "third": "SKIPPED"}
    Path(flag).touch()
    resumed = build().run(executor=dask, store=tmp_path, resume=failed.run_id)
    assert dict(resumed) == {"first": "first", "second": "now", "third": "third"}
    assert resumed.records["first"].resumed
    assert (runs / "first").read_text() == "x"  # not run again


def test_cache_hits_skip_the_cluster(dask: DaskExecutor, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()

    def build() -> Workflow:
        wf = Workflow("cached")
        wf.add_task(Task(fn=lambda: 20, name="base"))
        wf.add_task(Task(fn=lambda base: _counted(str(runs), "slow") and base + 1, name="slow", cache_ttl=600))
        return wf

    assert build().run(executor=dask, store=tmp_path)["slow"] == 21
    again = build().run(executor=dask, store=tmp_path)
    assert again["slow"] == 21 and again.records["slow"].cached
    assert (runs / "slow").read_text() == "x"


def test_gather_sinks_keeps_intermediate_results_on_the_cluster(client: Any, tmp_path: Path) -> None:
    def build() -> Workflow:
        wf = Workflow("sinks")
        wf.add_task(Task(fn=lambda: list(range(1000)), name="big"))
        wf.add_task(Task(fn=lambda big: sum(big), name="total"))
        wf.add_task(Task(fn=lambda big: len(big), name="count"))
        return wf

    result = build().run(executor=DaskExecutor(client=client, gather="sinks"), store=tmp_path)
    assert dict(result) == {"total": 499500, "count": 1000}
    assert result.records["big"].status is TaskStatus.COMPLETED
    with sqlite3.connect(tmp_path / "ferroflow.db") as db:
        rows = dict(db.execute("SELECT name, has_result FROM tasks WHERE run_id = ?", (result.run_id,)).fetchall())
    assert rows == {"big": 0, "total": 1, "count": 1}


# ---------------------------------------------------------------- bad input


def test_an_unpicklable_task_or_result_fails_naming_the_task(dask: DaskExecutor) -> None:
    lock = threading.Lock()
    wf = Workflow("pickles")
    wf.add_task(Task(fn=lambda: lock.locked(), name="holds_a_lock"))
    wf.add_task(Task(fn=lambda: threading.Lock(), name="returns_a_lock"))
    wf.add_task(Task(fn=lambda: "fine", name="fine"))
    result = wf.run(executor=dask, store=None, raise_on_failure=False)
    assert "'holds_a_lock'" in str(result.errors["holds_a_lock"])
    assert "cannot be pickled" in str(result.errors["holds_a_lock"])
    assert isinstance(result.errors["returns_a_lock"], FerroflowError)
    assert "'returns_a_lock'" in str(result.errors["returns_a_lock"])
    assert result["fine"] == "fine"


def test_a_worker_missing_a_module_fails_the_task_naming_it(dask: DaskExecutor, tmp_path: Path) -> None:
    module = tmp_path / "only_on_the_client_xyz.py"
    module.write_text("def value():\n    return 7\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import only_on_the_client_xyz  # type: ignore[import-not-found]

        wf = Workflow("missing-module")
        wf.add_task(Task(fn=only_on_the_client_xyz.value, name="needs_it"))
        wf.add_task(Task(fn=lambda: "fine", name="fine"))
        result = wf.run(executor=dask, store=None, raise_on_failure=False)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("only_on_the_client_xyz", None)
    assert "only_on_the_client_xyz" in str(result.errors["needs_it"])
    assert result["fine"] == "fine"


def test_an_address_that_does_not_answer_fails_in_bounded_time() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    wf = Workflow("nowhere")
    wf.add_task(Task(fn=add_all, name="a"))
    began = time.monotonic()
    with pytest.raises(FerroflowError, match=f"tcp://127.0.0.1:{port}"):
        wf.run(executor=DaskExecutor(address=f"tcp://127.0.0.1:{port}", connect_timeout=2), store=None)
    assert time.monotonic() - began < 30


def test_a_cluster_without_workers_fails_after_a_bounded_wait() -> None:
    cluster = distributed.LocalCluster(n_workers=0, processes=False, **NO_DASHBOARD)
    c = distributed.Client(cluster, set_as_default=False)
    try:
        wf = Workflow("idle")
        wf.add_task(Task(fn=add_all, name="a"))
        began = time.monotonic()
        with pytest.raises(FerroflowError, match="has no workers"):
            wf.run(executor=DaskExecutor(client=c, worker_timeout=1), store=None)
        assert time.monotonic() - began < 20
    finally:
        c.close()
        cluster.close()


def test_bad_gather_value() -> None:
    with pytest.raises(FerroflowError, match="gather must be 'all' or 'sinks'"):
        DaskExecutor(gather="some")


def test_the_address_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROFLOW_DASK_ADDRESS", "tcp://10.0.0.1:8786")
    assert DaskExecutor().address == "tcp://10.0.0.1:8786"
    assert DaskExecutor(address="tcp://other:1").address == "tcp://other:1"


# ---------------------------------------------------------------- fusion


@pytest.mark.parametrize("fuse", ["all", "off"])
def test_fusion_on_and_off_give_the_oracle_outcomes(client: Any, fuse: str) -> None:
    ex = DaskExecutor(client=client, fuse=fuse)
    submitted = []
    for seed, fn in ((1, add_all), (11, fail_if_multiple_of_7)):
        oracle = outcome(
            random_workflow(seed, 200, fn=fn).run(executor="sequential", store=None, raise_on_failure=False)
        )
        got = random_workflow(seed, 200, fn=fn).run(executor=ex, store=None, raise_on_failure=False)
        assert outcome(got) == oracle
        submitted.append(ex.submitted)
    if fuse == "all":
        assert ex.fusion["groups"] > 0 and submitted[0] < 100
    else:
        assert ex.fusion == {} and submitted[0] == 200


def test_fused_tasks_keep_retries_callbacks_when_and_logs(client: Any, tmp_path: Path) -> None:
    seen: list[tuple[str, Any]] = []
    marker = str(tmp_path / "calls")
    wf = Workflow("fused-details")
    wf.add_task(Task(fn=lambda: 4, name="four"))
    wf.add_task(
        Task(
            fn=lambda four: _flaky(marker) + four,
            name="flaky",
            retries=2,
            delay=0.01,
            on_retry=lambda name, attempt: seen.append(("retry", attempt)),
            on_status_change=lambda name, status: seen.append(("status", status)),
        )
    )
    wf.add_task(Task(fn=lambda flaky: _chatty() and flaky, name="chatty"))
    wf.add_task(Task(fn=lambda chatty: chatty, name="never", when=lambda chatty: chatty > 100))
    ex = DaskExecutor(client=client, short_tasks=["four", "flaky", "never", "chat*"])
    result = wf.run(executor=ex, store=tmp_path)
    assert ex.fusion["fused_tasks"] == 4 and ex.submitted == 1  # one chain, one Dask task
    assert dict(result) == {"four": 4, "flaky": 7, "chatty": 7}
    assert result.records["never"].status is TaskStatus.SKIPPED
    assert result.records["flaky"].attempts == 3
    assert seen == [("status", TaskStatus.RUNNING), ("retry", 1), ("retry", 2), ("status", TaskStatus.COMPLETED)]
    assert "printed on the worker" in "\n".join(result.records["chatty"].logs)


def test_history_makes_short_tasks_fused_and_every_worker_gets_work(client: Any, tmp_path: Path) -> None:
    def build() -> Workflow:
        wf = Workflow("wide")
        wf.add_task(Task(fn=lambda: 0, name="root"))
        for k in range(40):
            wf.add_task(Task(fn=lambda root, _k=k: (root, _k, os.getpid())[1:], name=f"leaf{k}"), depends_on=["root"])
        return wf

    first = DaskExecutor(client=client)
    build().run(executor=first, store=tmp_path)
    assert first.fusion == {} and first.submitted == 41  # no history yet: nothing is known to be short
    second = DaskExecutor(client=client)
    result = build().run(executor=second, store=tmp_path)
    assert second.fusion["groups"] >= 2 and second.submitted < 41
    assert len({pid for _, pid in (result[f"leaf{k}"] for k in range(40))}) == 2  # both workers ran leaves


def test_fusion_with_gather_sinks(client: Any, tmp_path: Path) -> None:
    wf = Workflow("fused-sinks")
    wf.add_task(Task(fn=lambda: [1, 2, 3], name="data"))
    wf.add_task(Task(fn=lambda data: sum(data), name="total"))
    result = wf.run(executor=DaskExecutor(client=client, gather="sinks", fuse="all"), store=tmp_path)
    assert dict(result) == {"total": 6}
    assert result.records["data"].status is TaskStatus.COMPLETED


def test_bad_fuse_value() -> None:
    with pytest.raises(FerroflowError, match="fuse must be 'auto', 'all' or 'off'"):
        DaskExecutor(fuse="maybe")


async def _fetch_user(uid: int) -> dict[str, int]:
    await asyncio.sleep(0)
    return {"id": uid}


async def _fetch_first() -> dict[str, int]:
    return await _fetch_user(0)


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_async_tasks_and_returned_coroutines_are_awaited_on_the_workers(
    dask: DaskExecutor, timeout: float | None
) -> None:
    wf = Workflow("coroutines")
    wf.add_task(Task(fn=_fetch_first, name="direct", timeout=timeout))
    for uid in (1, 2):
        wf.add_task(Task(fn=lambda uid=uid: _fetch_user(uid), name=f"u{uid}", timeout=timeout))
    wf.add_task(Task(fn=lambda direct, u1, u2: [direct, u1, u2], name="all"), depends_on=["direct", "u1", "u2"])
    result = wf.run(executor=dask, store=None)
    assert result["all"] == [{"id": 0}, {"id": 1}, {"id": 2}]


@pytest.mark.parametrize("fuse", ["off", "all"])
def test_one_status_vocabulary_on_dask(client: Any, fuse: str, tmp_path: Path) -> None:
    calls = tmp_path / "calls"

    def quitter() -> None:
        sys.exit(3)

    def stopped() -> None:
        with calls.open("a") as f:
            f.write("x")
        raise TaskCancelledError("stopped from outside")

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("__str__ is broken")

        __repr__ = __str__

    def boom() -> None:
        raise Unprintable()

    wf = Workflow(f"vocabulary-{fuse}")
    wf.add_task(Task(fn=quitter, name="quitter", retries=1, delay=0))
    wf.add_task(Task(fn=stopped, name="stopped", retries=2, delay=0))
    wf.add_task(Task(fn=lambda stopped: stopped, name="after"))
    wf.add_task(Task(fn=boom, name="boom"))
    wf.add_task(Task(fn=lambda: "fine", name="fine"))
    result = wf.run(executor=DaskExecutor(client=client, fuse=fuse), store=tmp_path, raise_on_failure=False)
    assert result.status == "failed" and result["fine"] == "fine"
    assert "task 'quitter' called sys.exit(3)" in str(result.errors["quitter"])
    assert result.records["quitter"].attempts == 2
    assert calls.read_text() == "x"  # cancelled: not retried
    assert result.records["stopped"].status is TaskStatus.CANCELLED
    assert result.records["stopped"].reason == "cancelled: stopped from outside"
    assert result.records["after"].status is TaskStatus.CANCELLED
    assert describe_error(result.errors["boom"]) == "Unprintable: <unprintable Unprintable object>"
