"""The same DAGs through every executor give the sequential executor's results."""

from __future__ import annotations

import random
from typing import Any

import pytest
from ferroflow import (
    AsyncExecutor,
    ProcessExecutor,
    RunResult,
    SequentialExecutor,
    Task,
    TaskStatus,
    ThreadedExecutor,
    Workflow,
)

FAST_EXECUTORS = ["sequential", "thread", "async", ThreadedExecutor(max_workers=2), AsyncExecutor(max_concurrency=3)]


def add_all(*xs: int) -> int:
    return sum(xs) + 1


def fail_if_multiple_of_7(*xs: int) -> int:
    total = sum(xs)
    if total % 7 == 0:
        raise ArithmeticError(f"{total} is a multiple of 7")
    return total + 1


def random_workflow(seed: int, n: int, fn: Any = add_all) -> Workflow:
    rng = random.Random(seed)
    wf = Workflow(f"random-{seed}")
    for i in range(n):
        ups = sorted(rng.sample(range(i), k=min(i, rng.randint(0, 3))))
        wf.add_task(Task(fn=fn, name=f"n{i}"), depends_on=[f"n{u}" for u in ups])
    return wf


def outcome(result: RunResult) -> tuple[dict[str, Any], dict[str, TaskStatus]]:
    return dict(result), {name: rec.status for name, rec in result.records.items()}


@pytest.mark.parametrize("executor", FAST_EXECUTORS, ids=repr)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_dags_match_the_sequential_oracle(executor: Any, seed: int) -> None:
    oracle = outcome(random_workflow(seed, 300).run(executor=SequentialExecutor(), store=None))
    assert outcome(random_workflow(seed, 300).run(executor=executor, store=None)) == oracle


@pytest.mark.parametrize("executor", FAST_EXECUTORS, ids=repr)
def test_failures_block_the_same_tasks_everywhere(executor: Any) -> None:
    def run(ex: Any) -> tuple[dict[str, Any], dict[str, TaskStatus]]:
        wf = random_workflow(11, 200, fn=fail_if_multiple_of_7)
        return outcome(wf.run(executor=ex, store=None, raise_on_failure=False))

    oracle = run("sequential")
    assert TaskStatus.FAILED in oracle[1].values() and TaskStatus.UPSTREAM_FAILED in oracle[1].values()
    assert run(executor) == oracle


@pytest.mark.parametrize("executor", FAST_EXECUTORS, ids=repr)
def test_params_skips_and_none_results_match(executor: Any) -> None:
    def build() -> Workflow:
        wf = Workflow("mixed")
        wf.add_task(Task(fn=lambda base: base, name="base_value"))
        wf.add_task(Task(fn=lambda: None, name="nothing"))
        wf.add_task(Task(fn=lambda x: x * 2, name="double", when=lambda x: x > 100), depends_on=["base_value"])
        wf.add_task(Task(fn=lambda double, nothing, base: (double, nothing, base), name="report"))
        return wf

    expected = dict(build().run(executor="sequential", store=None, params={"base": 5}))
    assert expected == {"base_value": 5, "nothing": None, "report": (None, None, 5)}
    assert dict(build().run(executor=executor, store=None, params={"base": 5})) == expected


def test_process_executor_matches_the_oracle() -> None:
    oracle = outcome(random_workflow(5, 40, fn=fail_if_multiple_of_7).run(store=None, raise_on_failure=False))
    got = random_workflow(5, 40, fn=fail_if_multiple_of_7).run(
        executor=ProcessExecutor(max_workers=2), store=None, raise_on_failure=False
    )
    assert outcome(got) == oracle
