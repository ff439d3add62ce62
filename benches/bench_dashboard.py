"""The dashboard under load: a big history, a big run, many live clients; flowwatch beside it.

Sections:

- ``history``: N recorded runs (through ``Workflow.run`` into a real SQLite store); the
  server time of ``/api/runs`` (first page, a filtered page deep in the history) and of
  the ``/runs`` page;
- ``big run``: one run of 10,000 tasks in 100 layers of 100 (each task with two random
  upstreams in the layer before); the server time of the run's JSON and of its graph
  layout (first call, then cached), and the time headless Chromium takes to show the
  run page with its graph and timeline drawn;
- ``live``: 50 SSE clients (in another process) while files arrive in a watched folder;
  per event the delivery latency (file written -> event received) p50 / p99, the events
  lost, the serving process's CPU time per event with and without the clients, and its
  RSS — for ferroflow's dashboard and flowwatch's, side by side.

    python benches/bench_dashboard.py            # 10k runs, 200 files x 50 clients
    python benches/bench_dashboard.py --quick    # 2k runs, 100 files x 20 clients
    python benches/bench_dashboard.py --only live
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from ferroflow import Task, Workflow
from ferroflow.dashboard import serve_dashboard
from ferroflow.store import open_store
from ferroflow.watch import WatchApp, on_created


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(fn: Callable[[], Any], repeat: int = 15) -> float:
    """Median milliseconds of ``fn()``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def get_ok(client: httpx.Client, url: str) -> httpx.Response:
    """GET that must answer 200."""
    response = client.get(url)
    response.raise_for_status()
    return response


def noop() -> None:
    """A task."""


def record_history(store_dir: Path, n_runs: int) -> None:
    """``n_runs`` small runs of ten workflows, as a user's code records them."""
    store = open_store(store_dir)
    for i in range(n_runs):
        wf = Workflow(f"etl-{i % 10}")
        first = wf.add_task(Task(fn=noop, name="extract"))
        wf.add_task(Task(fn=noop, name="load"), depends_on=[first])
        wf.run(executor="sequential", store=store)


def big_workflow(layers: int = 100, width: int = 100, seed: int = 7) -> Workflow:
    """``layers`` x ``width`` no-op tasks, each with two random upstreams in the layer before."""
    rnd = random.Random(seed)
    wf = Workflow("big")
    previous: list[str] = []
    for layer in range(layers):
        current = []
        for j in range(width):
            name = f"t{layer:03d}_{j:03d}"
            ups = rnd.sample(previous, 2) if previous else []
            wf.add_task(Task(fn=noop, name=name), depends_on=ups)
            current.append(name)
        previous = current
    return wf


def history_section(root: Path, n_runs: int) -> None:
    t0 = time.perf_counter()
    record_history(root / "store", n_runs)
    print(f"\nhistory: {n_runs:,} runs recorded in {time.perf_counter() - t0:.1f} s")
    server = serve_dashboard(WatchApp(store=None), port=free_port(), store=root / "store")
    try:
        with httpx.Client(base_url=server.url.rstrip("/"), timeout=30) as c:
            rows = [
                ("/api/runs (first page of 50)", "/api/runs"),
                ("/api/runs?workflow=etl-3&offset=500", "/api/runs?workflow=etl-3&offset=500"),
                ("/api/runs?status=completed&since=2000-01-01", "/api/runs?status=completed&since=2000-01-01"),
                ("/runs page (HTML)", "/runs"),
            ]
            print(f"{'request':45} {'median ms':>10}")
            for label, url in rows:
                print(f"{label:45} {timed(lambda url=url: get_ok(c, url)):10.2f}")
    finally:
        server.stop()


