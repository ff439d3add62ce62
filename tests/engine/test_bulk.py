"""``Workflow.add_tasks``, the bulk door: the same checks, exceptions and messages as
``add_task``, all or nothing, and tasks made from names that behave like any other."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from ferroflow import CycleError, DuplicateTaskError, Task, UnknownDependencyError, Workflow
from ferroflow.engine.planning import gc_paused


def add(*ups: int) -> int:
    return sum(ups) + 1


def _one_by_one(wf: Workflow, tasks: Sequence[Task[..., Any]], deps: Sequence[Any]) -> BaseException:
    """The first error of adding ``tasks`` one by one (what the bulk door must match)."""
    try:
        for t, d in zip(tasks, deps, strict=True):
            wf.add_task(t, depends_on=d)
    except Exception as e:  # noqa: BLE001 - the test compares whatever add_task raises
        return e
    raise AssertionError("add_task accepted the input")


def _in_bulk(call: Callable[[], None]) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


def _same(one: BaseException, bulk: BaseException) -> None:
    assert type(bulk) is type(one)
    assert str(bulk) == str(one)
    assert getattr(bulk, "cycle", None) == getattr(one, "cycle", None)


def _state(wf: Workflow) -> tuple[Any, ...]:
    names = [t.name for t in wf]
    return (
        names,
        {n: wf.get_dependencies(n) for n in names},
        {n: wf.get_dependents(n) for n in names},
        wf.graph.edge_count,
        bytes(wf._named),
    )


def _base() -> Workflow:
    """A workflow with ``extract`` and ``early``, whose parameter ``later`` takes the
    result of a task of that name once there is one (binding rule 1)."""
    wf = Workflow("w")
    wf.add_task(Task(lambda: 1, name="extract"))
    wf.add_task(Task(lambda extract, later=0: extract + later, name="early"), depends_on=["extract"])
    return wf


# Each case: tasks (made fresh per call) and their depends_on, bad in one way.
CASES: dict[str, Callable[[], tuple[list[Task[..., Any]], list[Any]]]] = {
    "duplicate in the batch": lambda: ([Task(add, name="x"), Task(add, name="y"), Task(add, name="x")], [[], [], []]),
    "duplicate of a task already there": lambda: ([Task(add, name="y"), Task(add, name="extract")], [[], []]),
    "unknown dependency, with a close name": lambda: (
        [Task(add, name="y"), Task(add, name="load")],
        [["extract"], ["y", "extrct"]],
    ),
    "unknown dependency, no close name": lambda: ([Task(add, name="y")], [["zzzzzz"]]),
    "itself": lambda: ([Task(add, name="y"), Task(add, name="z")], [["extract"], ["y", "z"]]),
    "a loop closed by a parameter named after the new task": lambda: (
        [Task(add, name="mid"), Task(add, name="later")],
        [["early"], ["mid"]],
    ),
    "a dependency that is not a name": lambda: ([Task(add, name="y")], [["extract", 3]]),
    "a Task that is not in the workflow": lambda: ([Task(add, name="y")], [[Task(add, name="ghost")]]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bulk_errors_are_add_tasks_errors_and_change_nothing(case: str) -> None:
    tasks, deps = CASES[case]()
    one = _one_by_one(_base(), tasks, deps)

    wf = _base()
    before = _state(wf)
    tasks, deps = CASES[case]()
    bulk = _in_bulk(lambda: wf.add_tasks(tasks, deps))
    _same(one, bulk)
    assert _state(wf) == before

    # The same batch as names sharing one function (the path that does not make a Task
    # per task), when every entry is a name.
    names = [t.name for t in tasks]
    wf = _base()
    by_name = _in_bulk(lambda: wf.add_tasks(names, deps, fn=add))
    if not any(isinstance(d, Task) for ds in deps for d in ds):
        _same(one, by_name)
    assert _state(wf) == before
    wf.add_tasks(["y2"], [["extract"]], fn=add)  # still usable
    assert wf.run(executor="sequential", store=None)["y2"] == 2


def test_the_first_bad_task_in_the_order_given_is_the_one_reported() -> None:
    wf = Workflow("w")
    with pytest.raises(UnknownDependencyError) as info:
        wf.add_tasks(["a", "b", "a"], {"b": ["nope"]}, fn=add)
    assert "task 'b' depends on 'nope'" in str(info.value)
    with pytest.raises(DuplicateTaskError, match="already has a task named 'a'"):
        wf.add_tasks(["a", "a", "b"], {"b": ["nope"]}, fn=add)
    assert len(wf) == 0


def test_a_loop_inside_the_batch_gives_its_path() -> None:
    wf = Workflow("w")
    wf.add_tasks(["a"], fn=add)
    for door in ("names", "tasks"):
        with pytest.raises(CycleError) as info:
            deps = {"b": ["a", "d"], "c": ["b"], "d": ["c"]}
            if door == "names":
                wf.add_tasks(["b", "c", "d"], deps, fn=add)
            else:
                wf.add_tasks([Task(add, name=n) for n in "bcd"], deps)
        assert info.value.cycle == ["b", "c", "d", "b"]
        assert "b -> c -> d -> b" in str(info.value)
        assert [t.name for t in wf] == ["a"] and wf.graph.edge_count == 0


def test_a_batch_may_name_later_tasks_of_the_batch() -> None:
    wf = Workflow("w")
    wf.add_tasks(
        ["sink", "left", "right", "src"], {"sink": ["left", "right"], "left": ["src"], "right": ["src"]}, fn=add
    )
    assert wf.get_dependencies("sink") == ["left", "right"]
    assert wf.run(executor="thread", store=None)["sink"] == 5


def test_tasks_made_from_names_share_the_function_and_options() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def work(*ups: int) -> int:
        with lock:
            calls.append("x")
        return add(*ups)

    wf = Workflow("w")
    wf.add_tasks(["a", "b", "c"], [[], ["a"], ["a", "b"]], fn=work, retries=2, description="step")
    first = wf.get_task("b")
    assert first.name == "b" and first.fn is work and first.retries == 2 and first.description == "step"
    assert wf.get_task("b") is first and wf.get_task("c") is not first
    assert [t.name for t in wf] == ["a", "b", "c"]
    result = wf.run(executor="thread", store=None)
    assert dict(result) == {"a": 1, "b": 2, "c": 4} and len(calls) == 3


def test_a_mapping_that_names_a_task_outside_the_call_is_refused() -> None:
    wf = Workflow("w")
    with pytest.raises(ValueError, match="depends_on names 'z', which is not a task of this call"):
        wf.add_tasks(["a"], {"z": []}, fn=add)
    with pytest.raises(ValueError, match="got 2 tasks but 1 depends_on entries"):
        wf.add_tasks(["a", "b"], [[]], fn=add)
    with pytest.raises(TypeError, match="takes task names"):
        wf.add_tasks(["a", 3], fn=add)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="no fn="):
        wf.add_tasks(["a"])
    assert len(wf) == 0


def test_parameters_named_after_tasks_bind_in_bulk_as_one_by_one() -> None:
    def load(extract: int, *rest: int) -> int:
        return extract * 100 + sum(rest)

    wf = _base()
    wf.add_tasks(["later", "load"], {"load": ["later"]}, fn=load)
    # ``early`` now takes ``later`` by name; ``load`` takes ``extract`` by name and ``later``.
    assert wf.get_dependencies("early") == ["extract", "later"]
    assert wf.get_dependencies("load") == ["later", "extract"]
    result = wf.run(executor="sequential", store=None)
    assert result["later"] == 100 and result["early"] == 101 and result["load"] == 100 * 1 + 100


def test_a_result_read_through_the_name_map_ignores_later_tasks() -> None:
    wf = Workflow("w")
    wf.add_tasks(["a", "b"], {"b": ["a"]}, fn=add)
    result = wf.run(executor="sequential", store=None)
    wf.add_tasks(["c"], {"c": ["b"]}, fn=add)
    assert dict(result) == {"a": 1, "b": 2} and len(result) == 2 and list(result) == ["a", "b"]
    assert "c" not in result and "a" in result and 3 not in result
    with pytest.raises(KeyError):
        result["c"]
    assert "results={'a': 1, 'b': 2}" in repr(result)


def test_the_collector_is_restored_after_a_failed_bulk_add() -> None:
    wf = Workflow("w")
    assert gc.isenabled()
    with pytest.raises(UnknownDependencyError):
        wf.add_tasks(["a"], {"a": ["b"]}, fn=add)
    assert gc.isenabled()
    gc.disable()
    try:
        wf.add_tasks(["a"], fn=add)
        assert not gc.isenabled()  # restored as it was found: off
    finally:
        gc.enable()


def test_gc_paused_across_threads_restores_only_when_the_last_block_closes() -> None:
    inside, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with gc_paused():
            inside.set()
            release.wait(30)
            seen.append(gc.isenabled())

    worker = threading.Thread(target=other)
    with gc_paused():
        worker.start()
        assert inside.wait(30)
    # This thread's block closed while the other's is open: the collector stays off.
    assert not gc.isenabled()
    release.set()
    worker.join(30)
    assert seen == [False] and gc.isenabled()
