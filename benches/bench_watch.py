"""File floods: ferroflow's watcher side by side with watchfiles, watchdog and flowwatch.

Run as a script (it is not a timed test)::

    python benches/bench_watch.py                    # the full matrix (several minutes)
    python benches/bench_watch.py --quick            # a fast pass
    python benches/bench_watch.py --runs 5 --strace  # medians of 5 alternating runs, syscall counts

Two ferroflow rows: ``ferroflow`` is a ``WatchApp`` with one handler,
``ff-core`` the bare ``ferroflow._core.Watcher`` in a ``next_batch`` loop
(as ``watchfiles`` is its bare ``watch`` loop).

For each library and scenario, a watcher process is started on an empty
folder, proven live with a probe file, and then a separate writer process
creates the files as fast as it can. Measured, per run:

- lost: files written minus distinct paths reported as added;
- latency: from the writer's last write (``overflow``: from SIGCONT) to the
  last new path delivered to user code (a handler call, or a yielded batch for
  raw ``watchfiles.watch``);
- peak RSS of the watcher process (``ru_maxrss``, interpreter included), and
  its RSS after imports, before watching (``base``);
- CPU: the watcher process's user + system time (``getrusage``, every
  thread) from the moment it is live to its last new event, per file
  written (µs/event), and its ratio to watchfiles' in the same run;
- context switches (voluntary + involuntary, ``getrusage``) per event;
- with ``--strace``: system calls per event, each case run once more with
  ``strace -f -c`` attached to the watcher process from the moment it is
  live to its exit (a separate run, as tracing slows every call; the most
  frequent calls are printed below the table).

Every user-code callback does the same work in every library (it records the
path in a dict), so the differences are the libraries' own.

Scenarios: ``flat`` (N files in the root), ``nested`` (N files spread over
100 existing folders), ``subfolders`` (each file written into a freshly
created ``dNNNN/a/b`` folder), ``overflow`` (the watcher process is stopped
with SIGSTOP while the writer runs, so the kernel queue overflows; SIGCONT
after), ``storm`` (N appends to one existing file: the number of modified
events delivered), ``idle`` (no writes: CPU over N seconds of watching an
empty folder, in ms).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIBS = ["ff-core", "ferroflow", "watchfiles", "watchdog", "flowwatch"]
PEER = "watchfiles"  # the ratio column divides by its CPU per event
PROBE = "probe-"


# ---------------------------------------------------------------- writer process


def write_files(root: Path, mode: str, n: int) -> float:
    """Create the scenario's files as fast as possible; return the wall time of the last write."""
    if mode == "idle":
        return time.time()
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


