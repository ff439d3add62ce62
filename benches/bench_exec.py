"""Execution overhead of ferroflow next to the peers a user would pick instead.

Runnable as ``python benches/bench_exec.py [--quick]``; prints tables (not a timed test).

Shapes (no-op tasks): a chain, a fan-out/fan-in, random layered DAGs (3 upstreams per
task, picked from the previous layer). For each: the floor (a plain loop in topological
order calling the same functions), a minimal ``graphlib`` + ``ThreadPoolExecutor`` dynamic
scheduler, Dask's ``get_sync`` and threaded ``get``, FlowWeaver's Sequential and Threaded
executors (in a subprocess, skipped past 60 s), plain asyncio tasks, and ferroflow's
sequential, thread (2 and 4 workers) and async executors, with ``store=None`` and with the
default store. Then parallel sleeps against the ideal, and a 1M-task DAG on the thread
executor (build + run, peak RSS) in a clean child process.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures as cf
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
from typing import Any

Spec = list[list[int]]  # node id -> upstream ids (ids are a topological order)


# ---------------------------------------------------------------- shapes


def chain(n: int) -> Spec:
    return [[i - 1] if i else [] for i in range(n)]


def fan(n: int) -> Spec:
    """One source, n - 2 parallel tasks, one sink."""
    return [[]] + [[0] for _ in range(n - 2)] + [list(range(1, n - 1))]


def layered(n: int, width: int = 1000, fan_in: int = 3, seed: int = 42) -> Spec:
    rng = random.Random(seed)
    spec: Spec = []
    for i in range(n):
        layer = i // width
        if layer == 0:
            spec.append([])
        else:
            lo = (layer - 1) * width
            spec.append(sorted(rng.sample(range(lo, lo + width), fan_in)))
    return spec


SHAPES: dict[str, Callable[[int], Spec]] = {"chain": chain, "fan": fan, "layered": layered}


# ---------------------------------------------------------------- no-op task functions


def noop0() -> None:
    return None


def noop1(a: Any) -> None:
    return None


def noop3(a: Any, b: Any, c: Any) -> None:
    return None


def noop_n(*xs: Any) -> None:
    return None


def fn_for(ups: list[int]) -> Callable[..., None]:
    return {0: noop0, 1: noop1, 3: noop3}.get(len(ups), noop_n)


async def anoop0() -> None:
    return None


async def anoop1(a: Any) -> None:
    return None


async def anoop3(a: Any, b: Any, c: Any) -> None:
    return None


async def anoop_n(*xs: Any) -> None:
    return None


def afn_for(ups: list[int]) -> Callable[..., Any]:
    return {0: anoop0, 1: anoop1, 3: anoop3}.get(len(ups), anoop_n)


def flowweaver_noop(**kwargs: Any) -> None:
    return None


# ---------------------------------------------------------------- peers


def run_floor(spec: Spec) -> float:
    fns = [fn_for(u) for u in spec]
    res: list[Any] = [None] * len(spec)
    t = time.perf_counter()
    for i, ups in enumerate(spec):
        res[i] = fns[i](*[res[j] for j in ups])
    return time.perf_counter() - t


def run_graphlib_pool(spec: Spec, workers: int = 4, fn: Callable[..., Any] | None = None) -> float:
    t = time.perf_counter()
    ts: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for i, ups in enumerate(spec):
        ts.add(i, *ups)
    ts.prepare()
    res: list[Any] = [None] * len(spec)
    with cf.ThreadPoolExecutor(workers) as pool:
        running: dict[cf.Future[Any], int] = {}
        while ts.is_active():
            for i in ts.get_ready():
                f = fn or fn_for(spec[i])
                running[pool.submit(f, *[res[j] for j in spec[i]])] = i
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                i = running.pop(fut)
                res[i] = fut.result()
                ts.done(i)
    return time.perf_counter() - t


def dask_graph(spec: Spec) -> tuple[dict[str, Any], list[str]]:
    dsk = {f"n{i}": (fn_for(ups), *[f"n{j}" for j in ups]) for i, ups in enumerate(spec)}
    has_down = {j for ups in spec for j in ups}
    return dsk, [f"n{i}" for i in range(len(spec)) if i not in has_down]


def run_dask(spec: Spec, threaded: bool) -> float | None:
    try:
        import dask.local
        import dask.threaded
    except ImportError:
        return None
    dsk, sinks = dask_graph(spec)
    t = time.perf_counter()
    if threaded:
        dask.threaded.get(dsk, sinks, num_workers=4)
    else:
        dask.local.get_sync(dsk, sinks)
    return time.perf_counter() - t


def run_asyncio_tasks(spec: Spec) -> float:
    async def main() -> float:
        t = time.perf_counter()
        tasks: list[asyncio.Task[Any]] = []
        for ups in spec:
            tasks.append(asyncio.ensure_future(_node(afn_for(ups), [tasks[j] for j in ups])))
        await asyncio.gather(*tasks)
        return time.perf_counter() - t

    async def _node(fn: Callable[..., Any], ups: list[asyncio.Task[Any]]) -> Any:
        return await fn(*[await u for u in ups])

    return asyncio.run(main())


def run_flowweaver(shape: str, n: int, executor: str, timeout: float = 60.0) -> float | None:
    """FlowWeaver in a child process (it may not finish); None if it timed out or is missing."""
    cmd = [sys.executable, __file__, "--flowweaver-child", shape, str(n), executor]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except (subprocess.TimeoutExpired, subprocess.CalledProcessError):
        return None
    return float(out.stdout.strip().splitlines()[-1])


def _flowweaver_child(shape: str, n: int, executor: str) -> None:
    import logging

    import flowweaver

    logging.disable(logging.CRITICAL)
    spec = SHAPES[shape](n)
    wf = flowweaver.Workflow(name="bench")
    for i, ups in enumerate(spec):
        wf.add_task(flowweaver.Task(name=f"n{i}", fn=flowweaver_noop), depends_on=[f"n{j}" for j in ups])
    ex = flowweaver.SequentialExecutor() if executor == "sequential" else flowweaver.ThreadedExecutor(max_workers=4)
    t = time.perf_counter()
    ex.execute(wf)
    print(time.perf_counter() - t)


# ---------------------------------------------------------------- ferroflow


def build_ferroflow(spec: Spec, is_async: bool = False) -> tuple[Any, float]:
    """The workflow of ``spec`` and the time to build it: the Task objects, then one
    ``add_task`` per task (names, functions and dependency lists are the input, made first)."""
    from ferroflow import Task, Workflow, registry

    pick = afn_for if is_async else fn_for
    names = [f"n{i}" for i in range(len(spec))]
    fns = [pick(ups) for ups in spec]
    deps = [[names[j] for j in ups] for ups in spec]
    gc.collect()
    t = time.perf_counter()
    tasks = [Task(fn=fn, name=name) for fn, name in zip(fns, names, strict=True)]
    wf = Workflow("bench")
    add = wf.add_task
    for tk, ups in zip(tasks, deps, strict=True):
        add(tk, depends_on=ups)
    elapsed = time.perf_counter() - t
    registry.clear()
    return wf, elapsed


def run_ferroflow(wf: Any, executor: Any, store: Any = None) -> float:
    t = time.perf_counter()
    result = wf.run(executor=executor, store=store)
    elapsed = time.perf_counter() - t
    assert result.status == "completed"
    return elapsed


# ---------------------------------------------------------------- tables


def best_of(fn: Callable[[], float | None], repeat: int) -> float | None:
    times = []
    for _ in range(repeat):
        gc.collect()
        value = fn()
        if value is None:
            return None
        times.append(value)
    return min(times)


def print_table(title: str, rows: list[tuple[str, float | None]], n: int, floor: float | None) -> None:
    print(f"\n### {title}  ({n:,} tasks)\n")
    print(f"| {'runner':<34} | {'wall s':>9} | {'µs/task':>9} | {'× floor':>8} |")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 11}|{'-' * 10}|")
    for name, value in rows:
        if value is None:
            print(f"| {name:<34} | {'—':>9} | {'—':>9} | {'—':>8} |")
            continue
        ratio = f"{value / floor:.1f}" if floor else "—"
        print(f"| {name:<34} | {value:>9.3f} | {value / n * 1e6:>9.2f} | {ratio:>8} |")


def print_ratios(title: str, rows: dict[str, float | None], pairs: list[tuple[str, str]]) -> None:
    print(f"\n#### {title}: ferroflow / peer (lower is better)\n")
    for ours, peer in pairs:
        a, b = rows.get(ours), rows.get(peer)
        if a and b:
            print(f"- {ours} / {peer}: {a / b:.2f}")


PEER_BUDGET_S = 90.0  # a peer predicted (from the previous size) to take longer is not run


def bench_shape(
    shape: str, n: int, repeat: int, store_home: str, previous: dict[str, float | None] | None = None
) -> dict[str, float | None]:
    spec = SHAPES[shape](n)
    rows: dict[str, float | None] = {}

    def affordable(name: str) -> bool:
        if previous is None:
            return True
        before = previous.get(name)
        return before is not None and before * 10 < PEER_BUDGET_S

    rows["floor (plain loop)"] = best_of(lambda: run_floor(spec), repeat)
    peers: list[tuple[str, Callable[[], float | None], int]] = [
        ("graphlib + ThreadPoolExecutor(4)", lambda: run_graphlib_pool(spec), 1),
        ("dask get_sync", lambda: run_dask(spec, threaded=False), 1),
        ("dask threaded.get(4)", lambda: run_dask(spec, threaded=True), 1),
        ("flowweaver Sequential", lambda: run_flowweaver(shape, n, "sequential"), 1),
        ("flowweaver Threaded(4)", lambda: run_flowweaver(shape, n, "threaded"), 1),
        ("asyncio tasks (async no-ops)", lambda: run_asyncio_tasks(spec), repeat),
    ]
    for name, fn, times in peers:
        rows[name] = best_of(fn, times) if affordable(name) else None
    wf, build = build_ferroflow(spec)
    edges = sum(len(u) for u in spec)
    from ferroflow import SequentialExecutor, ThreadedExecutor

    rows["ferroflow sequential"] = best_of(lambda: run_ferroflow(wf, SequentialExecutor()), repeat)
    rows["ferroflow thread(2)"] = best_of(lambda: run_ferroflow(wf, ThreadedExecutor(2)), repeat)
    rows["ferroflow thread(4)"] = best_of(lambda: run_ferroflow(wf, ThreadedExecutor(4)), repeat)
    rows["ferroflow sequential + store"] = best_of(
        lambda: run_ferroflow(wf, SequentialExecutor(), store=store_home), repeat
    )
    rows["ferroflow thread(4) + store"] = best_of(
        lambda: run_ferroflow(wf, ThreadedExecutor(4), store=store_home), repeat
    )
    awf, _ = build_ferroflow(spec, is_async=True)
    rows["ferroflow async (async no-ops)"] = best_of(lambda: run_ferroflow(awf, "async"), repeat)
    print_table(f"{shape}", list(rows.items()), n, rows["floor (plain loop)"])
    print(
        f"\nferroflow build (Task objects + Workflow.add_task): {build:.3f} s = {build / (n + edges) * 1e6:.2f} µs per task+edge"
    )
    print_ratios(
        shape,
        rows,
        [
            ("ferroflow sequential", "floor (plain loop)"),
            ("ferroflow thread(4)", "floor (plain loop)"),
            ("ferroflow thread(4)", "graphlib + ThreadPoolExecutor(4)"),
            ("ferroflow sequential", "dask get_sync"),
            ("ferroflow thread(4)", "dask threaded.get(4)"),
            ("ferroflow sequential", "flowweaver Sequential"),
            ("ferroflow thread(4)", "flowweaver Threaded(4)"),
            ("ferroflow async (async no-ops)", "asyncio tasks (async no-ops)"),
        ],
    )
    return rows


def bench_sleeps() -> None:
    from ferroflow import Task, Workflow

    n_threads, sleep_s = (200, 0.01)
    wf = Workflow("sleep-threads")
    for i in range(n_threads):
        wf.add_task(Task(fn=lambda: time.sleep(sleep_s), name=f"s{i}"))
    ideal_threads = n_threads * sleep_s / 8
    t_ff = min(_timed(lambda: wf.run(executor="thread", max_workers=8, store=None)) for _ in range(3))
    t_pool = min(
        run_graphlib_pool([[] for _ in range(n_threads)], workers=8, fn=lambda: time.sleep(sleep_s)) for _ in range(3)
    )
    n_coros, coro_s = (1000, 0.1)

    async def nap() -> None:
        await asyncio.sleep(coro_s)

    awf = Workflow("sleep-coroutines")
    for i in range(n_coros):
        awf.add_task(Task(fn=nap, name=f"c{i}"))
    t_async = min(_timed(lambda: awf.run(executor="async", store=None)) for _ in range(3))
    print("\n### Parallel sleeps (ideal = total sleep / parallelism)\n")
    print(f"| {'case':<52} | {'wall s':>7} | {'ideal s':>7} | {'× ideal':>7} |")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for name, value, ideal in [
        (f"ferroflow thread, {n_threads} × sleep {sleep_s * 1000:.0f} ms, 8 workers", t_ff, ideal_threads),
        ("graphlib + ThreadPoolExecutor(8), same", t_pool, ideal_threads),
        (f"ferroflow async, {n_coros} coroutines × sleep {coro_s * 1000:.0f} ms", t_async, coro_s),
    ]:
        print(f"| {name:<52} | {value:>7.3f} | {ideal:>7.3f} | {value / ideal:>7.2f} |")


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _million_child(n: int) -> None:
    from ferroflow import ThreadedExecutor

    wf, build = build_ferroflow(layered(n))  # Task objects + one add_task per task
    t = time.perf_counter()
    result = wf.run(executor=ThreadedExecutor(4), store=None)
    run = time.perf_counter() - t
    assert result.status == "completed" and len(result) == n
    print(json.dumps({"build": build, "run": run, "rss_mb": _peak_rss_mb()}))


def bench_million(n: int) -> None:
    cmd = [sys.executable, __file__, "--million-child", str(n)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    total = data["build"] + data["run"]
    print(f"\n### {n:,}-task layered DAG on ferroflow thread(4), clean process\n")
    print(f"- build (Task objects + add_task each): {data['build']:.2f} s")
    print(f"- run: {data['run']:.2f} s ({data['run'] / n * 1e6:.2f} µs/task)")
    print(f"- total: {total:.2f} s; peak RSS: {data['rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer peers")
    parser.add_argument("--flowweaver-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--million-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flowweaver_child:
        shape, n, executor = args.flowweaver_child
        _flowweaver_child(shape, int(n), executor)
        return
    if args.million_child:
        _million_child(args.million_child)
        return
    print(f"# ferroflow execution benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as home:
        store_home = os.path.join(home, "store")
        if args.quick:
            plan = [("chain", 2_000, 3), ("fan", 2_000, 3), ("layered", 20_000, 2)]
        else:
            plan = [("chain", 10_000, 3), ("fan", 10_000, 3), ("layered", 100_000, 2)]
        rows: dict[str, dict[str, float | None]] = {}
        for shape, n, repeat in plan:
            rows[shape] = bench_shape(shape, n, repeat, store_home)
        if not args.quick:
            # Every shape at 100k too; peers predicted from the smaller size to take too long are skipped.
            for shape in ("chain", "fan"):
                bench_shape(shape, 100_000, 2, store_home, previous=rows[shape])
            bench_shape("layered", 1_000_000, 1, store_home, previous=rows["layered"])
            print(f"\n(—: not run, predicted from the smaller size to exceed {PEER_BUDGET_S:.0f} s, or timed out)")
    bench_sleeps()
    bench_million(100_000 if args.quick else 1_000_000)


if __name__ == "__main__":
    main()
