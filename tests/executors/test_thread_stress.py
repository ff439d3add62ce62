"""Exactly once, after all upstreams: a random 100k-node DAG on the thread executor."""

from __future__ import annotations

import itertools
import random
import threading

import pytest
from ferroflow import Task, ThreadedExecutor, Workflow
from ferroflow.context import current_task

N = 100_000


def _build(seed: int) -> tuple[Workflow, list[list[int]]]:
    rng = random.Random(seed)
    ups_of: list[list[int]] = []
    tasks: list[Task[..., int]] = []
    deps: dict[str, list[str]] = {}
    for i in range(N):
        ups = sorted({rng.randrange(i) for _ in range(min(i, 3))}) if i else []
        ups_of.append(ups)
        t = Task(fn=_work, name=f"n{i}")
        tasks.append(t)
        deps[t.name] = [f"n{u}" for u in ups]
    wf = Workflow(f"stress-{seed}")
    wf._add_many(tasks, deps)
    return wf, ups_of


calls: list[int] = []
order: list[int] = []
seen: list[tuple[int, ...] | None] = []
threads: set[int] = set()
_tick = itertools.count()


def _work(*ups: int) -> int:
    ctx = current_task()
    assert ctx is not None
    i = int(ctx.task[1:])
    calls[i] += 1
    order[i] = next(_tick)
    seen[i] = ups
    threads.add(threading.get_ident())
    return i


@pytest.fixture(scope="module")
def stress_dag() -> tuple[Workflow, list[list[int]]]:
    return _build(seed=7)


def _violations(ups_of: list[list[int]]) -> list[str]:
    bad = [f"n{i} ran {c} times" for i, c in enumerate(calls) if c != 1]
    for i, ups in enumerate(ups_of):
        if seen[i] != tuple(ups):
            bad.append(f"n{i} saw {seen[i]}, expected {tuple(ups)}")
        bad.extend(f"n{i} ran before its upstream n{u}" for u in ups if order[u] >= order[i])
    return bad


@pytest.mark.parametrize("workers", [2, 4, 8])
def test_every_task_runs_once_after_all_its_upstreams(
    workers: int, stress_dag: tuple[Workflow, list[list[int]]]
) -> None:
    wf, ups_of = stress_dag
    calls[:] = [0] * N
    order[:] = [-1] * N
    seen[:] = [None] * N
    threads.clear()
    result = wf.run(executor=ThreadedExecutor(max_workers=workers), store=None)
    assert result.status == "completed" and len(result) == N
    assert _violations(ups_of) == []
    assert 1 <= len(threads) <= workers