def big_run_section(root: Path, chromium: str | None) -> None:
    store_dir = root / "big-store"
    t0 = time.perf_counter()
    result = big_workflow().run(executor="thread", max_workers=4, store=open_store(store_dir))
    print(f"\nbig run: 10,000 tasks in 100 layers, run and recorded in {time.perf_counter() - t0:.1f} s")
    server = serve_dashboard(WatchApp(store=None), port=free_port(), store=store_dir)
    base = server.url.rstrip("/")
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            run_url = f"/api/runs/{result.run_id}"
            first_light = timed(lambda: get_ok(c, run_url + "?light=1"), repeat=1)
            first_graph = timed(lambda: get_ok(c, run_url + "/graph"), repeat=1)
            print(f"{'request':45} {'median ms':>10}")
            print(f"{'run JSON ?light=1, first call (store read)':45} {first_light:10.1f}")
            print(f"{'graph layout, first call':45} {first_graph:10.1f}")
            print(f"{'graph layout, cached':45} {timed(lambda: get_ok(c, run_url + '/graph')):10.1f}")
            print(f"{'run JSON ?light=1':45} {timed(lambda: get_ok(c, run_url + '?light=1'), 5):10.1f}")
            print(f"{'run report alone':45} {timed(lambda: get_ok(c, run_url + '/report'), 3):10.1f}")
            print(f"{'run JSON, full':45} {timed(lambda: get_ok(c, run_url), 3):10.1f}")
            print(f"{'run page HTML':45} {timed(lambda: get_ok(c, '/runs/' + result.run_id), 5):10.1f}")
        if chromium is None:
            print("(no chromium found: the browser row is left out)")
            return
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            loads = []
            for _ in range(3):
                t0 = time.perf_counter()
                page.goto(f"{base}/runs/{result.run_id}")
                page.wait_for_selector("#dag svg g.node", timeout=120_000)
                page.wait_for_selector("#timeline rect", timeout=120_000)
                page.wait_for_function("document.querySelectorAll('#task-table tr').length > 0", timeout=120_000)
                loads.append((time.perf_counter() - t0) * 1000)
            browser.close()
        print(f"{'run page drawn in Chromium (graph, timeline)':45} {statistics.median(loads):10.0f}")
    finally:
        server.stop()


# ----------------------------------------------------------------- live clients


def clients_main(url: str, n_clients: int, expected: int, kind: str, ready: str) -> None:
    """Child process: ``n_clients`` SSE readers; prints ``{path: [receive times]}`` as JSON."""
    seen: dict[str, list[float]] = {}
    lock = threading.Lock()
    connected = threading.Barrier(n_clients + 1)
    done = threading.Event()

    def reader() -> None:
        count = 0
        with httpx.Client(timeout=None) as c, c.stream("GET", url) as response:
            connected.wait()
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                item = json.loads(line[5:])
                path = item.get("path") if kind == "ferroflow" else item.get("event", {}).get("path")
                if not path:
                    continue
                now = time.time()
                with lock:
                    seen.setdefault(path, []).append(now)
                count += 1
                if count >= expected or done.is_set():
                    return

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(n_clients)]
    for t in threads:
        t.start()
    connected.wait()
    Path(ready).write_text("ready")
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    done.set()
    with lock:
        print(json.dumps(seen))