def start_ff_core(root: Path, rec: Recorder, debounce: float) -> Callable[[], None]:
    from ferroflow._core import Watcher

    names = {1: "added", 2: "modified", 3: "deleted"}
    watcher = Watcher([(str(root), True, [], [], True, False, 0.0)], debounce_ms=round(debounce * 1000))

    def loop() -> None:
        while (batch := watcher.next_batch(250)) is not None:
            for change, path, _subs, _existing in batch:
                rec.record(names[change], path)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return watcher.close


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
    "ff-core": start_ff_core,
    "ferroflow": start_ferroflow,
    "watchfiles": start_watchfiles,
    "watchdog": start_watchdog,
    "flowwatch": start_flowwatch,
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_now() -> tuple[float, float, int]:
    """User and system seconds and context switches of this process so far (every thread)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_nvcsw + r.ru_nivcsw


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def watcher_main(lib: str, root: Path, mode: str, n: int, debounce: float, idle: float) -> None:
    rec = Recorder()
    STARTERS[lib]  # import cost is measured in "base"
    if lib == "ferroflow":
        import ferroflow.watch
    elif lib == "ff-core":
        import ferroflow._core  # noqa: F401
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
    cpu0 = cpu_now()
    end_line = sys.stdin.readline().split()
    t_end = float(end_line[1])
    if mode == "idle":
        time.sleep(n)
        cpu_last = cpu_now()
    else:
        want = n if mode != "storm" else None
        quiet_since = time.monotonic()
        seen = (0, 0)
        cpu_last = cpu_now()
        while True:
            time.sleep(0.02)
            now_seen = (len(rec.added), rec.events)
            if now_seen != seen:
                seen, quiet_since = now_seen, time.monotonic()
                cpu_last = cpu_now()  # CPU up to the last progress, not the quiet tail
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
        "user_s": cpu_last[0] - cpu0[0],
        "sys_s": cpu_last[1] - cpu0[1],
        "csw": cpu_last[2] - cpu0[2],
    }
    print("result " + json.dumps(result), flush=True)
    os._exit(0)  # teardown time is not measured, and some peers are slow to stop


# ---------------------------------------------------------------- driver


def traced(pid: int) -> bool:
    """Whether every thread of ``pid`` has a tracer attached."""
    tasks = list(Path(f"/proc/{pid}/task").iterdir())
    for task in tasks:
        for line in (task / "status").read_text().splitlines():
            if line.startswith("TracerPid:") and line.split()[1] == "0":
                return False
    return bool(tasks)


def parse_strace(text: str) -> tuple[int, dict[str, int]]:
    """Total calls and calls per syscall from an ``strace -c`` summary."""
    calls: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[3].isdigit():
            continue
        if parts[-1] == "total":
            total = int(parts[3])
        else:
            calls[parts[-1]] = int(parts[3])
    return total or sum(calls.values()), calls


def run_case(lib: str, mode: str, n: int, debounce: float, idle: float, strace: bool = False) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{lib}-{mode}-"))
    root = tmp / "root"
    root.mkdir()
    prepare(root, mode)
    cmd = [sys.executable, __file__, "--_watcher", lib, "--_dir", str(root), "--_mode", mode, "--_n", str(n)]
    cmd += ["--debounce", str(debounce), "--idle", str(idle)]
    errors = tmp / "stderr.txt"
    counts = tmp / "strace.txt"
    tracer: subprocess.Popen[bytes] | None = None
    with errors.open("w") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for line in proc.stdout:  # some libraries log to stdout: skip until ready
            if line.strip() == "ready":
                break
        else:
            raise RuntimeError(f"{lib} {mode}: watcher did not start: {errors.read_text()[-500:]}")
        if strace:
            tracer = subprocess.Popen(
                ["strace", "-f", "-c", "-o", str(counts), "-p", str(proc.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 30
            while not traced(proc.pid):
                if time.monotonic() > deadline or tracer.poll() is not None:
                    raise RuntimeError(f"{lib} {mode}: strace did not attach")
                time.sleep(0.01)
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
        proc.wait(timeout=60)
        if tracer is not None:
            tracer.wait(timeout=60)  # strace writes its summary when the watcher exits
            total, calls = parse_strace(counts.read_text())
            data.update(syscalls=total, calls=calls)
    finally:
        for p in (proc, tracer):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    data.update(lib=lib, mode=mode, n=n, lost=(n - data["distinct"]) if mode not in ("storm", "idle") else None)
    return data


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each measure over repeated runs of one case."""
    row = dict(runs[-1])
    for key in ("lost", "latency_ms", "rss_mb", "base_mb", "user_s", "sys_s", "csw", "events"):
        values = [r[key] for r in runs if r.get(key) is not None]
        row[key] = statistics.median(values) if values else None
    row["runs"] = len(runs)
    return row


def per_event_us(row: dict[str, Any]) -> float:
    """CPU µs per file written (idle: total ms)."""
    cpu = row["user_s"] + row["sys_s"]
    return cpu * 1000 if row["mode"] == "idle" else cpu * 1e6 / row["n"]


def fmt(row: dict[str, Any], peer: dict[str, Any] | None) -> str:
    lat = "-" if row["latency_ms"] is None else f"{row['latency_ms']:.0f}"
    if row["mode"] == "storm":
        lost = f"{row['events']:.0f} ev"
    elif row["mode"] == "idle":
        lost = "-"
    else:
        lost = f"{row['lost']:,.0f}"
    us = per_event_us(row)
    div = 1 if row["mode"] == "idle" else row["n"]
    split = f"{row['user_s'] * 1e6 / div:.0f}+{row['sys_s'] * 1e6 / div:.0f}"
    if row["mode"] == "idle":
        split = f"{row['user_s'] * 1e3:.0f}+{row['sys_s'] * 1e3:.0f}"
    ratio = "-"
    if peer is not None and per_event_us(peer) > 0:
        ratio = f"{us / per_event_us(peer):.2f}x"
    csw = f"{row['csw'] / div:.2f}"
    sysc = "-" if row.get("syscalls") is None else f"{row['syscalls'] / div:.2f}"
    return (
        f"| {row['mode']:<10} | {row['n']:>7,} | {row['lib']:<10} | {lost:>8} | {lat:>7} "
        f"| {us:>7.1f} | {split:>9} | {ratio:>6} | {csw:>6} | {sysc:>7} "
        f"| {row['rss_mb']:>5.0f} | {row['base_mb']:>4.0f} |"
    )


