"""DAG: the operator front door — ``tasks=``, ``with`` blocks and the default registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ferroflow import DAG, CycleError, DuplicateTaskError, RunResult, Task, TaskStatus, registry, task


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()


def test_spec_example_with_the_default_registry() -> None:
    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    def transform(data: list[int]) -> list[int]:
        return [x * 10 for x in data]

    @task
    def validate(data: list[int]) -> bool:
        return all(x > 0 for x in data)

    @task
    def enrich(data: list[int]) -> int:
        return sum(data)

    @task
    def load(validate: bool, enrich: int) -> str:
        return f"{validate}:{enrich}"

    extract >> transform >> [validate, enrich] >> load
    results = DAG("etl", max_workers=4).run(store=None)
    assert isinstance(results, RunResult)
    assert dict(results) == {
        "extract": [1, 2, 3],
        "transform": [10, 20, 30],
        "validate": True,
        "enrich": 60,
        "load": "True:60",
    }


def test_tasks_argument_takes_those_and_their_ancestors_only() -> None:
    a = Task(fn=lambda: 1, name="a")
    b = Task(fn=lambda a: a + 1, name="b")
    c = Task(fn=lambda b: b * 2, name="c")
    unrelated = Task(fn=lambda: "nope", name="unrelated")
    a >> b >> c
    dag = DAG("partial", tasks=[b])
    assert sorted(dag.get_all_tasks()) == ["a", "b"]
    assert "unrelated" not in dag and unrelated in registry
    assert dict(dag.run(store=None)) == {"a": 1, "b": 2}


def test_with_block_collects_tasks_created_or_wired_inside() -> None:
    outside = Task(fn=lambda: 5, name="outside")
    Task(fn=lambda: "stray", name="stray")
    with DAG("block") as dag:
        inner = Task(fn=lambda outside: outside + 1, name="inner")
        outside >> inner
    assert sorted(dag.get_all_tasks()) == ["inner", "outside"]
    assert "inner" not in registry  # tasks made inside a block belong to the block
    assert dict(dag.run(store=None)) == {"outside": 5, "inner": 6}


def test_nested_blocks_do_not_leak() -> None:
    with DAG("outer") as outer:
        Task(fn=lambda: 1, name="o")
        with DAG("inner") as inner:
            Task(fn=lambda: 2, name="i")
    assert list(outer.get_all_tasks()) == ["o"]
    assert list(inner.get_all_tasks()) == ["i"]


def test_registry_can_be_cleared() -> None:
    Task(fn=lambda: 1, name="old")
    registry.clear()
    Task(fn=lambda: 2, name="new")
    assert dict(DAG("fresh").run(store=None)) == {"new": 2}


def test_duplicate_names_in_a_dag_are_rejected() -> None:
    a1 = Task(fn=lambda: 1, name="a")
    a2 = Task(fn=lambda: 2, name="a")
    b = Task(fn=lambda x: x, name="b")
    [a1, a2] >> b
    with pytest.raises(DuplicateTaskError, match="'a'"):
        DAG("dup", tasks=[b])


def test_cycles_through_wiring_are_rejected_with_the_path() -> None:
    a = Task(fn=lambda: 1, name="a")
    b = Task(fn=lambda: 1, name="b")
    c = Task(fn=lambda: 1, name="c")
    a >> b >> c >> a
    with pytest.raises(CycleError) as info:
        DAG("loop", tasks=[c])
    assert info.value.cycle[0] == info.value.cycle[-1] and set(info.value.cycle) == {"a", "b", "c"}


def test_dag_inspection_and_failure_semantics() -> None:
    def bad(a: int) -> int:
        raise RuntimeError("nope")

    with DAG("f") as dag:
        a = Task(fn=lambda: 1, name="a")
        b = Task(fn=bad, name="b")
        c = Task(fn=lambda b: b, name="c")
        a >> b >> c
    assert [[t.name for t in layer] for layer in dag.get_execution_plan()] == [["a"], ["b"], ["c"]]
    assert dag.get_dependencies("c") == ["b"]
    result = dag.run(store=None, raise_on_failure=False)
    assert dag.get_task_status("c") is TaskStatus.UPSTREAM_FAILED
    assert dag.get_task_result("a") == 1
    assert dag.get_workflow_stats()["failed"] == 1
    assert result.status == "failed" and len(dag) == 3


def test_a_long_wired_chain_builds_without_recursion() -> None:
    with DAG("long") as dag:
        prev = Task(fn=lambda: 0, name="t0")
        for i in range(1, 20_000):
            nxt = Task(fn=lambda x: x + 1, name=f"t{i}")
            prev >> nxt
            prev = nxt
    assert dag.run(executor="sequential", store=None)["t19999"] == 19_999


def test_tasks_added_to_a_workflow_or_flow_leave_the_registry() -> None:
    from ferroflow import Flow, Workflow

    a = Task(fn=lambda: 1, name="a")
    b = Task(fn=lambda: 2, name="b")
    stray = Task(fn=lambda: 3, name="stray")
    Workflow("w").add_task(a)
    Flow("f").add(b)
    assert a not in registry and b not in registry and stray in registry
    assert dict(DAG("rest").run(store=None)) == {"stray": 3}


def test_tasks_brings_in_ancestors_wired_only_by_parameter_name() -> None:
    @task
    def src() -> int:
        return 1

    @task
    def mid(src: int) -> int:
        return src + 1

    @task
    def leaf(mid: int) -> int:
        return mid * 10

    @task
    def unrelated() -> int:
        return 0

    result = DAG("by-name", tasks=[leaf]).run(store=None)
    assert dict(result) == {"src": 1, "mid": 2, "leaf": 20}
