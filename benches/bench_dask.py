"""ferroflow on Dask vs Dask itself, on the same cluster, side by side in one run.

The cluster: a ``dask scheduler`` process and 2 ``dask worker`` processes (1 thread each;
2 each for the sleep case, 4 threads in all) on 127.0.0.1, so the client's memory is the
client's. For each graph shape, the runners:

- ``ferroflow dask``: ``run(executor=DaskExecutor(address=...), store=None)``, one Dask
  task per ferroflow task (fusion off: no history, nothing marked);
- ``ferroflow fused``: the same with every task marked short (``short_tasks=``), so
  fusion groups them on a first run;
- ``dask futures``: ``client.submit(fn, *upstream_futures)`` for every node, then
  ``client.gather`` of all of them (what a user writes with plain ``distributed``);
- ``dask.delayed``: the same graph as ``dask.delayed`` calls, ``dask.compute`` of all;
- ``ferroflow thread``: the thread executor in this process (a reference, no cluster).

Shapes: a layered no-op DAG (100 layers, each node with 2 upstreams in the layer
before), the random DAG of the scheduler benchmark (up to 3 upstreams of lower id), a
chain, a fan-out (one root, N leaves), and 200 sleeps of 100 ms on 4 worker threads
(ideal 5 s). Each case runs once (plain Dask on 100k tasks takes minutes).

Columns: wall time, microseconds per task, the ratio to ``dask futures``, Dask tasks
submitted, tasks per worker (from the scheduler's task stream), and the client's peak
RSS growth during the case per task.

    python benches/bench_dask.py --quick          # N = 10k
    python benches/bench_dask.py                  # N = 10k and 100k for the layered DAG
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import dask
import distributed
import psutil
from ferroflow import Task, ThreadedExecutor, Workflow
from ferroflow.executors.dask import DaskExecutor

Preds = list[list[int]]


def noop(*ups: Any) -> int:
    return 1


def nap(*ups: Any) -> int:
    time.sleep(0.1)
    return 1


def layered(n: int, seed: int = 1) -> Preds:
    rng = random.Random(seed)
    width = max(1, n // 100)
    preds: Preds = []
    for i in range(n):
        layer = i // width
        if layer == 0:
            preds.append([])
        else:
            lo = (layer - 1) * width
            preds.append(sorted({lo + rng.randrange(width), lo + rng.randrange(width)}))
    return preds


def random_dag(n: int, seed: int = 1) -> Preds:
    rng = random.Random(seed)
    return [[] if i == 0 else sorted({rng.randrange(i) for _ in range(3)}) for i in range(n)]


def chain(n: int) -> Preds:
    return [[] if i == 0 else [i - 1] for i in range(n)]


def fan_out(n: int) -> Preds:
    return [[]] + [[0] for _ in range(n - 1)]


def independent(n: int) -> Preds:
    return [[] for _ in range(n)]


# ---------------------------------------------------------------- runners


def workflow(preds: Preds, fn: Callable[..., Any]) -> Workflow:
    wf = Workflow("bench")
    for i, ps in enumerate(preds):
        wf.add_task(Task(fn=fn, name=f"t{i}"), depends_on=[f"t{p}" for p in ps])
    return wf


def run_ferroflow_dask(client: Any, address: str, preds: Preds, fn: Callable[..., Any]) -> int:
    ex = DaskExecutor(address=address)
    result = workflow(preds, fn).run(executor=ex, store=None)
    assert len(result) == len(preds)
    return ex.submitted


def run_ferroflow_fused(client: Any, address: str, preds: Preds, fn: Callable[..., Any]) -> int:
    """Fusion with every task marked short (a first run: no history needed)."""
    ex = DaskExecutor(address=address, short_tasks=lambda name: True)
    result = workflow(preds, fn).run(executor=ex, store=None)
    assert len(result) == len(preds)
    return ex.submitted


def run_futures(client: Any, address: str, preds: Preds, fn: Callable[..., Any]) -> int:
    futures: list[Any] = []
    for i, ps in enumerate(preds):
        futures.append(client.submit(fn, *[futures[p] for p in ps], key=f"f{i}-{time.time_ns()}", pure=False))
    assert sum(client.gather(futures)) == len(preds)
    return len(futures)


def run_delayed(client: Any, address: str, preds: Preds, fn: Callable[..., Any]) -> int:
    nodes: list[Any] = []
    for i, ps in enumerate(preds):
        nodes.append(dask.delayed(fn, pure=False)(*[nodes[p] for p in ps], dask_key_name=f"d{i}-{time.time_ns()}"))
    (values,) = dask.compute(nodes, scheduler=client)
    assert sum(values) == len(preds)
    return len(nodes)


def run_thread(client: Any, address: str, preds: Preds, fn: Callable[..., Any]) -> int:
    result = workflow(preds, fn).run(executor=ThreadedExecutor(max_workers=4), store=None)
    assert len(result) == len(preds)
    return 0


RUNNERS: dict[str, Callable[[Any, str, Preds, Callable[..., Any]], int]] = {
    "ferroflow dask": run_ferroflow_dask,
    "ferroflow fused": run_ferroflow_fused,
    "dask futures": run_futures,
    "dask.delayed": run_delayed,
    "ferroflow thread": run_thread,
}


class PeakRss:
    """The client's peak RSS above its level at the start, sampled every 20 ms."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


