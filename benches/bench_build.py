"""Building big workflows, timed apart from running them, next to the peers a user would pick.

Runnable as ``python benches/bench_build.py [--sizes 10000,100000,1000000] [--shapes ...]``;
prints tables and ratios (not a timed test).

Shapes: a chain, a fan-out/fan-in (one source, n - 2 parallel tasks, one sink), a layered
DAG (3 upstreams per task from the layer before, 1000 per layer) and a random DAG (3
upstreams per task drawn from all earlier tasks, names shuffled). Every task is
``def f(*ups)``, taking its upstream results. Names, upstream names and the function are
prepared before the clock starts; builds are timed in wall and CPU time (the per task +
edge cost is CPU time, steadier on a shared machine); each measurement runs in a fresh child process, so its
peak RSS (absolute, the prepared inputs included) is its own.

ferroflow is built through the public API twice: ``Task(f, name=...)`` then
``Workflow.add_task(task, depends_on=[...])`` per task, and the bulk door
``Workflow.add_tasks(names, depends_on, fn=f)``; each runs on the ``thread`` executor (4
workers) with ``store=None``, the bulk-built one also on ``sequential`` and with the
default store. Next to it: ``graphlib.TopologicalSorter`` + ``ThreadPoolExecutor``
(build, then a dynamic run on 4 threads, up to 100k tasks), Dask's graph (a dict of
tuples; run on ``dask.threaded.get``, 4 workers, up to 10k tasks), ``rustworkx`` (graph only: nodes, edges, then
``is_directed_acyclic_graph`` so that it is validated as ferroflow's is) and a plain loop
(build: a dict name -> (function, upstream names); run: call each in order).
"""

from __future__ import annotations

import argparse
import gc
import graphlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent import futures as cf
from typing import Any

Prepared = tuple[list[str], list[list[str]]]  # names (a topological order), upstream names of each

CHILD_TIMEOUT_S = 240.0


# ---------------------------------------------------------------- shapes (ids, then names)


def chain(n: int) -> list[list[int]]:
    return [[i - 1] if i else [] for i in range(n)]


def fan(n: int) -> list[list[int]]:
    return [[]] + [[0] for _ in range(n - 2)] + [list(range(1, n - 1))]


def layered(n: int, width: int = 1000, fan_in: int = 3, seed: int = 42) -> list[list[int]]:
    rng = random.Random(seed)
    spec: list[list[int]] = []
    for i in range(n):
        layer = i // width
        lo = (layer - 1) * width
        spec.append(sorted(rng.sample(range(lo, lo + width), fan_in)) if layer else [])
    return spec


def random_dag(n: int, fan_in: int = 3, seed: int = 7) -> list[list[int]]:
    rng = random.Random(seed)
    spec: list[list[int]] = []
    for i in range(n):
        ups: set[int] = set()
        while len(ups) < min(fan_in, i):
            ups.add(rng.randrange(i))
        spec.append(sorted(ups))
    return spec


SHAPES: dict[str, Callable[[int], list[list[int]]]] = {
    "chain": chain,
    "fan": fan,
    "layered": layered,
    "random": random_dag,
}


def prepare(shape: str, n: int) -> Prepared:
    """Names and upstream names (the very name objects) of a shape; random names are shuffled."""
    spec = SHAPES[shape](n)
    labels = list(range(n))
    if shape == "random":
        random.Random(11).shuffle(labels)
    names = [f"task_{k}" for k in labels]
    return names, [[names[j] for j in ups] for ups in spec]


def f(*ups: Any) -> None:
    """Every task: takes its upstream results, returns nothing."""


# ---------------------------------------------------------------- measured in a child


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _clock() -> float:
    return time.perf_counter()


def _cpu() -> float:
    return time.process_time()


def child(system: str, shape: str, n: int) -> dict[str, Any]:
    """Build (and run) ``shape`` at ``n`` with ``system``; the figures as a dict."""
    names, deps = prepare(shape, n)
    edges = sum(map(len, deps))
    gc.collect()
    out: dict[str, Any] = {"edges": edges, "prep_mb": _peak_mb()}
    runner = {
        "ff-add_task": lambda: _ferroflow(names, deps, bulk=False, out=out),
        "ff-bulk": lambda: _ferroflow(names, deps, bulk=True, out=out),
        "graphlib": lambda: _graphlib(names, deps, out),
        "dask": lambda: _dask(names, deps, out),
        "rustworkx": lambda: _rustworkx(names, deps, out),
        "loop": lambda: _loop(names, deps, out),
    }[system]
    runner()
    out["peak_mb"] = _peak_mb()
    return out


