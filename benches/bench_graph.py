"""Graph work side by side: ferroflow vs graphlib, rustworkx, networkx, pure-Python Kahn.

A random DAG of N nodes with 3 predecessors each (shuffled string names, shuffled
insertion order). Phases: build from Python lists, topological order (as names),
is-DAG check, and detecting one back-edge cycle with its path. Each (peer, N)
runs in its own subprocess so that peak memory is measured cleanly; the table
shows medians and the ratio peer/ferroflow (> 1 means ferroflow is faster).

    python benches/bench_graph.py                 # N = 10k, 100k, 1M
    python benches/bench_graph.py --sizes 10000   # a quick pass
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

PEERS = ["ferroflow", "graphlib", "rustworkx", "networkx", "kahn"]
Edges = list[tuple[str, str]]


def make_dag(n: int, seed: int = 1) -> tuple[list[str], Edges, tuple[str, str]]:
    """Names, edges (upstream, downstream) and one back edge that closes a cycle."""
    rng = random.Random(seed)
    ids = list(range(n))
    rng.shuffle(ids)
    names = [f"task-{i:07d}-{rng.getrandbits(24):06x}" for i in ids]  # hidden order = list index
    edges: Edges = []
    preds: list[list[int]] = [[] for _ in range(n)]
    for i in range(1, n):
        for j in {rng.randrange(i) for _ in range(3)}:
            edges.append((names[j], names[i]))
            preds[i].append(j)
    # back edge: from the last node to an ancestor a few steps up
    v = n - 1
    u = v
    for _ in range(5):
        if preds[u]:
            u = preds[u][0]
    back = (names[v], names[u]) if u != v else (names[n - 1], names[n - 1])
    rng.shuffle(edges)
    order = names[:]
    rng.shuffle(order)
    return order, edges, back


def _ferroflow(names: list[str], edges: Edges, back: tuple[str, str]) -> dict[str, Callable[[], Any]]:
    from ferroflow._core import Graph
    from ferroflow.errors import CycleError

    state: dict[str, Any] = {}

    def build() -> None:
        g = Graph()
        g.extend(names, edges)
        state["g"] = g

    def cycle() -> list[str]:
        try:
            state["g"].add_edge(*back)
        except CycleError as e:
            return e.cycle
        raise AssertionError("no cycle found")

    return {
        "build": build,
        "order": lambda: state["g"].topological_order(),
        "is_dag": lambda: state["g"].is_dag(),
        "cycle": cycle,
    }


def _graphlib(names: list[str], edges: Edges, back: tuple[str, str]) -> dict[str, Callable[[], Any]]:
    import graphlib

    state: dict[str, Any] = {}

    def build() -> None:
        ts: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for n in names:
            ts.add(n)
        for a, b in edges:
            ts.add(b, a)
        state["ts"] = ts

    def order() -> list[str]:
        return list(state["ts"].static_order())  # prepare() is graphlib's is-DAG check too

    def setup_cycle() -> None:
        build()
        state["ts"].add(back[1], back[0])

    def cycle() -> list[str]:
        try:
            state["ts"].prepare()
        except graphlib.CycleError as e:
            return list(e.args[1])
        raise AssertionError("no cycle found")

    return {"build": build, "order": order, "setup_cycle": setup_cycle, "cycle": cycle}


def _rustworkx(names: list[str], edges: Edges, back: tuple[str, str]) -> dict[str, Callable[[], Any]]:
    import rustworkx as rx

    state: dict[str, Any] = {}

    def build() -> None:
        g = rx.PyDiGraph()
        idx = g.add_nodes_from(names)
        index = dict(zip(names, idx, strict=True))
        g.add_edges_from_no_data([(index[a], index[b]) for a, b in edges])
        state["g"], state["index"] = g, index

    def order() -> list[str]:
        g = state["g"]
        return [g[i] for i in rx.topological_sort(g)]

    def setup_cycle() -> None:
        state["g"].add_edge(state["index"][back[0]], state["index"][back[1]], None)

    def cycle() -> list[str]:
        g = state["g"]
        found = rx.digraph_find_cycle(g, state["index"][back[1]])
        assert len(found) > 0
        return [g[a] for a, _ in found]

    return {
        "build": build,
        "order": order,
        "is_dag": lambda: rx.is_directed_acyclic_graph(state["g"]),
        "setup_cycle": setup_cycle,
        "cycle": cycle,
    }


def _networkx(names: list[str], edges: Edges, back: tuple[str, str]) -> dict[str, Callable[[], Any]]:
    import networkx as nx

    state: dict[str, Any] = {}

    def build() -> None:
        g = nx.DiGraph()
        g.add_nodes_from(names)
        g.add_edges_from(edges)
        state["g"] = g

    def setup_cycle() -> None:
        state["g"].add_edge(*back)

    return {
        "build": build,
        "order": lambda: list(nx.topological_sort(state["g"])),
        "is_dag": lambda: nx.is_directed_acyclic_graph(state["g"]),
        "setup_cycle": setup_cycle,
        "cycle": lambda: [a for a, _ in nx.find_cycle(state["g"], source=back[1])],
    }


def _kahn(names: list[str], edges: Edges, back: tuple[str, str]) -> dict[str, Callable[[], Any]]:
    state: dict[str, Any] = {}

    def build() -> None:
        succ: dict[str, list[str]] = {n: [] for n in names}
        indeg = dict.fromkeys(names, 0)
        for a, b in edges:
            succ[a].append(b)
            indeg[b] += 1
        state["succ"], state["indeg"] = succ, indeg

    def order() -> list[str]:
        indeg = dict(state["indeg"])
        succ = state["succ"]
        queue = [n for n, d in indeg.items() if d == 0]
        out = []
        for n in queue:  # the list grows while we walk it
            out.append(n)
            for m in succ[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    queue.append(m)
        state["left"] = indeg
        return out

    def setup_cycle() -> None:
        state["succ"][back[0]].append(back[1])
        state["indeg"][back[1]] += 1

    def cycle() -> list[str]:
        order()
        left = {n for n, d in state["left"].items() if d > 0}
        pred: dict[str, str] = {}
        for a in left:
            for b in state["succ"][a]:
                if b in left:
                    pred.setdefault(b, a)
        seen: dict[str, int] = {}
        walk: list[str] = []
        cur = next(iter(left))
        while cur not in seen:
            seen[cur] = len(walk)
            walk.append(cur)
            cur = pred[cur]
        return walk[seen[cur] :][::-1]

    return {"build": build, "order": order, "setup_cycle": setup_cycle, "cycle": cycle}


FACTORIES = {
    "ferroflow": _ferroflow,
    "graphlib": _graphlib,
    "rustworkx": _rustworkx,
    "networkx": _networkx,
    "kahn": _kahn,
}


def worker(peer: str, n: int, repeats: int) -> dict[str, Any]:
    """Run every phase of one peer at one size; medians in seconds + peak RSS above the data."""
    names, edges, back = make_dag(n)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        phases = FACTORIES[peer](names, edges, back)
        for phase in ("build", "order", "is_dag"):
            if phase in phases:
                t0 = time.perf_counter()
                phases[phase]()
                times.setdefault(phase, []).append(time.perf_counter() - t0)
        if "setup_cycle" in phases:
            phases["setup_cycle"]()
        t0 = time.perf_counter()
        path = phases["cycle"]()
        times.setdefault("cycle", []).append(time.perf_counter() - t0)
        assert len(path) >= 1
        del phases
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out: dict[str, Any] = {k: statistics.median(v) for k, v in times.items()}
    out["total"] = out["build"] + out["order"] + out.get("is_dag", 0.0)
    out["peak_mb"] = max(0, peak - base_rss) / 1024
    return out


def run_peer(peer: str, n: int, repeats: int, timeout: float) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--worker", peer, str(n), str(repeats)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        print(f"  {peer} failed at N={n}: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1000:9.1f} ms" if x < 10 else f"{x:9.2f} s "


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--peers", nargs="*", default=PEERS)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--worker", nargs=3, metavar=("PEER", "N", "REPEATS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        peer, n, repeats = args.worker
        print(json.dumps(worker(peer, int(n), int(repeats))))
        return
    for n in args.sizes:
        repeats = 5 if n <= 10_000 else 3 if n <= 100_000 else 1
        rows = {p: run_peer(p, n, repeats, args.timeout) for p in args.peers}
        ff = rows.get("ferroflow")
        print(f"\nN = {n:,} nodes, ~{3 * n:,} edges (median of {repeats})")
        print(
            f"{'peer':<10} {'build':>12} {'order':>12} {'is-DAG':>12} {'b+o+dag':>12} {'cycle+path':>12} {'peak MB':>8}"
            f" {'total x':>8} {'cycle x':>8}"
        )
        for peer, r in rows.items():
            if r is None:
                print(f"{peer:<10} {'(did not finish)':>12}")
                continue
            ratio_total = f"{r['total'] / ff['total']:7.1f}x" if ff else "-"
            ratio_cycle = f"{r['cycle'] / ff['cycle']:7.1f}x" if ff else "-"
            print(
                f"{peer:<10} {fmt(r['build']):>12} {fmt(r['order']):>12} {fmt(r.get('is_dag')):>12} "
                f"{fmt(r['total']):>12} {fmt(r['cycle']):>12} {r['peak_mb']:8.0f} {ratio_total:>8} {ratio_cycle:>8}"
            )
    print("\n'x' columns: peer time / ferroflow time (> 1: ferroflow is faster).")


if __name__ == "__main__":
    main()
