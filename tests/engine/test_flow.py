"""Flow: the builder front door — add, branch, merge."""

from __future__ import annotations

from typing import Any

import pytest
from ferroflow import CycleError, DuplicateTaskError, Flow, Task


def test_spec_example_add_branch_merge() -> None:
    def fetch_user() -> dict[str, Any]:
        return {"id": 7}

    def fetch_orders(user: dict[str, Any]) -> list[str]:
        return [f"order-of-{user['id']}"]

    def fetch_recs(user: dict[str, Any]) -> list[str]:
        return [f"rec-for-{user['id']}"]

    def combine(fetch_user: dict[str, Any], fetch_orders: list[str], fetch_recs: list[str]) -> dict[str, Any]:
        return {"user": fetch_user["id"], "items": fetch_orders + fetch_recs}

    flow = Flow("users", max_workers=5).add(fetch_user).branch(fetch_orders, fetch_recs).merge(combine)
    result = flow.run(store=None)
    assert result["combine"] == {"user": 7, "items": ["order-of-7", "rec-for-7"]}
    assert flow.get_dependencies("combine") == ["fetch_orders", "fetch_recs", "fetch_user"]


def test_add_after_branch_depends_on_every_task_of_the_branch() -> None:
    flow = (
        Flow("f")
        .add(Task(fn=lambda: 1, name="start"))
        .branch(Task(fn=lambda x: x + 1, name="left"), Task(fn=lambda x: x + 2, name="right"))
        .add(Task(fn=lambda l, r: (l, r), name="after"))
    )
    assert flow.get_dependencies("after") == ["left", "right"]
    assert flow.run(store=None)["after"] == (2, 3)
    assert [[t.name for t in layer] for layer in flow.get_execution_plan()] == [
        ["start"],
        ["left", "right"],
        ["after"],
    ]


def test_merge_sees_every_earlier_stage_by_name() -> None:
    def summary(a: int, b: int, c: int) -> int:
        return a + b + c

    flow = (
        Flow("names")
        .add(Task(fn=lambda: 1, name="a"))
        .add(Task(fn=lambda a: a + 1, name="b"))
        .add(Task(fn=lambda b: b + 1, name="c"))
        .merge(Task(fn=summary, name="summary"))
    )
    assert flow.run(store=None, executor="sequential")["summary"] == 6


def test_duplicate_name_in_a_flow_is_rejected_at_once() -> None:
    flow = Flow("dup").add(Task(fn=lambda: 1, name="x"))
    with pytest.raises(DuplicateTaskError, match="'x'"):
        flow.add(Task(fn=lambda: 2, name="x"))


def test_a_parameter_naming_a_later_stage_is_a_cycle() -> None:
    flow = Flow("cyc").add(Task(fn=lambda later: later, name="first")).add(Task(fn=lambda x: x, name="later"))
    with pytest.raises(CycleError) as info:
        flow.run(store=None)
    assert set(info.value.cycle) == {"first", "later"}


def test_branch_needs_tasks_and_flow_takes_plain_functions() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Flow("f").branch()

    def one() -> int:
        return 1

    assert Flow("plain").add(one).run(store=None)["one"] == 1


def test_every_executor_gives_the_same_flow_results() -> None:
    def make() -> Flow:
        return (
            Flow("same")
            .add(Task(fn=lambda: 3, name="seed"))
            .branch(*[Task(fn=lambda s, k=k: s * k, name=f"m{k}") for k in range(5)])
            .merge(Task(fn=lambda *xs: sum(xs), name="total"))
        )

    expected = dict(make().run(executor="sequential", store=None))
    assert expected["total"] == 30
    for executor in ("thread", "async"):
        assert dict(make().run(executor=executor, store=None)) == expected
