"""ferroflow._core.Graph and ReadyTracker, exercised directly."""

from __future__ import annotations

import random

import pytest
from ferroflow import CycleError, DuplicateTaskError, FerroflowError, UnknownDependencyError
from ferroflow._core import Graph, ReadyTracker


def diamond() -> Graph:
    g = Graph()
    g.extend(["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    return g


def test_bulk_build_gives_order_layers_and_queries() -> None:
    g = diamond()
    assert (g.node_count, g.edge_count, len(g)) == (4, 4, 4)
    assert g.topological_order()[0] == "a" and g.topological_order()[-1] == "d"
    assert g.layers() == [["a"], ["b", "c"], ["d"]]
    assert g.layer_ids() == [[0], [1, 2], [3]]
    assert g.ancestors("d") == ["a", "b", "c"]
    assert g.descendants("a") == ["b", "c", "d"]
    assert g.predecessors("d") == ["b", "c"]
    assert g.successors("a") == ["b", "c"]
    assert g.predecessor_ids(3) == [1, 2]
    assert "a" in g and "zz" not in g and 3 not in g
    assert g.id_of("c") == 2 and g.name_of(2) == "c"
    assert g.names() == ["a", "b", "c", "d"]
    assert g.is_dag()


def test_incremental_edge_closing_a_loop_reports_its_path() -> None:
    g = Graph()
    for name in "abc":
        g.add_node(name)
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    with pytest.raises(CycleError) as info:
        g.add_edge("c", "a")
    assert info.value.cycle == ["a", "b", "c", "a"]
    assert "a -> b -> c -> a" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert g.edge_count == 2


def test_self_loop_is_a_cycle() -> None:
    g = Graph()
    g.add_node("x")
    with pytest.raises(CycleError) as info:
        g.add_edge("x", "x")
    assert info.value.cycle == ["x", "x"]


def test_bulk_cycle_is_reported_and_nothing_is_kept() -> None:
    g = Graph()
    g.extend(["keep"])
    with pytest.raises(CycleError) as info:
        g.extend(["p", "q", "r"], [("p", "q"), ("q", "r"), ("r", "p")])
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["p", "q", "r"]
    assert g.names() == ["keep"] and g.edge_count == 0


def test_duplicate_and_unknown_nodes_are_named() -> None:
    g = diamond()
    with pytest.raises(DuplicateTaskError, match='"a"'):
        g.add_node("a")
    with pytest.raises(UnknownDependencyError, match='"nope"'):
        g.add_edge("a", "nope")
    with pytest.raises(UnknownDependencyError, match='"ghost"'):
        g.extend(["e"], [("ghost", "e")])
    assert "e" not in g


def test_a_name_that_is_not_a_string_is_a_type_error_naming_it() -> None:
    g = Graph()
    with pytest.raises(TypeError, match="got int: 42"):
        g.add_node(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got NoneType"):
        g.extend(["a", None])  # type: ignore[list-item]
    assert len(g) == 0
    with pytest.raises(TypeError, match="pair"):
        g.extend(["a", "b"], [("a",)])  # type: ignore[list-item]
    assert len(g) == 0


def test_edges_may_be_lists() -> None:
    g = Graph()
    g.extend(["a", "b"], [["a", "b"]])
    assert g.successors("a") == ["b"]


def test_order_respects_every_edge_on_a_random_dag() -> None:
    rng = random.Random(7)
    n = 5_000
    names = [f"t{i}" for i in range(n)]
    edges = [(names[rng.randrange(i)], names[i]) for i in range(1, n) for _ in range(3)]
    rng.shuffle(edges)
    shuffled = names[:]
    rng.shuffle(shuffled)
    g = Graph()
    g.extend(shuffled, edges)
    pos = {name: i for i, name in enumerate(g.topological_order())}
    assert all(pos[a] < pos[b] for a, b in edges)


def test_incremental_insertion_in_reverse_order_stays_consistent() -> None:
    g = Graph()
    n = 2_000
    for i in reversed(range(n)):
        g.add_node(f"n{i}")
    for i in range(n - 1, 0, -1):
        g.add_edge(f"n{i - 1}", f"n{i}")
    assert g.topological_order() == [f"n{i}" for i in range(n)]
    with pytest.raises(CycleError) as info:
        g.add_edge(f"n{n - 1}", "n0")
    assert len(info.value.cycle) == n + 1


def test_ready_tracker_drives_a_run() -> None:
    t = ReadyTracker(diamond())
    assert len(t) == 4
    assert t.start() == [0]
    assert t.start() == []
    assert t.complete(0) == [1, 2]
    assert (t.waiting, t.running, t.done) == (1, 2, 1)
    assert t.complete(1) == []
    assert t.complete(2) == [3]
    assert t.complete(3) == []
    assert t.is_finished


def test_ready_tracker_failure_blocks_descendants() -> None:
    g = diamond()
    g.extend(["solo"])
    t = ReadyTracker(g)
    assert t.start() == [0, 4]
    assert t.complete(0) == [1, 2]
    assert t.fail(1) == [3]
    t.complete(2)
    t.complete(4)
    assert t.is_finished
    assert (t.done, t.failed, t.blocked, t.cancelled) == (3, 1, 1, 0)


def test_ready_tracker_refuses_a_node_it_did_not_hand_out() -> None:
    t = ReadyTracker(diamond())
    t.start()
    with pytest.raises(FerroflowError, match="not running"):
        t.complete(3)
    t.complete(0)
    with pytest.raises(FerroflowError):
        t.complete(0)
    with pytest.raises(FerroflowError, match="out of range"):
        t.fail(99)


def test_ready_tracker_cancel_waiting() -> None:
    t = ReadyTracker(diamond())
    t.start()
    assert t.cancel_waiting() == [1, 2, 3]
    assert t.complete(0) == []
    assert t.is_finished and t.cancelled == 3
