"""Run-store overhead: a workflow of N no-op tasks with the store on vs ``store=None``; cache lookups.

Rows of the table:

- ``run, store=None``: ``Workflow.run(executor="thread", store=None)`` -- nothing recorded;
- ``run, store on``: the same run recorded in a fresh SQLite store (every task's
  status, attempts and timings committed in batches, the run's final row);
  ``+ per task`` is the difference to ``store=None``, the store's cost;
- ``recorder only``: ``task_started`` + ``task_completed`` for N tasks and ``finish``,
  without the engine: the recording itself, from queue to committed rows;
- ``recorder + TaskRecord``: the same through ``task_finished(TaskRecord(...))``, the
  call the engine makes today (building a ``TaskRecord`` per task costs about as much
  as recording it);
- ``cache hit``: ``Store.cache_get`` of an existing key (microseconds per call);
- ``cache_key``: computing the key of a task call with a small dict input.

Best of R repeats. Run it on a quiet machine: it measures wall time.

    python benches/bench_store.py               # N = 100k
    python benches/bench_store.py --quick       # N = 20k, fewer repeats
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from ferroflow import Task, Workflow
from ferroflow.results import RunResult, TaskRecord, TaskStatus
from ferroflow.store.cache import cache_key
from ferroflow.store.store import Store, open_store


def noop() -> None:
    """The task."""


def build(n: int) -> Workflow:
    wf = Workflow("bench_store")
    for i in range(n):
        wf.add_task(Task(fn=noop, name=f"t{i}"))
    return wf


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def recorder_only(store: Store, n: int, counter: list[int], with_records: bool) -> None:
    counter[0] += 1
    run_id = f"rec-{counter[0]}"
    names = [f"t{i}" for i in range(n)]
    rec = store.begin_run(run_id=run_id, workflow="rec", params={}, task_names=names)
    now = time.time()
    started, completed, finished = rec.task_started, rec.task_completed, rec.task_finished
    if with_records:
        for name in names:
            started(name, now)
            finished(TaskRecord(name, TaskStatus.COMPLETED, 1, now, now))
    else:
        for name in names:
            started(name, now)
            completed(name, now, now)
    rec.finish(RunResult(run_id, "rec", {}, status="completed", stats={}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100_000, help="number of tasks (default 100k)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="N = 20k, 3 repeats")
    args = ap.parse_args()
    n, repeats = (20_000, 3) if args.quick else (args.n, args.repeats)

    home = Path(tempfile.mkdtemp(prefix="ferroflow-bench-"))
    wf = build(n)
    store = open_store(home / "bench.db")
    assert store is not None
    wf.run(executor="thread", store=None)  # warm up
    off = best(lambda: wf.run(executor="thread", store=None), repeats)
    on = best(lambda: wf.run(executor="thread", store=store), repeats)
    counter = [0]
    rec = best(lambda: recorder_only(store, n, counter, False), repeats)
    rec_records = best(lambda: recorder_only(store, n, counter, True), repeats)

    store.cache_put("hit", "t", {"rows": 3}, ttl_seconds=3600)
    calls = 20_000
    hit = best(lambda: [store.cache_get("hit") for _ in range(calls)], 3)
    task = SimpleNamespace(name="t", fn=noop, cache_key=None, cache_version=None)
    key = best(lambda: [cache_key(task, ({"a": 1, "b": [1, 2]},), {}) for _ in range(calls)], 3)

    print(f"\nrun store, N = {n:,} no-op tasks on the thread executor, best of {repeats}\n")
    print(f"{'':24} {'total':>10} {'µs/task':>10} {'+ per task':>11}")
    print(f"{'run, store=None':24} {off:>9.3f}s {off / n * 1e6:>10.2f} {'':>11}")
    print(f"{'run, store on':24} {on:>9.3f}s {on / n * 1e6:>10.2f} {(on - off) / n * 1e6:>9.2f}µs")
    print(f"{'recorder only':24} {rec:>9.3f}s {rec / n * 1e6:>10.2f} {'':>11}")
    print(f"{'recorder + TaskRecord':24} {rec_records:>9.3f}s {rec_records / n * 1e6:>10.2f} {'':>11}")
    print(f"\n{'cache hit (cache_get)':24} {hit / calls * 1e6:>9.2f}µs per call")
    print(f"{'cache_key (dict input)':24} {key / calls * 1e6:>9.2f}µs per call")


if __name__ == "__main__":
    main()
