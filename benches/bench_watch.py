"""File floods: ferroflow's watcher side by side with watchfiles, watchdog and flowwatch.

Run as a script (it is not a timed test)::

    python benches/bench_watch.py            # the full matrix (several minutes)
    python benches/bench_watch.py --quick    # a fast pass

For each library and scenario, a watcher process is started on an empty
folder, proven live with a probe file, and then a separate writer process
creates the files as fast as it can. Measured, per run:

- lost: files written minus distinct paths reported as added;
- latency: from the writer's last write (``overflow``: from SIGCONT) to the
  last new path delivered to user code (a handler call, or a yielded batch for
  raw ``watchfiles.watch``);
- peak RSS of the watcher process (``ru_maxrss``, interpreter included), and
  its RSS after imports, before watching (``base``).

Scenarios: ``flat`` (N files in the root), ``nested`` (N files spread over
100 existing folders), ``subfolders`` (each file written into a freshly
created ``dNNNN/a/b`` folder), ``overflow`` (the watcher process is stopped
with SIGSTOP while the writer runs, so the kernel queue overflows; SIGCONT
after), ``storm`` (N appends to one existing file: the number of modified
events delivered).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIBS = ["ferroflow", "watchfiles", "watchdog", "flowwatch"]
PROBE = "probe-"


# ---------------------------------------------------------------- writer process


def write_files(root: Path, mode: str, n: int) -> float:
    """Create the scenario's files as fast as possible; return the wall time of the last write."""
    if mode == "storm":
        fd = os.open(root / "hot.log", os.O_WRONLY | os.O_APPEND)
        for i in range(n):
            os.write(fd, b"%d\n" % i)
        os.close(fd)
        return time.time()
    for i in range(n):
        if mode == "flat" or mode == "overflow":
            path = root / f"f{i:06d}.dat"
        elif mode == "nested":
            path = root / f"n{i % 100:03d}" / f"f{i:06d}.dat"
        else:  # subfolders: a new tree per file
            d = root / f"d{i:06d}" / "a" / "b"
            os.makedirs(d)
            path = d / "f.dat"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, b"x")
        os.close(fd)
    return time.time()


def prepare(root: Path, mode: str) -> None:
    if mode == "nested":
        for i in range(100):
            (root / f"n{i:03d}").mkdir()
    if mode == "storm":
        (root / "hot.log").write_bytes(b"")


# ---------------------------------------------------------------- watcher process


class Recorder:
    """Collects (change, path, wall time) from whichever library is measured."""

    def __init__(self) -> None:
        self.added: dict[str, float] = {}
        self.events = 0
        self.last_event = 0.0
        self.probe_seen = threading.Event()

    def record(self, change: str, path: str) -> None:
        now = time.time()
        name = os.path.basename(path)
        if name.startswith(PROBE):
            self.probe_seen.set()
            return
        self.events += 1
        self.last_event = now
        # count files only: some libraries also report the folders they see created
        if change == "added" and name.endswith(".dat") and path not in self.added:
            self.added[path] = now


def start_ferroflow(root: Path, rec: Recorder, debounce: float) -> Callable[[], None]:
    from ferroflow.watch import Change, FileEvent, WatchApp

    app = WatchApp(debounce=debounce, max_workers=4)

    def handler(event: FileEvent) -> None:
        rec.record(event.change.name, str(event.path))

    app.add_handler(handler, root, [Change.added, Change.modified])
    app.start()
    return app.stop


def start_watchfiles(root: Path, rec: Recorder, debounce: float) -> Callable[[], None]:
    import watchfiles

    stop = threading.Event()

    def loop() -> None:
        for changes in watchfiles.watch(root, stop_event=stop):
            for change, path in changes:
                rec.record(change.name, path)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return stop.set


def start_watchdog(root: Path, rec: Recorder, debounce: float) -> Callable[[], None]:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class Handler(FileSystemEventHandler):
        def on_created(self, event: FileSystemEvent) -> None:
            if not event.is_directory:
                rec.record("added", os.fsdecode(event.src_path))

        def on_modified(self, event: FileSystemEvent) -> None:
            if not event.is_directory:
                rec.record("modified", os.fsdecode(event.src_path))

    observer = Observer()
    observer.schedule(Handler(), str(root), recursive=True)
    observer.start()
    return observer.stop


def start_flowwatch(root: Path, rec: Recorder, debounce: float) -> Callable[[], None]:
    import logging

    from flowwatch import FlowWatchApp
    from watchfiles import Change

    logging.getLogger("flowwatch").setLevel(logging.WARNING)
    app = FlowWatchApp(max_workers=4)

    def handler(event: Any) -> None:
        rec.record(event.change.name, str(event.path))

    app.add_handler(handler, root=root, events=[Change.added, Change.modified])
    app.start()
    return app.stop


