"""ferroflow._core.run_graph, the Rust work-stealing scheduler, called directly
with plain Python callbacks."""

from __future__ import annotations

import _thread
import random
import threading
import time
from collections import Counter

import pytest
from ferroflow._core import Graph, run_graph

# The numbers of graph::ready::NodeState.
DONE, FAILED, BLOCKED, CANCELLED = 2, 3, 4, 5


def graph_of(n: int, edges: list[tuple[int, int]]) -> Graph:
    g = Graph()
    g.extend([f"n{i}" for i in range(n)])
    g.extend_ids(edges)
    return g


def chain(n: int) -> Graph:
    return graph_of(n, [(i - 1, i) for i in range(1, n)])


@pytest.fixture(scope="module")
def random_dag() -> tuple[Graph, list[list[int]]]:
    """100k nodes, each with up to 3 random upstreams of lower id."""
    rnd = random.Random(20240611)
    n = 100_000
    preds: list[list[int]] = [[] for _ in range(n)]
    edges = []
    for i in range(1, n):
        for j in {rnd.randrange(i) for _ in range(3)}:
            preds[i].append(j)
            edges.append((j, i))
    return graph_of(n, edges), preds


@pytest.mark.parametrize("workers", [2, 4, 8])
def test_every_node_runs_exactly_once_after_its_upstreams(
    random_dag: tuple[Graph, list[list[int]]], workers: int
) -> None:
    g, preds = random_dag
    finished = bytearray(len(preds))
    ran: list[int] = []
    too_early: list[int] = []

    def execute(node: int) -> bool:
        if not all(finished[p] for p in preds[node]):
            too_early.append(node)
        ran.append(node)
        finished[node] = 1
        return True

    states = run_graph(g, execute, workers)
    assert states == [DONE] * len(preds)
    assert sorted(ran) == list(range(len(preds)))
    assert too_early == []


def test_runs_on_several_threads_when_tasks_release_the_interpreter() -> None:
    g = graph_of(200, [])
    threads: set[int] = set()

    def execute(node: int) -> bool:
        threads.add(threading.get_ident())
        time.sleep(0.002)
        return True

    assert run_graph(g, execute, 4) == [DONE] * 200
    assert len(threads) > 1
    assert threading.get_ident() not in threads


def test_sleeping_tasks_run_in_parallel() -> None:
    g = graph_of(40, [])

    def execute(node: int) -> bool:
        time.sleep(0.05)
        return True

    start = time.perf_counter()
    states = run_graph(g, execute, 8)
    elapsed = time.perf_counter() - start
    assert states == [DONE] * 40
    serial = 40 * 0.05
    assert elapsed < 0.5 * serial, f"{elapsed:.2f}s for {serial:.2f}s of sleeps"


def test_a_task_blocking_on_another_does_not_deadlock() -> None:
    # Two independent nodes: 0 waits for an event that only 1 sets.
    g = graph_of(2, [])
    released = threading.Event()

    def execute(node: int) -> bool:
        if node == 0:
            return released.wait(timeout=30)
        released.set()
        return True

    assert run_graph(g, execute, 2) == [DONE, DONE]


def test_false_fails_the_node_and_blocks_only_its_descendants() -> None:
    # 0 -> 1 -> 2, 0 -> 3, and 4 -> 5 on the side; 1 fails.
    g = graph_of(6, [(0, 1), (1, 2), (0, 3), (4, 5)])
    calls: list[int] = []

    def execute(node: int) -> bool:
        calls.append(node)
        return node != 1

    assert run_graph(g, execute, 3) == [DONE, FAILED, BLOCKED, DONE, DONE, DONE]
    assert sorted(calls) == [0, 1, 3, 4, 5]


def test_return_values_are_truth_tested() -> None:
    g = graph_of(5, [])
    values: list[object] = [None, 0, "", 1, "yes"]
    assert run_graph(g, lambda node: values[node], 2) == [FAILED, FAILED, FAILED, DONE, DONE]


def test_a_return_value_that_cannot_be_truth_tested_is_a_failure() -> None:
    class Undecided:
        def __bool__(self) -> bool:
            raise RuntimeError("neither true nor false")

    g = graph_of(2, [(0, 1)])
    calls: list[int] = []

    def execute(node: int) -> object:
        calls.append(node)
        return Undecided()

    with pytest.raises(RuntimeError, match="neither true nor false"):
        run_graph(g, execute, 2)
    assert calls == [0]


def test_the_first_exception_is_raised_after_the_rest_finished() -> None:
    # 0 raises; its descendant 1 never runs; the independent chain 2 -> 3 -> 4 completes.
    g = graph_of(5, [(0, 1), (2, 3), (3, 4)])
    boom = ValueError("task 0 broke")
    calls: list[int] = []

    def execute(node: int) -> bool:
        calls.append(node)
        if node == 0:
            raise boom
        return True

    with pytest.raises(ValueError, match="task 0 broke") as info:
        run_graph(g, execute, 2)
    assert info.value is boom
    assert sorted(calls) == [0, 2, 3, 4]


