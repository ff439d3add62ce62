"""Scheduler overhead: ferroflow's ``run_graph`` vs the Python floor and a graphlib pool.

A layered random DAG of N nodes (each with up to 3 upstreams of lower id) runs a
no-op Python callback ``execute(node) -> True`` under:

- ``python loop``: a plain loop calling the callback in topological order, the
  floor (no scheduling, no threads);
- ``run_graph``: the Rust work-stealing scheduler with 1, 2 and 4 workers;
- ``graphlib+pool``: a minimal scheduler in Python, ``graphlib.TopologicalSorter``
  feeding a ``concurrent.futures.ThreadPoolExecutor`` with 4 workers.

Each runner checks that every node ran once. The table shows the best of R runs
as total time, microseconds per task and the ratio to the floor.

    python benches/bench_scheduler.py              # N = 100k
    python benches/bench_scheduler.py --quick      # N = 20k, fewer repeats
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from graphlib import TopologicalSorter

from ferroflow._core import Graph, run_graph

DONE = 2  # graph::ready::NodeState::Done


def make_dag(n: int, seed: int = 1) -> tuple[Graph, list[list[int]]]:
    """The graph and each node's upstream ids."""
    rng = random.Random(seed)
    preds: list[list[int]] = [[] for _ in range(n)]
    edges: list[tuple[int, int]] = []
    for i in range(1, n):
        for j in {rng.randrange(i) for _ in range(3)}:
            preds[i].append(j)
            edges.append((j, i))
    g = Graph()
    g.extend([f"t{i}" for i in range(n)])
    g.extend_ids(edges)
    return g, preds


def execute(node: int) -> bool:
    """The no-op task."""
    return True


def python_loop(g: Graph, preds: list[list[int]]) -> int:
    order = g.topological_ids()
    for node in order:
        execute(node)
    return len(order)


def ferroflow(workers: int) -> Callable[[Graph, list[list[int]]], int]:
    def runner(g: Graph, preds: list[list[int]]) -> int:
        states = run_graph(g, execute, workers)
        return states.count(DONE)

    return runner


def graphlib_pool(workers: int) -> Callable[[Graph, list[list[int]]], int]:
    def runner(g: Graph, preds: list[list[int]]) -> int:
        sorter = TopologicalSorter({n: p for n, p in enumerate(preds)})
        sorter.prepare()
        ran = 0
        with ThreadPoolExecutor(workers) as pool:
            running: dict[Future[bool], int] = {}
            while sorter.is_active():
                for node in sorter.get_ready():
                    running[pool.submit(execute, node)] = node
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
                    sorter.done(running.pop(future))
                    ran += 1
        return ran

    return runner


def best_of(repeat: int, fn: Callable[[Graph, list[list[int]]], int], g: Graph, preds: list[list[int]]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        ran = fn(g, preds)
        best = min(best, time.perf_counter() - start)
        assert ran == len(preds), f"ran {ran} of {len(preds)} nodes"
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=100_000, help="DAG size (default 100k)")
    ap.add_argument("--repeat", type=int, default=7, help="runs per row; the best is shown")
    ap.add_argument("--quick", action="store_true", help="20k nodes, 3 runs")
    args = ap.parse_args()
    n, repeat = (20_000, 3) if args.quick else (args.nodes, args.repeat)
    g, preds = make_dag(n)
    rows: list[tuple[str, str, Callable[[Graph, list[list[int]]], int], int]] = [
        ("python loop", "-", python_loop, repeat),
        ("run_graph", "1", ferroflow(1), repeat),
        ("run_graph", "2", ferroflow(2), repeat),
        ("run_graph", "4", ferroflow(4), repeat),
        ("graphlib+pool", "4", graphlib_pool(4), max(1, repeat // 3)),
    ]
    print(f"no-op tasks, layered DAG: {n:,} nodes, {g.edge_count:,} edges, best of {repeat}")
    print(f"{'runner':<15} {'workers':>7} {'total ms':>10} {'us/task':>9} {'x floor':>8}")
    floor = None
    for name, workers, fn, runs in rows:
        seconds = best_of(runs, fn, g, preds)
        floor = floor or seconds
        print(f"{name:<15} {workers:>7} {seconds * 1e3:>10.1f} {seconds / n * 1e6:>9.3f} {seconds / floor:>8.1f}")


if __name__ == "__main__":
    main()