STARTERS = {
    "ferroflow": start_ferroflow,
    "watchfiles": start_watchfiles,
    "watchdog": start_watchdog,
    "flowwatch": start_flowwatch,
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def watcher_main(lib: str, root: Path, mode: str, n: int, debounce: float, idle: float) -> None:
    rec = Recorder()
    STARTERS[lib]  # import cost is measured in "base"
    if lib == "ferroflow":
        import ferroflow.watch  # noqa: F401
    elif lib == "flowwatch":
        import flowwatch  # noqa: F401
    elif lib == "watchdog":
        import watchdog.observers  # noqa: F401
    else:
        import watchfiles  # noqa: F401
    base = current_rss_mb()
    STARTERS[lib](root, rec, debounce)
    i = 0
    deadline = time.monotonic() + 30
    while not rec.probe_seen.wait(0.2):  # prove the watcher is live before the flood
        (root / f"{PROBE}{i}").write_text("p")
        i += 1
        if time.monotonic() > deadline:
            raise SystemExit(f"{lib}: no probe event within 30 s")
    time.sleep(0.3)
    print("ready", flush=True)
    end_line = sys.stdin.readline().split()
    t_end = float(end_line[1])
    want = n if mode != "storm" else None
    quiet_since = time.monotonic()
    seen = (0, 0)
    while True:
        time.sleep(0.02)
        now_seen = (len(rec.added), rec.events)
        if now_seen != seen:
            seen, quiet_since = now_seen, time.monotonic()
        if want is not None and len(rec.added) >= want:
            time.sleep(0.3)  # late duplicates still count as events
            break
        if time.monotonic() - quiet_since > idle:
            break
    last_new = max(rec.added.values(), default=0.0) if mode != "storm" else rec.last_event
    result = {
        "distinct": len(rec.added),
        "events": rec.events,
        "latency_ms": (last_new - t_end) * 1000 if last_new else None,
        "rss_mb": rss_mb(),
        "base_mb": base,
    }
    print("result " + json.dumps(result), flush=True)
    os._exit(0)  # teardown time is not measured, and some peers are slow to stop


# ---------------------------------------------------------------- driver


def run_case(lib: str, mode: str, n: int, debounce: float, idle: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{lib}-{mode}-"))
    root = tmp / "root"
    root.mkdir()
    prepare(root, mode)
    cmd = [sys.executable, __file__, "--_watcher", lib, "--_dir", str(root), "--_mode", mode, "--_n", str(n)]
    cmd += ["--debounce", str(debounce), "--idle", str(idle)]
    errors = tmp / "stderr.txt"
    with errors.open("w") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for line in proc.stdout:  # some libraries log to stdout: skip until ready
            if line.strip() == "ready":
                break
        else:
            raise RuntimeError(f"{lib} {mode}: watcher did not start: {errors.read_text()[-500:]}")
        if mode == "overflow":
            os.kill(proc.pid, signal.SIGSTOP)
        writer = subprocess.run(
            [sys.executable, __file__, "--_write", str(root), "--_mode", mode, "--_n", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        t_end = float(writer.stdout.strip())
        if mode == "overflow":
            time.sleep(0.5)
            os.kill(proc.pid, signal.SIGCONT)
            t_end = time.time()  # the watcher could not see anything before this
        proc.stdin.write(f"end {t_end}\n")
        proc.stdin.flush()
        out = ""
        for out in proc.stdout:
            if out.startswith("result "):
                break
        data = json.loads(out[len("result ") :])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    data.update(lib=lib, mode=mode, n=n, lost=(n - data["distinct"]) if mode != "storm" else None)
    return data


def fmt(row: dict[str, Any]) -> str:
    lat = "-" if row["latency_ms"] is None else f"{row['latency_ms']:.0f}"
    lost = str(row["events"]) + " events" if row["mode"] == "storm" else f"{row['lost']:,}"
    return (
        f"| {row['mode']:<10} | {row['n']:>7,} | {row['lib']:<10} | {lost:>10} | {lat:>8} "
        f"| {row['rss_mb']:>6.0f} | {row['base_mb']:>5.0f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a fast pass: small N, one run per case")
    p.add_argument("--libs", default=",".join(LIBS), help="comma-separated subset of " + ",".join(LIBS))
    p.add_argument("--modes", default="", help="comma-separated subset of flat,nested,subfolders,overflow,storm")
    p.add_argument("--debounce", type=float, default=0.2, help="ferroflow's debounce window, seconds (default 0.2)")
    p.add_argument("--idle", type=float, default=5.0, help="seconds without a new event before a run ends")
    p.add_argument("--json", action="store_true", help="also print each result as a JSON line")
    p.add_argument("--_watcher", help=argparse.SUPPRESS)
    p.add_argument("--_write", help=argparse.SUPPRESS)
    p.add_argument("--_dir", help=argparse.SUPPRESS)
    p.add_argument("--_mode", help=argparse.SUPPRESS)
    p.add_argument("--_n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._write:
        print(write_files(Path(args._write), args._mode, args._n))
        return
    if args._watcher:
        watcher_main(args._watcher, Path(args._dir), args._mode, args._n, args.debounce, args.idle)
        return
    if args.quick:
        cases = [("flat", 10_000), ("nested", 10_000), ("subfolders", 2_000), ("overflow", 20_000), ("storm", 10_000)]
    else:
        cases = [(m, n) for m in ("flat", "nested") for n in (10_000, 50_000, 100_000)]
        cases += [("subfolders", 10_000), ("overflow", 50_000), ("storm", 10_000)]
    if args.modes:
        keep = set(args.modes.split(","))
        cases = [c for c in cases if c[0] in keep]
    libs = [x for x in args.libs.split(",") if x]
    print(f"ferroflow debounce {args.debounce}s; peers at their defaults; Python {sys.version.split()[0]}")
    print("| scenario   |       N | library    |       lost |  latency | peak MB | base MB |")
    print("|------------|---------|------------|------------|----------|---------|---------|")
    for mode, n in cases:
        for lib in libs:
            try:
                row = run_case(lib, mode, n, args.debounce, args.idle)
            except (
                RuntimeError,
                OSError,
                ValueError,
                subprocess.SubprocessError,
            ) as exc:  # a peer failing is a result too
                print(f"| {mode:<10} | {n:>7,} | {lib:<10} | failed: {exc}")
                continue
            print(fmt(row), flush=True)
            if args.json:
                print(json.dumps(row))
    print("latency: ms from the writer's last write to the last new file delivered (storm: last event)")


if __name__ == "__main__":
    main()
