"""Kill -9 trial: how many finished tasks does a crash lose from the store?

A workflow of N independent tasks (default 10k, each sleeping 2 ms, 4 thread
workers) runs in a child process recording into a real SQLite store. Every
task, as its last act, appends ``name pid time`` to a marks file (one
``O_APPEND`` write, so it survives the kill). The parent kills the child with
``SIGKILL`` at a random point, then reads the store:

- *lost*: tasks the killed process finished (they are in the marks file) that
  the store does not show as completed in the killed run: they run again;
- the next child resumes the killed run, and is killed in turn, until a child
  finishes; a task that finished at least ``--grace`` ms (default 50) before a
  kill and ran again afterwards is a *violation*.

Printed: lost tasks per kill (median, mean, max), tasks per second, violations.

    python benches/kill9_trial.py                 # 10k tasks, kills until done
    python benches/kill9_trial.py -n 4000 --kills 6
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(store: str, marks: str, n: int, workers: int, sleep_ms: float, resume: str | None) -> None:
    """Run the workflow (resuming ``resume`` if given) in this process."""
    from ferroflow import Task, Workflow

    fd = os.open(marks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pid = os.getpid()

    def make(name: str):  # type: ignore[no-untyped-def]
        def work() -> None:
            time.sleep(sleep_ms / 1000)
            os.write(fd, f"{name} {pid} {time.time():.6f}\n".encode())

        return work

    wf = Workflow("kill9_trial")
    for i in range(n):
        wf.add_task(Task(fn=make(f"t{i}"), name=f"t{i}"))
    wf.run(executor="thread", max_workers=workers, store=store, resume=resume, raise_on_failure=False)


def read_marks(path: Path) -> list[tuple[str, int, float]]:
    """Every complete ``name pid time`` line of the marks file."""
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append((parts[0], int(parts[1]), float(parts[2])))
    return out


def completed_in(store_path: Path, run_id: str) -> set[str]:
    """Names the store shows as completed (run in that run, not resumed) in ``run_id``."""
    from ferroflow.store import Store

    store = Store(store_path)
    try:
        detail = store.get_run(run_id)
    finally:
        store.close()
    return {t.name for t in detail.tasks if t.status == "completed" and not t.resumed}


def latest_run(store_path: Path) -> str | None:
    """The id of the newest run in the store."""
    from ferroflow.store import Store

    if not store_path.exists():
        return None
    store = Store(store_path)
    try:
        runs = store.list_runs(limit=1)
    finally:
        store.close()
    return runs[0].run_id if runs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000, help="tasks (default 10k)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--sleep-ms", type=float, default=2.0)
    ap.add_argument("--kills", type=int, default=15, help="kill at most this many children (default 15)")
    ap.add_argument("--min-s", type=float, default=0.2, help="earliest kill after the first mark (s)")
    ap.add_argument("--max-s", type=float, default=0.8, help="latest kill after the first mark (s)")
    ap.add_argument("--grace", type=float, default=50.0, help="ms before a kill after which a re-run is allowed")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--child", nargs=2, metavar=("STORE", "MARKS"), help=argparse.SUPPRESS)
    ap.add_argument("--resume", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.n, args.workers, args.sleep_ms, args.resume)
        return
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="ff-kill9-"))
    store, marks = work / "ferroflow.db", work / "marks.txt"
    marks.touch()
    lost: list[int] = []
    kills: list[tuple[int, float]] = []  # (pid of the killed child, time of the kill)
    rates: list[float] = []
    resume: str | None = None
    base = [sys.executable, __file__, "-n", str(args.n), "--workers", str(args.workers)]
    base += ["--sleep-ms", str(args.sleep_ms), "--child", str(store), str(marks)]
    for attempt in range(args.kills + 1):
        seen = len(read_marks(marks))
        proc = subprocess.Popen(base + (["--resume", resume] if resume else []))
        # Wait for this child's first mark, then kill it at a random point (unless it is the last child).
        deadline = time.monotonic() + 120
        while len(read_marks(marks)) == seen and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if attempt == args.kills:
            proc.wait()
            break
        t_first = time.time()
        delay = rng.uniform(args.min_s, args.max_s)
        while time.time() - t_first < delay and proc.poll() is None:
            time.sleep(0.002)
        if proc.poll() is not None:  # finished before the kill
            break
        at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills.append((proc.pid, at))
        run_id = latest_run(store)
        assert run_id is not None
        mine = [m for m in read_marks(marks) if m[1] == proc.pid]
        finished = {m[0] for m in mine}
        missing = finished - completed_in(store, run_id)
        lost.append(len(missing))
        if len(mine) > 1:
            rates.append(len(mine) / (mine[-1][2] - mine[0][2]))
        print(f"kill {len(kills):2d} after {delay:.2f} s: {len(finished):5d} finished, {len(missing):3d} not recorded")
        resume = run_id
    all_marks = read_marks(marks)
    violations = 0
    first_done: dict[str, float] = {}
    for name, _pid, t in all_marks:
        if name in first_done:
            # Ran again: allowed only if the earlier finish was within the grace window of the kill that followed it.
            prev = first_done[name]
            kill_after = min((k for _, k in kills if k >= prev), default=None)
            if kill_after is not None and kill_after - prev >= args.grace / 1000:
                violations += 1
        else:
            first_done[name] = t
    done = len(first_done)
    print()
    print(f"tasks: {args.n} x {args.sleep_ms} ms, {args.workers} workers; kills: {len(kills)}; finished: {done}")
    if lost:
        print(
            f"finished-but-unrecorded per kill: median {statistics.median(lost):.1f}, "
            f"mean {statistics.mean(lost):.1f}, max {max(lost)}  (all: {lost})"
        )
    if rates:
        print(f"throughput: {statistics.median(rates):.0f} tasks/s (median over killed children)")
    print(f"re-runs of tasks finished >= {args.grace:.0f} ms before a kill: {violations}")
    print(f"work dir: {work}")


if __name__ == "__main__":
    main()