def live_rows(kind: str, root: Path, n_files: int, n_clients: int) -> dict[str, float]:
    inbox = root / f"inbox-{kind}"
    inbox.mkdir()
    port = free_port()
    if kind == "ferroflow":
        app = WatchApp(debounce=0.02, store=None)
        on_created(inbox, app=app)(noop_event)
        app.start()
        server = serve_dashboard(app, port=port, store=root / "live-store")
        stream_url = f"http://127.0.0.1:{port}/api/events/stream"

        def stop() -> None:
            server.stop()
            app.stop()
    else:
        from flowwatch import FlowWatchApp
        from flowwatch import on_created as fw_on_created
        from flowwatch.dashboard import DashboardServer

        fw = FlowWatchApp(debounce=20)
        fw_on_created(str(inbox), app=fw)(noop_event)
        fw_server = DashboardServer(port=port)
        fw_server.start(fw, open_browser=False)
        stop_flag = threading.Event()
        runner = threading.Thread(target=fw.run, kwargs={"stop_event": stop_flag}, daemon=True)
        runner.start()
        stream_url = f"http://127.0.0.1:{port}/events"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

        def stop() -> None:
            stop_flag.set()
            fw_server.stop()

    me = psutil.Process()
    try:
        time.sleep(1.0)  # let the watcher settle before counting CPU
        cpu_alone = _cpu_per_event(me, inbox, "alone", n_files)
        ready = root / f"ready-{kind}"
        child = subprocess.Popen(
            [sys.executable, __file__, "--clients", stream_url, str(n_clients), str(n_files), kind, str(ready)],
            stdout=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not ready.exists():
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError(f"{kind}: the SSE clients did not connect")
            time.sleep(0.05)
        written: dict[str, float] = {}
        cpu_clients = _cpu_per_event(me, inbox, "clients", n_files, written)
        out, _ = child.communicate(timeout=120)
        seen: dict[str, list[float]] = json.loads(out)
        rss = me.memory_info().rss / 2**20
    finally:
        stop()
    latencies = [
        (t - written[str(Path(p).resolve())]) * 1000
        for p, times in seen.items()
        if str(Path(p).resolve()) in written
        for t in times
    ]
    received = sum(len(v) for p, v in seen.items() if str(Path(p).resolve()) in written)
    lost = n_files * n_clients - received
    latencies.sort()
    p50 = latencies[len(latencies) // 2] if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    return {"p50": p50, "p99": p99, "lost": lost, "cpu_alone": cpu_alone, "cpu_clients": cpu_clients, "rss": rss}


def noop_event(event: object) -> None:
    """A handler that does nothing."""


def _cpu_per_event(
    me: psutil.Process, inbox: Path, tag: str, n_files: int, written: dict[str, float] | None = None
) -> float:
    """Write ``n_files`` files 10 ms apart; the serving process's CPU µs per file."""
    before = me.cpu_times()
    for i in range(n_files):
        path = inbox / f"{tag}-{i:05d}.txt"
        path.write_text("x")
        if written is not None:
            written[str(path.resolve())] = time.time()
        time.sleep(0.01)
    time.sleep(1.0)  # the last events debounced and delivered
    after = me.cpu_times()
    spent = (after.user - before.user) + (after.system - before.system)
    return spent / n_files * 1e6


def live_section(root: Path, n_files: int, n_clients: int) -> None:
    print(f"\nlive: {n_files} files, 10 ms apart, {n_clients} SSE clients in another process")
    rows = {kind: live_rows(kind, root, n_files, n_clients) for kind in ("ferroflow", "flowwatch")}
    print(
        f"{'dashboard':12} {'p50 ms':>8} {'p99 ms':>8} {'lost':>6} "
        f"{'CPU µs/ev alone':>16} {'with clients':>13} {'RSS MiB':>8}"
    )
    for kind, r in rows.items():
        print(
            f"{kind:12} {r['p50']:8.1f} {r['p99']:8.1f} {r['lost']:6.0f} "
            f"{r['cpu_alone']:16.0f} {r['cpu_clients']:13.0f} {r['rss']:8.0f}"
        )
    ff, fw = rows["ferroflow"], rows["flowwatch"]
    if fw["p50"] and fw["cpu_clients"]:
        print(
            f"ferroflow / flowwatch: p50 latency x{ff['p50'] / fw['p50']:.2f}, "
            f"CPU per event with clients x{ff['cpu_clients'] / fw['cpu_clients']:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2k runs, 100 files, 20 clients")
    parser.add_argument(
        "--only", choices=("history", "big", "live"), action="append", help="run only these sections (repeatable)"
    )
    parser.add_argument("--clients", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients:
        url, n, expected, kind, ready = args.clients
        clients_main(url, int(n), int(expected), kind, ready)
        return
    n_runs, n_files, n_clients = (2_000, 100, 20) if args.quick else (10_000, 200, 50)
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        only = set(args.only or ("history", "big", "live"))
        if "history" in only:
            history_section(root, n_runs)
        if "big" in only:
            big_run_section(root, chromium)
        if "live" in only:
            live_section(root, n_files, n_clients)


if __name__ == "__main__":
    main()