def top_calls(row: dict[str, Any]) -> str:
    div = 1 if row["mode"] == "idle" else row["n"]
    calls = sorted(row.get("calls", {}).items(), key=lambda kv: -kv[1])[:6]
    return ", ".join(f"{name} {count / div:.2f}" for name, count in calls)


def run_matrix(cases: list[tuple[str, int]], libs: list[str], args: argparse.Namespace, strace: bool) -> list[str]:
    """Run every case for every library (alternating), print a row per case and library; return the notes."""
    notes: list[str] = []
    for mode, n in cases:
        runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in libs}
        for _ in range(max(1, args.runs)):
            for lib in libs:
                try:
                    runs[lib].append(run_case(lib, mode, n, args.debounce, args.idle))
                except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
                    print(f"| {mode:<10} | {n:>7,} | {lib:<10} | failed: {exc}", flush=True)
        rows: dict[str, dict[str, Any]] = {}
        for lib in libs:
            if not runs[lib]:
                continue
            rows[lib] = median_row(runs[lib])
            if strace:
                try:
                    traced_run = run_case(lib, mode, n, args.debounce, args.idle, strace=True)
                except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
                    notes.append(f"{mode} {n:,} {lib}: strace run failed: {exc}")
                else:
                    rows[lib].update(syscalls=traced_run["syscalls"], calls=traced_run["calls"])
                    notes.append(f"{mode} {n:,} {lib}: {top_calls(rows[lib])}")
        for row in rows.values():
            print(fmt(row, rows.get(PEER)), flush=True)
            if args.json:
                print(json.dumps(row))
    return notes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a fast pass: small N, one run per case")
    p.add_argument("--libs", default=",".join(LIBS), help="comma-separated subset of " + ",".join(LIBS))
    p.add_argument("--modes", default="", help="comma-separated subset of flat,nested,subfolders,overflow,storm,idle")
    p.add_argument("--n", type=int, default=0, help="run every chosen scenario with this N instead")
    p.add_argument("--cases", default="", help="explicit cases, e.g. flat:100000,nested:10000,idle:10")
    p.add_argument("--debounce", type=float, default=0.2, help="ferroflow's debounce window, seconds (default 0.2)")
    p.add_argument("--idle", type=float, default=5.0, help="seconds without a new event before a run ends")
    p.add_argument("--runs", type=int, default=1, help="runs per case, libraries alternating; medians shown")
    p.add_argument("--strace", action="store_true", help="count system calls (one more run per case under strace)")
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
        cases.append(("idle", 5))
    else:
        cases = [(m, n) for m in ("flat", "nested") for n in (10_000, 50_000, 100_000)]
        cases += [("subfolders", 10_000), ("overflow", 50_000), ("storm", 10_000), ("idle", 10)]
    if args.modes:
        keep = args.modes.split(",")
        cases = [c for c in cases if c[0] in keep]
    if args.n:
        cases = list(dict.fromkeys((m, k if m == "idle" else args.n) for m, k in cases))
    if args.cases:
        cases = [(m, int(k)) for m, k in (c.split(":") for c in args.cases.split(","))]
    libs = [x for x in args.libs.split(",") if x]
    strace = args.strace and shutil.which("strace") is not None
    if args.strace and not strace:
        print("strace not found: system calls are not counted (context switches still are)")
    print(f"ferroflow debounce {args.debounce}s; peers at their defaults; Python {sys.version.split()[0]}; ", end="")
    print(f"{os.cpu_count()} CPUs; medians of {args.runs} run(s), libraries alternating")
    print(
        "| scenario   |       N | library    |     lost | lat ms | CPU µs/ev | user+sys | vs wf "
        "| csw/ev | sys/ev | peak MB | base |"
    )
    print(
        "|------------|---------|------------|----------|--------|---------|-----------|--------|--------|---------|-------|------|"
    )
    notes = run_matrix(cases, libs, args, strace)
    print("lat ms: from the writer's last write to the last new file delivered (storm: last event)")
    print("CPU µs/ev: the watcher process's user+sys CPU from live to its last new event, per file written")
    print("  (idle: ms over the whole idle period); vs wf: that over watchfiles'")
    print("csw/ev: context switches per event; sys/ev: system calls per event (strace -f -c, a separate run)")
    for note in notes:
        print("  " + note)


if __name__ == "__main__":
    main()