def test_only_one_of_several_exceptions_is_raised() -> None:
    g = graph_of(50, [])

    def execute(node: int) -> bool:
        raise KeyError(node)

    with pytest.raises(KeyError) as info:
        run_graph(g, execute, 4)
    assert info.value.args[0] in range(50)


def test_fail_fast_cancels_what_did_not_start() -> None:
    # r -> f -> x and r -> c0 -> c1 -> ...; one worker runs f right after r.
    edges = [(0, 1), (1, 2), (0, 3)] + [(i, i + 1) for i in range(3, 50)]
    g = graph_of(51, edges)
    calls: list[int] = []

    def execute(node: int) -> bool:
        calls.append(node)
        return node != 1

    assert run_graph(g, execute, 1, fail_fast=True) == [DONE, FAILED, BLOCKED] + [CANCELLED] * 48
    assert calls == [0, 1]
    # Without fail_fast the independent chain runs to the end.
    assert run_graph(g, execute, 1) == [DONE, FAILED, BLOCKED] + [DONE] * 48


def test_fail_fast_with_many_workers_stops_starting_nodes() -> None:
    g = graph_of(10_000, [])
    calls = Counter[int]()

    def execute(node: int) -> bool:
        calls[node] += 1
        time.sleep(0.0005)
        return node != 0

    states = run_graph(g, execute, 4, fail_fast=True)
    counts = Counter(states)
    assert counts[FAILED] == 1 and counts[CANCELLED] > 0
    assert counts[DONE] + counts[FAILED] == len(calls)
    assert set(calls.values()) == {1}


def test_keyboard_interrupt_cancels_waiting_nodes_and_is_raised() -> None:
    g = chain(10_000)
    calls: list[int] = []

    def execute(node: int) -> bool:
        calls.append(node)
        if node == 5:
            _thread.interrupt_main()
        time.sleep(0.001)
        return True

    with pytest.raises(KeyboardInterrupt):
        run_graph(g, execute, 4)
    # Nothing runs once run_graph returned, and the chain stopped early.
    count = len(calls)
    time.sleep(0.05)
    assert len(calls) == count
    assert 6 <= count < 10_000
    assert calls == list(range(count))


def test_callbacks_may_use_the_graph_while_it_runs() -> None:
    g = graph_of(3, [(0, 1), (1, 2)])
    names: list[str] = []

    def execute(node: int) -> bool:
        names.append(g.name_of(node))
        return True

    assert run_graph(g, execute, 2) == [DONE] * 3
    assert names == ["n0", "n1", "n2"]


def test_empty_graph_returns_at_once() -> None:
    assert run_graph(Graph(), lambda node: True, 4) == []


@pytest.mark.parametrize("workers", [0, -1, -100])
def test_fewer_than_one_worker_is_refused(workers: int) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        run_graph(chain(2), lambda node: True, workers)


def test_bad_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="execute must be callable"):
        run_graph(chain(2), 42, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        run_graph(chain(2), lambda node: True, "2")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        run_graph("not a graph", lambda node: True, 2)  # type: ignore[arg-type]


def test_long_chain_and_wide_fan_out() -> None:
    n = 200_000
    seen = bytearray(n)

    def execute(node: int) -> bool:
        seen[node] += 1
        return True

    assert run_graph(chain(n), execute, 4) == [DONE] * n
    fan = graph_of(n, [(0, i) for i in range(1, n)])
    assert run_graph(fan, execute, 4) == [DONE] * n
    assert set(seen) == {2}


def test_a_task_may_run_a_nested_graph() -> None:
    outer = chain(3)
    inner = graph_of(100, [])
    inner_states: list[list[int]] = []

    def execute(node: int) -> bool:
        inner_states.append(run_graph(inner, lambda m: True, 3))
        return True

    assert run_graph(outer, execute, 2) == [DONE] * 3
    assert inner_states == [[DONE] * 100] * 3


def test_more_workers_than_nodes_is_fine() -> None:
    assert run_graph(chain(3), lambda node: True, 10_000) == [DONE] * 3


def test_on_interrupt_is_called_once_before_running_nodes_finish() -> None:
    g = chain(100)
    seen_by_node: list[bool] = []
    stopping = threading.Event()

    def execute(node: int) -> bool:
        if node == 3:
            _thread.interrupt_main()
            # The running node sees the hook's effect while it still runs.
            seen_by_node.append(stopping.wait(10))
        return True

    calls: list[int] = []

    def on_interrupt() -> None:
        calls.append(1)
        stopping.set()

    with pytest.raises(KeyboardInterrupt):
        run_graph(g, execute, 2, on_interrupt=on_interrupt)
    assert calls == [1] and seen_by_node == [True]


def test_on_interrupt_must_be_callable() -> None:
    with pytest.raises(TypeError, match="on_interrupt must be callable"):
        run_graph(chain(2), lambda node: True, 1, on_interrupt=3)  # type: ignore[arg-type]