# ---------------------------------------------------------------- the cluster


class Cluster:
    """A scheduler process and worker processes on 127.0.0.1."""

    def __init__(self, threads: int, workers: int = 2) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-dask-"))
        dask_cli = str(Path(sys.executable).with_name("dask"))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        sched_file = self.dir / "scheduler.json"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": self.dir}
        self.procs = [
            subprocess.Popen(
                [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
                + ["--scheduler-file", str(sched_file)],
                **quiet,  # type: ignore[call-overload]
            )
        ]
        while not (sched_file.exists() and sched_file.stat().st_size):
            time.sleep(0.05)
        self.address = json.loads(sched_file.read_text())["address"]
        for _ in range(workers):
            self.procs.append(
                subprocess.Popen(
                    [dask_cli, "worker", self.address, "--nthreads", str(threads), "--no-dashboard"]
                    + ["--host", "127.0.0.1", "--memory-limit", "0"],
                    **quiet,  # type: ignore[call-overload]
                )
            )
        self.client = distributed.Client(self.address, set_as_default=False)
        self.client.wait_for_workers(workers, timeout=60)
        self.client.get_task_stream()  # start recording the task stream (tasks per worker)

    def close(self) -> None:
        self.client.close()
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            p.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


def per_worker(client: Any, since: float) -> str:
    stream = client.get_task_stream(start=since)
    counts = collections.Counter(rec["worker"] for rec in stream)
    return "/".join(str(c) for _, c in sorted(counts.items())) or "-"


def run_case(cluster: Cluster, label: str, preds: Preds, fn: Callable[..., Any], runners: list[str]) -> None:
    n = len(preds)
    print(f"\n{label}: {n:,} tasks")
    print(
        f"{'runner':<17} {'wall s':>8} {'us/task':>9} {'x futures':>9} {'dask tasks':>10} {'per worker':>13} {'B/task':>8}"
    )
    rows = []
    for name in runners:
        since = time.time()
        with PeakRss() as rss:
            began = time.perf_counter()
            try:
                submitted = RUNNERS[name](cluster.client, cluster.address, preds, fn)
            except Exception as e:  # noqa: BLE001 - a peer that breaks down is a result too
                print(
                    f"{name:<17} failed after {time.perf_counter() - began:.1f} s: {type(e).__name__}: {e}", flush=True
                )
                continue
            wall = time.perf_counter() - began
        spread = per_worker(cluster.client, since) if submitted else "(local)"
        rows.append((name, wall, submitted, spread, (rss.peak - rss.base) / n))
        print(f"  ({name} done: {wall:.2f} s)", flush=True)
    futures_wall = next((w for name, w, *_ in rows if name == "dask futures"), None)
    for name, wall, submitted, spread, mem in rows:
        ratio = f"{wall / futures_wall:.2f}" if futures_wall else "-"
        print(f"{name:<17} {wall:>8.2f} {wall / n * 1e6:>9.0f} {ratio:>9} {submitted:>10,} {spread:>13} {mem:>8.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10k tasks only (no 100k case)")
    ap.add_argument("-n", type=int, default=10_000, help="tasks per shape (default 10k)")
    ap.add_argument("--runners", default=",".join(RUNNERS), help="comma-separated runners (default: all)")
    ap.add_argument("--only-100k", action="store_true", help="only the 100k layered case")
    args = ap.parse_args()
    n = args.n
    every = [r for r in args.runners.split(",") if r]
    unknown = [r for r in every if r not in RUNNERS]
    if unknown:
        ap.error(f"unknown runner(s) {', '.join(unknown)}; known: {', '.join(RUNNERS)}")
    if args.only_100k:
        cluster = Cluster(threads=1)
        try:
            run_case(cluster, "no-op layered DAG", layered(100_000), noop, every)
        finally:
            cluster.close()
        return
    cluster = Cluster(threads=1)
    try:
        print(f"cluster: 2 dask worker processes x 1 thread at {cluster.address}; dask {dask.__version__}")
        run_case(cluster, "no-op layered DAG", layered(n), noop, every)
        if not args.quick:
            run_case(cluster, "no-op layered DAG", layered(100_000), noop, every)
        run_case(cluster, "no-op random DAG", random_dag(n), noop, every)
        run_case(cluster, "no-op chain", chain(n), noop, every)
        run_case(cluster, "no-op fan-out", fan_out(n), noop, every)
    finally:
        cluster.close()
    cluster = Cluster(threads=2)
    try:
        print(f"\ncluster: 2 dask worker processes x 2 threads at {cluster.address}")
        run_case(cluster, "100 ms sleeps (ideal 5.0 s)", independent(200), nap, every)
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
