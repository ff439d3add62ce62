"""Workflow: validation, inspection, failure semantics, callbacks and run keywords."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from typing import Any

import pytest
from ferroflow import (
    CycleError,
    DuplicateTaskError,
    FerroflowError,
    RunResult,
    Task,
    TaskRecord,
    TaskStatus,
    UnknownDependencyError,
    Workflow,
    WorkflowError,
)
from ferroflow._core import Graph
from ferroflow.context import current_task

S = TaskStatus


def boom() -> None:
    raise ValueError("boom")


def _diamond() -> Workflow:
    wf = Workflow("diamond")
    wf.add_task(Task(fn=lambda: 1, name="a"))
    wf.add_task(Task(fn=lambda a: a + 1, name="b"))
    wf.add_task(Task(fn=lambda a: a * 10, name="c"))
    wf.add_task(Task(fn=lambda b, c: b + c, name="d"))
    return wf


# ---------------------------------------------------------------- validation


def test_duplicate_name_is_rejected() -> None:
    wf = Workflow("w")
    wf.add_task(Task(fn=lambda: 1, name="a"))
    with pytest.raises(DuplicateTaskError, match="'a'") as info:
        wf.add_task(Task(fn=lambda: 2, name="a"))
    assert isinstance(info.value, ValueError)


def test_unknown_dependency_is_named() -> None:
    wf = Workflow("w")
    wf.add_task(Task(fn=lambda: 1, name="extract"))
    with pytest.raises(UnknownDependencyError, match="'extrct'") as info:
        wf.add_task(Task(fn=lambda x: x, name="load"), depends_on=["extrct"])
    assert "did you mean 'extract'" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert "load" not in wf


def test_self_dependency_is_a_cycle() -> None:
    wf = Workflow("w")
    with pytest.raises(CycleError) as info:
        wf.add_task(Task(fn=lambda: 1, name="a"), depends_on=["a"])
    assert info.value.cycle == ["a", "a"]


def test_cycle_error_gives_the_path_in_dependency_direction() -> None:
    wf = Workflow("w")
    wf.add_task(Task(fn=lambda c=None: 0, name="a"))
    wf.add_task(Task(fn=lambda: 0, name="b"), depends_on=["a"])
    with pytest.raises(CycleError) as info:
        wf.add_task(Task(fn=lambda: 0, name="c"), depends_on=["b"])
    assert info.value.cycle == ["a", "b", "c", "a"]
    assert "a -> b -> c -> a" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_depends_on_accepts_task_objects_and_a_single_name() -> None:
    wf = Workflow("w")
    a = wf.add_task(Task(fn=lambda: 1, name="a"))
    wf.add_task(Task(fn=lambda x: x, name="b"), depends_on=a)
    wf.add_task(Task(fn=lambda x: x, name="c"), depends_on="b")
    assert wf.get_dependencies("c") == ["b"]
    assert wf.run(store=None)["c"] == 1


@pytest.mark.parametrize(
    ("deps", "kept"),
    [
        (["a", "a"], ["a"]),
        (["a", "b", "a"], ["a", "b"]),
        (["b", "b", "a"], ["b", "a"]),
        (["a", "b", "c", "b"], ["a", "b", "c"]),
        (["c", "a", "b"], ["c", "a", "b"]),
        (["a", "b", "c", "d"], ["a", "b", "c", "d"]),
    ],
)
def test_a_repeated_dependency_counts_once_in_its_first_place(deps: list[str], kept: list[str]) -> None:
    def count(*ups: Any) -> int:
        return len(ups)

    wf = Workflow("w")
    for name in "abcd":
        wf.add_task(Task(count, name=name))
    wf.add_task(Task(count, name="x"), depends_on=deps)
    assert wf.get_dependencies("x") == kept
    assert wf.run(executor="sequential", store=None)["x"] == len(kept)


def test_a_list_of_dependencies_with_a_task_or_an_unknown_name_is_checked_as_before() -> None:
    wf = Workflow("w")
    a = wf.add_task(Task(fn=lambda: 1, name="a"))
    wf.add_task(Task(fn=lambda *xs: sum(xs), name="b"), depends_on=[a, "a"])
    assert wf.get_dependencies("b") == ["a"]
    with pytest.raises(UnknownDependencyError, match="nope"):
        wf.add_task(Task(fn=lambda *xs: 0, name="c"), depends_on=["a", "nope"])
    with pytest.raises(CycleError):
        wf.add_task(Task(fn=lambda *xs: 0, name="d"), depends_on=["a", "d"])
    assert "c" not in wf and "d" not in wf


def test_add_task_wraps_plain_functions() -> None:
    def hello() -> str:
        return "hi"

    wf = Workflow("w")
    t = wf.add_task(hello)
    assert isinstance(t, Task) and t.name == "hello"
    with pytest.raises(TypeError, match="Task or a callable"):
        wf.add_task(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- inspection


def test_execution_plan_is_kahn_layers() -> None:
    wf = _diamond()
    assert [[t.name for t in layer] for layer in wf.get_execution_plan()] == [["a"], ["b", "c"], ["d"]]


def test_inspection_methods() -> None:
    wf = _diamond()
    assert wf.get_task("d").name == "d"
    assert wf.get_dependencies("d") == ["b", "c"]
    assert wf.get_dependents("a") == ["b", "c"]
    assert list(wf.get_all_tasks()) == ["a", "b", "c", "d"]
    assert len(wf) == 4 and "b" in wf and "z" not in wf
    with pytest.raises(KeyError, match="'z'"):
        wf.get_task("z")
    assert wf.get_task_status("a") is S.PENDING
    assert wf.get_task_result("a") is None
    stats = wf.get_workflow_stats()
    assert stats == {
        "total_tasks": 4,
        "completed": 0,
        "failed": 0,
        "skipped": 0,
        "pending": 4,
        "running": 0,
        "total_time_seconds": 0.0,
    }


def test_run_returns_a_mapping_with_metadata() -> None:
    wf = _diamond()
    result = wf.run(store=None)
    assert isinstance(result, RunResult)
    assert dict(result) == {"a": 1, "b": 2, "c": 10, "d": 12}
    assert result.status == "completed" and result.ok
    assert result.run_id and result.workflow == "diamond"
    assert result.errors == {}
    assert set(result.stats) == {
        "total_tasks",
        "completed",
        "failed",
        "skipped",
        "pending",
        "running",
        "total_time_seconds",
    }
    assert result.stats["completed"] == 4
    assert result.records["d"].status is S.COMPLETED and result.records["d"].attempts == 1
    assert wf.get_task_status("d") is S.COMPLETED
    assert wf.get_task_result("d") == 12
    assert wf.get_workflow_stats()["completed"] == 4


# ---------------------------------------------------------------- failures


def _failing() -> Workflow:
    wf = Workflow("failing")
    wf.add_task(Task(fn=lambda: 1, name="root"))
    wf.add_task(Task(fn=lambda root: boom(), name="bad"))
    wf.add_task(Task(fn=lambda bad: bad, name="after_bad"))
    wf.add_task(Task(fn=lambda after_bad: after_bad, name="far_after_bad"))
    wf.add_task(Task(fn=lambda root: root + 1, name="independent"))
    return wf


@pytest.mark.parametrize("executor", ["sequential", "thread", "async"])
def test_failure_blocks_downstream_and_independent_branches_run(executor: str) -> None:
    wf = _failing()
    with pytest.raises(WorkflowError) as info:
        wf.run(executor=executor, store=None)
    err = info.value
    assert isinstance(err, RuntimeError)
    assert "bad" in str(err) and "ValueError" in str(err)
    assert set(err.errors) == {"bad"} and isinstance(err.errors["bad"], ValueError)
    assert "boom" in err.tracebacks["bad"]
    result = err.result
    assert result.status == "failed"
    assert dict(result) == {"root": 1, "independent": 2}
    assert result.records["after_bad"].status is S.UPSTREAM_FAILED
    assert result.records["far_after_bad"].status is S.UPSTREAM_FAILED
    assert "'bad'" in (result.records["far_after_bad"].reason or "")
    assert result.stats["failed"] == 1 and result.stats["completed"] == 2


def test_raise_on_failure_false_returns_the_partial_result() -> None:
    result = _failing().run(store=None, raise_on_failure=False)
    assert result.status == "failed" and not result.ok
    assert isinstance(result.errors["bad"], ValueError)
    assert result["independent"] == 2


@pytest.mark.parametrize("executor", ["sequential", "thread", "async"])
def test_fail_fast_cancels_tasks_not_started(executor: str) -> None:
    failed = threading.Event()

    def on_status(name: str, status: TaskStatus) -> None:
        if status is S.FAILED:
            failed.set()

    def slow_start() -> int:
        failed.wait(10)  # hold the chain until the failure happened
        return 0

    wf = Workflow("ff")
    wf.add_task(Task(fn=boom, name="first", on_status_change=on_status))
    wf.add_task(Task(fn=lambda first: 1, name="gate"))
    wf.add_task(Task(fn=slow_start, name="x0"))
    for i in range(1, 6):
        wf.add_task(Task(fn=lambda x: x, name=f"x{i}"), depends_on=[f"x{i - 1}"])
    result = wf.run(executor=executor, max_workers=2, store=None, fail_fast=True, raise_on_failure=False)
    statuses = {n: r.status for n, r in result.records.items()}
    assert statuses["first"] is S.FAILED
    assert statuses["gate"] is S.UPSTREAM_FAILED
    assert [statuses[f"x{i}"] for i in range(1, 6)] == [S.CANCELLED] * 5
    assert "fail_fast" in (result.records["x5"].reason or "")
    assert result.status == "failed"


def test_when_false_skips_and_when_receives_the_task_inputs() -> None:
    seen: list[Any] = []

    def when(size: int) -> bool:
        seen.append(size)
        return size > 1000

    wf = Workflow("when")
    wf.add_task(Task(fn=lambda: 10, name="size"))
    wf.add_task(Task(fn=lambda size: "loaded", name="load", when=when))
    wf.add_task(Task(fn=lambda load: load, name="after"))
    result = wf.run(store=None)
    assert seen == [10]
    assert wf.get_task_status("load") is S.SKIPPED
    assert result["after"] is None
    assert result.stats["skipped"] == 1 and result.status == "completed"


def test_a_when_that_raises_fails_the_task_with_that_error() -> None:
    def when(x: int) -> bool:
        raise KeyError("no such column")

    wf = Workflow("w")
    wf.add_task(Task(fn=lambda: 1, name="x"))
    wf.add_task(Task(fn=lambda x: x, name="guarded", when=when))
    result = wf.run(store=None, raise_on_failure=False)
    error = result.errors["guarded"]
    assert isinstance(error, KeyError)
    assert any("guarded" in note for note in getattr(error, "__notes__", []))


# ---------------------------------------------------------------- callbacks


@pytest.mark.parametrize("executor", ["sequential", "thread", "async"])
def test_on_status_change_sees_every_transition_in_order(executor: str) -> None:
    events: list[tuple[str, TaskStatus]] = []
    lock = threading.Lock()

    def record(name: str, status: TaskStatus) -> None:
        with lock:
            events.append((name, status))

    wf = Workflow("cb")
    wf.add_task(Task(fn=lambda: 1, name="ok", on_status_change=record))
    wf.add_task(Task(fn=boom, name="bad", on_status_change=record))
    wf.add_task(Task(fn=lambda bad: bad, name="blocked", on_status_change=record))
    wf.add_task(Task(fn=lambda: 1, name="skipped", when=lambda: False, on_status_change=record))
    wf.run(executor=executor, store=None, raise_on_failure=False)
    by_task: dict[str, list[TaskStatus]] = {}
    for name, status in events:
        by_task.setdefault(name, []).append(status)
    assert by_task == {
        "ok": [S.RUNNING, S.COMPLETED],
        "bad": [S.RUNNING, S.FAILED],
        "blocked": [S.UPSTREAM_FAILED],
        "skipped": [S.SKIPPED],
    }


def test_a_raising_callback_is_logged_and_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def fn() -> int:
        calls.append(1)
        return 5

    def bad_callback(name: str, status: TaskStatus) -> None:
        raise RuntimeError("callback broke")

    wf = Workflow("w")
    wf.add_task(Task(fn=fn, name="t", on_status_change=bad_callback))
    with caplog.at_level(logging.ERROR, logger="ferroflow"):
        result = wf.run(store=None)
    assert result["t"] == 5 and calls == [1]
    assert "on_status_change" in caplog.text and "'t'" in caplog.text


def test_progress_is_called_once_per_task_with_its_final_record() -> None:
    seen: list[TaskRecord] = []
    lock = threading.Lock()

    def progress(rec: TaskRecord) -> None:
        with lock:
            seen.append(rec)
        if rec.name == "a":
            raise RuntimeError("progress bar broke")  # logged, never fails the run

    result = _failing().run(store=None, raise_on_failure=False, progress=progress)
    assert sorted(r.name for r in seen) == sorted(result.records)
    assert all(r.status.is_final for r in seen)


# ---------------------------------------------------------------- run keywords and context


def test_params_and_task_context() -> None:
    seen: dict[str, Any] = {}

    def work(factor: int) -> int:
        ctx = current_task()
        assert ctx is not None
        seen.update(task=ctx.task, workflow=ctx.workflow, attempt=ctx.attempt, params=ctx.params, run=ctx.run_id)
        ctx.logs.append("hello from work")
        return factor * 2

    wf = Workflow("ctx")
    wf.add_task(Task(fn=work, name="work"))
    result = wf.run(store=None, params={"factor": 21})
    assert result["work"] == 42
    assert seen == {"task": "work", "workflow": "ctx", "attempt": 1, "params": {"factor": 21}, "run": result.run_id}
    assert result.records["work"].logs == ["hello from work"]
    assert current_task() is None


@pytest.mark.parametrize("executor", ["sequential", "thread", "async"])
def test_each_plain_task_sees_its_own_context_and_keeps_its_own_logs(executor: str) -> None:
    seen: dict[str, str] = {}
    lock = threading.Lock()

    def make(name: str, talk: bool) -> Task[..., str]:
        def body(*ups: str) -> str:
            ctx = current_task()
            assert ctx is not None
            if talk:
                ctx.logs.append(f"{ctx.task} speaking")
            with lock:
                seen[name] = ctx.task
            return name

        return Task(fn=body, name=name)

    contexts_in_progress: list[object] = []
    wf = Workflow("ctx-many")
    for i in range(40):
        wf.add_task(make(f"t{i}", talk=i % 3 == 0), depends_on=[f"t{i - 1}"] if i else None)
    result = wf.run(executor=executor, store=None, progress=lambda rec: contexts_in_progress.append(current_task()))
    assert seen == {f"t{i}": f"t{i}" for i in range(40)}
    for i in range(40):
        assert result.records[f"t{i}"].logs == ([f"t{i} speaking"] if i % 3 == 0 else [])
    assert contexts_in_progress == [None] * 40  # between tasks nothing is running
    assert current_task() is None


def test_a_context_kept_by_a_task_stays_its_own() -> None:
    kept = []
    wf = Workflow("keep")
    wf.add_task(Task(fn=lambda: kept.append(current_task()), name="first"))
    wf.add_task(Task(fn=lambda first: kept.append(current_task()), name="second"))
    wf.run(executor="sequential", store=None)
    assert [c.task for c in kept] == ["first", "second"]


def test_background_work_a_task_leaves_behind_never_takes_over_the_next_tasks_context() -> None:
    go, done = threading.Event(), threading.Event()
    seen: list[object] = []

    def background() -> None:
        go.wait(10)
        ctx = current_task()  # the worker thread runs another task by now
        if ctx is not None:
            ctx.logs.append("from the background")
        seen.append(ctx.task if ctx is not None else None)
        done.set()

    def first() -> int:
        ctx = contextvars.copy_context()
        threading.Thread(target=ctx.run, args=(background,)).start()
        return 1

    def second(x: int) -> int:
        go.set()
        assert done.wait(10)
        mine = current_task()
        assert mine is not None and mine.task == "second"
        mine.logs.append("second speaking")
        return x

    wf = Workflow("background")
    wf.add_task(Task(fn=first, name="first"))
    wf.add_task(Task(fn=second, name="second"), depends_on=["first"])
    result = wf.run(executor="sequential", store=None)
    # The background thread sees the task running now (documented), and nothing it does
    # gets "first" a context again or costs "second" its own logs.
    assert seen == ["second"]
    assert result.records["first"].logs == []
    assert "second speaking" in result.records["second"].logs


@pytest.mark.parametrize("executor", ["sequential", "thread", "async", "process"])
def test_star_args_takes_every_upstream_after_the_positionals(executor: str) -> None:
    def gather(first: int, *rest: int) -> list[int]:
        return [first, *rest]

    wf = Workflow("star")
    for name, value in [("x", 1), ("y", 2), ("z", 3)]:
        wf.add_task(Task(fn=lambda v=value: v, name=name))
    wf.add_task(Task(fn=gather, name="gather"), depends_on=["z", "x", "y"])
    wf.add_task(Task(fn=gather, name="alone"), depends_on=["y"])
    wf.add_task(Task(fn=gather, name="nothing"))
    result = wf.run(executor=executor, store=None, raise_on_failure=False)
    assert result["gather"] == [3, 1, 2]
    assert result["alone"] == [2]
    assert "nothing" not in result  # `first` has no value: a clear failure, not a call
    assert "first" in str(result.errors["nothing"])


def test_async_tasks_run_on_sync_executors() -> None:
    async def fetch() -> int:
        await asyncio.sleep(0.001)
        return 3

    for executor in ("sequential", "thread"):
        wf = Workflow("a")
        wf.add_task(Task(fn=fetch, name="fetch"))
        wf.add_task(Task(fn=lambda fetch: fetch + 1, name="plus"))
        assert wf.run(executor=executor, store=None)["plus"] == 4


def test_execute_async_inside_a_running_loop() -> None:
    async def fetch() -> int:
        await asyncio.sleep(0)
        return 1

    wf = Workflow("aio")
    wf.add_task(Task(fn=fetch, name="fetch"))
    wf.add_task(Task(fn=lambda fetch: fetch + 1, name="sync_after"))

    async def main() -> tuple[Any, Any]:
        on_loop = await wf.execute_async(store=None)
        threaded = await wf.execute_async(executor="thread", store=None)
        return dict(on_loop), dict(threaded)

    assert asyncio.run(main()) == ({"fetch": 1, "sync_after": 2}, {"fetch": 1, "sync_after": 2})


def test_run_async_executor_from_inside_a_running_loop_uses_a_fresh_thread() -> None:
    wf = _diamond()

    async def main() -> dict[str, Any]:
        return dict(wf.run(executor="async", store=None))

    assert asyncio.run(main()) == {"a": 1, "b": 2, "c": 10, "d": 12}


def test_unknown_executor_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown executor"):
        _diamond().run(executor="quantum", store=None)


def test_workflow_is_subclassable_around_run() -> None:
    class Tracked(Workflow):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.calls: list[str] = []

        def _run(self, options: Any) -> RunResult:
            self.calls.append("before")
            try:
                return super()._run(options)
            finally:
                self.calls.append("after")

    wf = Tracked("sub")
    wf.add_task(Task(fn=lambda: 1, name="a"))
    assert wf.run(store=None)["a"] == 1
    assert wf.calls == ["before", "after"]


def test_stats_after_a_failed_run() -> None:
    wf = _failing()
    wf.run(store=None, raise_on_failure=False)
    stats = wf.get_workflow_stats()
    assert (stats["total_tasks"], stats["completed"], stats["failed"], stats["pending"]) == (5, 2, 1, 2)
    assert stats["total_time_seconds"] >= 0


# ---------------------------------------------------------------- the store, resume, cache, report


def _store_wf(calls: list[str]) -> Workflow:
    def expensive(base: int) -> int:
        calls.append("expensive")
        return base * 2

    def flaky(expensive: int) -> int:
        calls.append("flaky")
        if len([c for c in calls if c == "flaky"]) == 1:
            raise RuntimeError("first run fails")
        return expensive + 1

    wf = Workflow("stored")
    wf.add_task(Task(fn=lambda: 21, name="base"))
    wf.add_task(Task(fn=expensive, name="expensive"))
    wf.add_task(Task(fn=flaky, name="flaky"))
    return wf


def test_every_run_is_recorded_in_the_default_store(_isolated_home: Any) -> None:
    from ferroflow.store.store import open_store

    result = _store_wf([]).run(raise_on_failure=False, params={"mode": "x"})
    store = open_store()
    assert store is not None and str(store.path).startswith(str(_isolated_home))
    detail = store.get_run(result.run_id)
    assert detail.run.status == "failed" and detail.run.workflow == "stored"
    assert detail.task("expensive").status == "completed"
    assert detail.task("flaky").status == "failed" and "first run fails" in (detail.task("flaky").error or "")


def test_resume_reuses_completed_tasks_without_running_them() -> None:
    calls: list[str] = []
    wf = _store_wf(calls)
    first = wf.run(raise_on_failure=False)
    assert first.status == "failed" and calls == ["expensive", "flaky"]
    second = wf.run(resume=first.run_id)
    assert second.status == "completed" and second["flaky"] == 43
    assert calls == ["expensive", "flaky", "flaky"]  # `expensive` was not run again
    assert second.records["expensive"].resumed and second.records["expensive"].status is TaskStatus.COMPLETED
    assert second.records["expensive"].attempts == 0


def test_resume_true_picks_the_last_failed_run() -> None:
    calls: list[str] = []
    wf = _store_wf(calls)
    wf.run(raise_on_failure=False)
    assert wf.run(resume=True)["flaky"] == 43
    assert calls.count("expensive") == 1


def test_resume_needs_a_store() -> None:
    from ferroflow import StoreError

    with pytest.raises(StoreError, match="store"):
        _store_wf([]).run(store=None, resume="nope")


def test_cache_hits_across_workflow_objects_and_refresh_recomputes(tmp_path: Any) -> None:
    calls: list[int] = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    def build() -> Workflow:
        wf = Workflow("cache")
        wf.add_task(Task(fn=lambda: 7, name="x"))
        wf.add_task(Task(fn=square, name="square", cache_ttl=60))
        return wf

    db = tmp_path / "cache.db"
    assert build().run(store=db)["square"] == 49
    again = build().run(store=db)
    assert again["square"] == 49 and calls == [7]
    assert again.records["square"].cached and again.records["square"].attempts == 0
    build().run(store=db, refresh=True)
    assert calls == [7, 7]


def test_report_path_writes_the_run_report(tmp_path: Any) -> None:
    import json

    path = tmp_path / "out" / "report.json"
    result = _diamond().run(store=None, report_path=path)
    data = json.loads(path.read_text())
    assert result.report is not None
    assert json.dumps(data)  # valid JSON
    assert len(result.report.steps) == 4


@pytest.mark.parametrize("executor", ["sequential", "thread"])
def test_keyboard_interrupt_in_a_task_cancels_the_run(executor: str) -> None:
    def stop(a: int) -> None:
        raise KeyboardInterrupt

    wf = Workflow("interrupted")
    wf.add_task(Task(fn=lambda: 1, name="a"))
    wf.add_task(Task(fn=stop, name="stop"))
    wf.add_task(Task(fn=lambda stop: stop, name="after"))
    with pytest.raises(KeyboardInterrupt):
        wf.run(executor=executor, max_workers=1, store=None)
    assert wf.get_task_status("a") is S.COMPLETED
    assert wf.get_task_status("after") is S.CANCELLED
    assert wf.get_task_status("stop") in (S.CANCELLED, S.FAILED)
    assert current_task() is None


def test_spec_explicit_example_with_the_default_store() -> None:
    def extract() -> list[int]:
        return [1, 2, 3]

    def load(rows: list[int]) -> int:
        return len(rows)

    wf = Workflow("etl")
    wf.add_task(Task(name="extract", fn=extract))
    wf.add_task(Task(name="load", fn=load), depends_on=["extract"])
    result = wf.run(executor="thread", max_workers=4)
    assert dict(result) == {"extract": [1, 2, 3], "load": 3}
    assert result.report is not None and result.status == "completed"


def test_graph_bulk_helpers_add_nodes_after_their_upstream_ids() -> None:
    g = Graph()
    assert g.add_node_after("a", []) == 0
    assert g.add_node_after("b", [0]) == 1
    g.extend_upstreams(["c", "d"], [[0, 1], [2]])
    assert g.predecessors("c") == ["a", "b"] and g.predecessors("d") == ["c"]
    with pytest.raises(CycleError):  # d -> a closes a loop: nothing of the batch is kept
        g.extend_upstreams(["e"], [[3]], [(3, 0)])
    assert "e" not in g and g.edge_count == 4
    with pytest.raises(FerroflowError):  # an unknown id: the node is not added
        g.add_node_after("f", [99])
    assert "f" not in g
    with pytest.raises(ValueError):
        g.extend_upstreams(["g"], [])


def test_bulk_add_with_name_injection_into_earlier_tasks() -> None:
    wf = Workflow("inject")
    wf.add_task(Task(fn=lambda later: later + 1, name="early"))
    wf._add_many([Task(fn=lambda: 41, name="later")], {})
    assert wf.get_dependencies("early") == ["later"]
    assert wf.run(executor="sequential", store=None)["early"] == 42
    with pytest.raises(DuplicateTaskError):
        wf._add_many([Task(fn=lambda: 0, name="x"), Task(fn=lambda: 0, name="x")], {})
    assert "x" not in wf and len(wf.graph) == 2


def test_run_ids_drawn_in_one_second_never_repeat() -> None:
    from ferroflow.engine.planning import new_run_id

    ids = [new_run_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