def _ferroflow(names: list[str], deps: list[list[str]], *, bulk: bool, out: dict[str, Any]) -> None:
    from ferroflow import Task, Workflow

    t0, c0 = _clock(), _cpu()
    wf = Workflow("bench")
    if bulk:
        wf.add_tasks(names, deps, fn=f)
    else:
        add = wf.add_task
        for name, d in zip(names, deps, strict=True):
            add(Task(f, name=name), depends_on=d)
    out["build"], out["build_cpu"] = _clock() - t0, _cpu() - c0
    out["build_mb"] = _peak_mb()
    t0 = _clock()
    wf.run(executor="thread", max_workers=4, store=None)
    out["run_thread"] = _clock() - t0
    if bulk:
        t0 = _clock()
        wf.run(executor="sequential", store=None)
        out["run_sequential"] = _clock() - t0
        with tempfile.TemporaryDirectory() as home:
            os.environ["FERROFLOW_HOME"] = home
            t0 = _clock()
            wf.run(executor="thread", max_workers=4)  # the default store
            out["run_thread_store"] = _clock() - t0
    t0 = _clock()
    del wf
    gc.collect()
    out["free"] = _clock() - t0


def _graphlib(names: list[str], deps: list[list[str]], out: dict[str, Any]) -> None:
    t0, c0 = _clock(), _cpu()
    ts: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name, d in zip(names, deps, strict=True):
        ts.add(name, *d)
    ts.prepare()
    out["build"], out["build_cpu"] = _clock() - t0, _cpu() - c0
    if len(names) > 100_000:
        return  # its run at 1M takes minutes: graph only
    upstreams = dict(zip(names, deps, strict=True))
    t0 = _clock()
    res: dict[str, Any] = {}
    with cf.ThreadPoolExecutor(4) as pool:
        running: dict[cf.Future[Any], str] = {}
        while ts.is_active():
            for name in ts.get_ready():
                running[pool.submit(f, *[res[u] for u in upstreams[name]])] = name
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                name = running.pop(fut)
                res[name] = fut.result()
                ts.done(name)
    out["run_thread"] = _clock() - t0


def _dask(names: list[str], deps: list[list[str]], out: dict[str, Any]) -> None:
    import dask.threaded

    t0, c0 = _clock(), _cpu()
    dsk = {name: (f, *d) for name, d in zip(names, deps, strict=True)}
    out["build"], out["build_cpu"] = _clock() - t0, _cpu() - c0
    if len(names) > 10_000:
        return  # its run takes minutes (and GBs) at 100k already: graph only
    has_down = {u for d in deps for u in d}
    sinks = [name for name in names if name not in has_down]
    t0 = _clock()
    dask.threaded.get(dsk, sinks, num_workers=4)
    out["run_thread"] = _clock() - t0


def _rustworkx(names: list[str], deps: list[list[str]], out: dict[str, Any]) -> None:
    import rustworkx

    t0, c0 = _clock(), _cpu()
    g = rustworkx.PyDiGraph()
    ids = g.add_nodes_from(names)
    id_of = dict(zip(names, ids, strict=True))
    g.add_edges_from_no_data([(id_of[u], node) for node, d in zip(ids, deps, strict=True) for u in d])
    if not rustworkx.is_directed_acyclic_graph(g):
        raise RuntimeError("not a DAG")
    out["build"], out["build_cpu"] = _clock() - t0, _cpu() - c0


def _loop(names: list[str], deps: list[list[str]], out: dict[str, Any]) -> None:
    t0, c0 = _clock(), _cpu()
    graph = {name: (f, d) for name, d in zip(names, deps, strict=True)}
    out["build"], out["build_cpu"] = _clock() - t0, _cpu() - c0
    t0 = _clock()
    res: dict[str, Any] = {}
    for name, (fn, d) in graph.items():
        res[name] = fn(*[res[u] for u in d])
    out["run_thread"] = _clock() - t0


# ---------------------------------------------------------------- the parent


SYSTEMS = ["ff-bulk", "ff-add_task", "graphlib", "dask", "rustworkx", "loop"]


def measure(system: str, shape: str, n: int) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--child", system, shape, str(n)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as e:
        print(f"  {system} {shape} {n}: failed\n{e.stderr}", file=sys.stderr)
        return None
    got: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return got


def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:8.3f}"


def _x(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b <= 0 else f"{a / b:6.2f}x"


def bench(shape: str, n: int, systems: list[str]) -> dict[str, dict[str, Any] | None]:
    rows = {s: measure(s, shape, n) for s in systems}
    edges = next((r["edges"] for r in rows.values() if r), 0)
    print(f"\n## {shape}, {n:,} tasks, {edges:,} edges (seconds; MB = peak RSS of the process)")
    print(f"{'system':<14}{'build':>9}{'cpu':>8}{'µs/(t+e)':>10}{'run thread':>11}{'total':>9}{'peak MB':>9}  notes")
    for s, r in rows.items():
        if r is None:
            print(f"{s:<14}{'—':>9}  (timed out after {CHILD_TIMEOUT_S:.0f} s or failed)")
            continue
        build, run = r.get("build"), r.get("run_thread")
        total = None if build is None or run is None else build + run
        cpu = r.get("build_cpu")
        per = (cpu if cpu is not None else build) / (n + edges) * 1e6
        notes = []
        if "run_sequential" in r:
            notes.append(f"sequential {r['run_sequential']:.3f}")
        if "run_thread_store" in r:
            notes.append(f"thread+store {r['run_thread_store']:.3f}")
        if "build_mb" in r:
            notes.append(f"build peak {r['build_mb']:.0f} MB (inputs {r['prep_mb']:.0f})")
        if "free" in r:
            notes.append(f"free {r['free']:.3f}")
        line = f"{s:<14}{_s(build):>9}{_s(cpu):>8}{per:>10.3f}{_s(run):>11}{_s(total):>9}{r['peak_mb']:>9.0f}  "
        print(line + ", ".join(notes))
    _ratios(rows)
    return rows


def _get(rows: dict[str, dict[str, Any] | None], system: str, key: str) -> float | None:
    r = rows.get(system)
    return None if r is None else r.get(key)


def _total(rows: dict[str, dict[str, Any] | None], system: str) -> float | None:
    b, r = _get(rows, system, "build"), _get(rows, system, "run_thread")
    return None if b is None or r is None else b + r


def _ratios(rows: dict[str, dict[str, Any] | None]) -> None:
    bulk, one = "ff-bulk", "ff-add_task"
    pairs = [
        ("build: bulk door / add_task", _get(rows, bulk, "build"), _get(rows, one, "build")),
        ("build: bulk door / rustworkx", _get(rows, bulk, "build"), _get(rows, "rustworkx", "build")),
        ("build: bulk door / Dask graph", _get(rows, bulk, "build"), _get(rows, "dask", "build")),
        ("build: bulk door / graphlib", _get(rows, bulk, "build"), _get(rows, "graphlib", "build")),
        ("build: bulk door / plain loop", _get(rows, bulk, "build"), _get(rows, "loop", "build")),
        ("build: add_task / rustworkx", _get(rows, one, "build"), _get(rows, "rustworkx", "build")),
        ("run: thread / plain loop", _get(rows, bulk, "run_thread"), _get(rows, "loop", "run_thread")),
        ("run: sequential / plain loop", _get(rows, bulk, "run_sequential"), _get(rows, "loop", "run_thread")),
        ("run: thread / graphlib + pool", _get(rows, bulk, "run_thread"), _get(rows, "graphlib", "run_thread")),
        ("run: thread / Dask threaded", _get(rows, bulk, "run_thread"), _get(rows, "dask", "run_thread")),
        ("total: bulk + thread / graphlib + pool", _total(rows, bulk), _total(rows, "graphlib")),
        ("total: bulk + thread / plain loop", _total(rows, bulk), _total(rows, "loop")),
    ]
    print("ratios (< 1: ferroflow is faster):")
    for label, a, b in pairs:
        if a is not None and b is not None:
            print(f"  {label:<40}{_x(a, b):>9}")


def flatness(results: dict[tuple[str, int], dict[str, dict[str, Any] | None]], sizes: list[int]) -> None:
    """Build cost per task + edge at the largest size over the smallest, per shape and door."""
    if len(sizes) < 2:
        return
    lo, hi = min(sizes), max(sizes)
    print(f"\n## build CPU time per task + edge, {hi:,} over {lo:,} (1.00x: flat)")
    for shape in sorted({s for s, _ in results}):
        for door in ("ff-bulk", "ff-add_task"):
            a, b = results.get((shape, hi), {}).get(door), results.get((shape, lo), {}).get(door)
            if a and b:
                per_hi = a["build_cpu"] / (hi + a["edges"])
                per_lo = b["build_cpu"] / (lo + b["edges"])
                print(f"  {shape:<8}{door:<13}{per_lo * 1e6:7.3f} -> {per_hi * 1e6:7.3f} µs  {_x(per_hi, per_lo):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated task counts")
    parser.add_argument("--shapes", default="chain,fan,layered,random", help="comma-separated shapes")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated systems")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        system, shape, n = args.child
        print(json.dumps(child(system, shape, int(n))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    systems = args.systems.split(",")
    print(f"# ferroflow build benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    results: dict[tuple[str, int], dict[str, dict[str, Any] | None]] = {}
    for n in sizes:
        for shape in shapes:
            results[shape, n] = bench(shape, n, systems)
    flatness(results, sizes)


if __name__ == "__main__":
    main()
