"""``ferroflow demo``: a small project, built and run end to end in under a minute.

It writes a project into a folder (a new temp folder by default): a flow file
whose script tasks run in parallel branches, a Python DAG with a retried task
and a cached one, and a watched inbox with a handler. Then it runs the flow
with a progress bar, runs the DAG twice (the second run hits the cache), drops
files into the inbox and waits for the handler, prints the run history and a
report, and says what to try next. The project stays on disk for that.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = write_demo_project(Path(tempfile.mkdtemp()))
    >>> sorted(p.name for p in folder.iterdir())
    ['flows', 'inbox', 'pipeline.py', 'tasks', 'watcher.py']
"""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import FerroflowError

__all__ = ["DEMO_FILES", "run_demo", "write_demo_project"]

DEMO_FILES: dict[str, str] = {
    "flows/etl.json": """{
  "name": "etl",
  "description": "extract words, then two parallel branches, then a summary",
  "version": "1.0",
  "params": {"source": "demo", "top": 3},
  "tasks": [
    {"id": "extract", "script": "extract.py", "args": {"source": "{source}"},
     "description": "write a small text file into the run's TMP_DIR"},
    {"id": "count_words", "script": "count_words.py", "depends_on": ["extract"]},
    {"id": "top_words", "script": "top_words.py", "args": ["{top}"], "depends_on": ["extract"]},
    {"id": "line_lengths", "command": ["python", "-c",
      "import os; lines = open(os.path.join(os.environ['TMP_DIR'], 'text.txt')).read().splitlines(); print('longest line:', max(map(len, lines)))"],
     "depends_on": ["extract"]},
    {"id": "summary", "script": "summary.py", "depends_on": ["count_words", "top_words", "line_lengths"],
     "env": {"SUMMARY_TITLE": "etl summary ({source})"}, "retries": 1, "timeout": 30}
  ]
}
""",
    "tasks/extract.py": """import os
import sys
import time

text = "the quick brown fox jumps over the lazy dog\\nthe dog sleeps\\nthe fox runs far away\\n"
time.sleep(0.3)
with open(os.path.join(os.environ["TMP_DIR"], "text.txt"), "w") as f:
    f.write(text)
print("extracted", len(text.split()), "words from", sys.argv[-1])
""",
    "tasks/count_words.py": """import os
import time

time.sleep(0.5)
words = open(os.path.join(os.environ["TMP_DIR"], "text.txt")).read().split()
with open(os.path.join(os.environ["TMP_DIR"], "count.txt"), "w") as f:
    f.write(str(len(words)))
print("words:", len(words))
""",
    "tasks/top_words.py": """import collections
import os
import sys
import time

time.sleep(0.5)
top = int(sys.argv[1])
words = open(os.path.join(os.environ["TMP_DIR"], "text.txt")).read().split()
common = collections.Counter(words).most_common(top)
with open(os.path.join(os.environ["TMP_DIR"], "top.txt"), "w") as f:
    f.write(", ".join(f"{w} ({n})" for w, n in common))
print("top words:", common)
""",
    "tasks/summary.py": """import os

tmp = os.environ["TMP_DIR"]
count = open(os.path.join(tmp, "count.txt")).read()
top = open(os.path.join(tmp, "top.txt")).read()
out_dir = os.environ["FERROFLOW_OUTPUT_DIR"]
os.makedirs(out_dir, exist_ok=True)
path = os.path.join(out_dir, "summary.txt")
with open(path, "w") as f:
    f.write(f"{os.environ['SUMMARY_TITLE']}: {count} words; top: {top}\\n")
print("summary written to", path)
""",
    "pipeline.py": '''"""A Python DAG: a retried task and a cached one."""

import time

from ferroflow import DAG, task
from ferroflow.context import current_task


@task
def numbers() -> list[int]:
    return list(range(1, 11))


@task(retries=2, delay=0.2, jitter=0)
def squares(numbers: list[int]) -> list[int]:
    ctx = current_task()
    if ctx is not None and ctx.attempt == 1:
        raise ConnectionError("the service hiccuped (the first attempt fails on purpose)")
    return [n * n for n in numbers]


@task(cache_ttl=3600)
def slow_total(squares: list[int]) -> int:
    time.sleep(1.0)  # expensive: cached in the store for an hour
    return sum(squares)


@task
def report(slow_total: int, squares: list[int]) -> str:
    return f"{len(squares)} squares, total {slow_total}"


numbers >> squares >> slow_total >> report
dag = DAG("numbers", tasks=[report])
''',
    "watcher.py": '''"""A watched inbox: each new CSV gets its rows counted."""

from pathlib import Path

from ferroflow import FileEvent, on_created

HERE = Path(__file__).parent


@on_created(HERE / "inbox", pattern="*.csv")
def count_rows(event: FileEvent) -> None:
    rows = event.path.read_text().strip().splitlines()
    out = HERE / "processed"
    out.mkdir(exist_ok=True)
    (out / (event.path.stem + ".txt")).write_text(f"{len(rows) - 1} data rows\\n")
''',
}


def write_demo_project(folder: Path) -> Path:
    """Write the demo project's files into ``folder`` (created); returns it.

    Raises:
        FerroflowError: ``folder`` already holds other files under the demo's
            names; nothing is written (a folder from an earlier demo is fine).
    """
    clashes = [
        relative
        for relative, text in DEMO_FILES.items()
        if (folder / relative).exists()
        and (
            not (folder / relative).is_file()
            or (folder / relative).read_text(encoding="utf-8", errors="replace") != text
        )
    ]
    if clashes:
        raise FerroflowError(
            f"{folder} already holds {', '.join(clashes)}; the demo would overwrite them. "
            "Pick a new or empty folder with --dir, or leave --dir out for a temp folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for relative, text in DEMO_FILES.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (folder / "inbox").mkdir(exist_ok=True)
    return folder


def run_demo(output: Any, directory: Path | None = None, home: Path | None = None, serve: bool = False) -> bool:
    """Build the project, run everything, print history and a report, show the dashboard.

    Args:
        output: The CLI's :class:`~ferroflow.cli._output.Output`.
        directory: Where to create the project (default: a new temp folder).
        home: The store folder (default: the project's own ``.ferroflow``).
        serve: Keep the dashboard serving the demo's runs until Ctrl+C.

    Returns:
        Whether every step succeeded.
    """
    folder = (directory or Path(tempfile.mkdtemp(prefix="ferroflow-demo-"))).resolve()
    previous_cwd = Path.cwd()
    write_demo_project(folder)
    os.chdir(folder)
    try:
        return _Demo(output, folder, home, serve).run()
    finally:
        os.chdir(previous_cwd)


class _Demo:
    def __init__(self, output: Any, folder: Path, home: Path | None = None, serve: bool = False) -> None:
        from ..store.store import open_store

        self.out = output
        self.folder = folder
        self.serve = serve
        store = open_store(home if home is not None else folder / ".ferroflow")
        assert store is not None
        self.store = store
        self.ok = True

    def title(self, text: str) -> None:
        if self.out.json_mode:
            self.out.json("demo_step", step=text)
        else:
            self.out.print(f"\n[bold cyan]── {text}[/]", highlight=False)

    def run(self) -> bool:
        started = time.monotonic()
        self.title(f"ferroflow demo: a small project in {self.folder}")
        self.out.line("  flows/etl.json    script tasks in parallel branches")
        self.out.line("  pipeline.py       a Python DAG with retries and a cached task")
        self.out.line("  watcher.py        a handler for CSV files dropped into inbox/")
        flow_result = self.run_flow()
        self.run_dag()
        self.watch_inbox()
        self.history(flow_result)
        self.dashboard(flow_result)
        self.next_steps(time.monotonic() - started)
        return self.ok

    def run_flow(self) -> Any:
        from ..flowfiles.project import Project
        from .progress import RunProgress, print_run_summary

        project = Project("flows", "tasks", "ferroflow_output", store=self.store)
        workflow = project.load_flow("etl")
        self.title("1. the flow file, as a graph")
        self.out.line(workflow.visualize("ascii"))
        self.title("2. running it (independent tasks run in parallel)")
        with RunProgress(self.out, workflow.name, len(workflow.get_all_tasks())) as progress:
            result = workflow.run(store=self.store, raise_on_failure=False, progress=progress, max_workers=4)
        print_run_summary(self.out, result, str(workflow.flow.output_dir / "logs" / "etl" / result.run_id))
        summary = self.folder / "ferroflow_output" / "summary.txt"
        if summary.exists():
            self.out.line(f"  {summary.read_text().strip()}")
        self.ok &= result.status == "completed"
        return result

    def run_dag(self) -> None:
        from ..flowfiles.targets import Target, as_workflow, load_python_target
        from .progress import RunProgress, print_run_summary

        self.title("3. a Python DAG: 'squares' fails once and is retried; 'slow_total' is cached")
        loaded = load_python_target(Target("python", "pipeline.py", path=self.folder / "pipeline.py"))
        for attempt in (1, 2):
            workflow = as_workflow(loaded.runnable)
            took = time.monotonic()
            with RunProgress(self.out, f"{workflow.name} (run {attempt})", len(workflow.get_all_tasks())) as progress:
                result = workflow.run(store=self.store, raise_on_failure=False, progress=progress)
            print_run_summary(self.out, result)
            self.out.line(f"  result: {result.get('report')!r} in {time.monotonic() - took:.2f}s")
            self.ok &= result.status == "completed"
        self.out.line("  the second run took its total from the cache instead of recomputing it")

    def watch_inbox(self) -> None:
        from ..flowfiles.targets import Target, load_python_target
        from .run import handler_rows

        self.title("4. watching inbox/ and dropping three CSV files into it")
        loaded = load_python_target(Target("python", "watcher.py", path=self.folder / "watcher.py"))
        app = loaded.watch_app
        app.debounce = 0.2
        for row in handler_rows(app):
            self.out.line(f"  handler {row['handler']} on {row['root']} ({row['events']}, {row['pattern']})")
        processed = self.folder / "processed"
        for old in [*processed.glob("*.txt"), *(self.folder / "inbox").glob("*.csv")]:
            old.unlink()  # a second demo in the same folder starts from an empty inbox
        app.start()
        try:
            for n in range(1, 4):
                body = "id,value\n" + "".join(f"{i},{i * n}\n" for i in range(n * 2))
                (self.folder / "inbox" / f"batch{n}.csv").write_text(body)
                self.out.line(f"  dropped inbox/batch{n}.csv")
                time.sleep(0.1)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(list(processed.glob("*.txt")) if processed.exists() else []) < 3:
                time.sleep(0.05)
        finally:
            app.stop(timeout=10)
        results = sorted(processed.glob("*.txt")) if processed.exists() else []
        for path in results:
            self.out.line(f"  processed/{path.name}: {path.read_text().strip()}")
        stats = app.stats
        self.out.line(f"  events: {stats.get('events_total')}, handler calls: {stats.get('handler_calls')}")
        self.ok &= len(results) == 3

    def history(self, flow_result: Any) -> None:
        from rich.table import Table

        from .runs import render_report

        self.title("5. run history (kept in .ferroflow/ferroflow.db)")
        runs = self.store.list_runs(limit=10)
        if self.out.json_mode:
            for r in runs:
                self.out.json("run", run_id=r.run_id, workflow=r.workflow, status=r.status)
        else:
            table = Table()
            for column in ("run id", "workflow", "status", "tasks", "duration"):
                table.add_column(column)
            for r in runs:
                duration = f"{r.duration_seconds:.2f}s" if r.duration_seconds is not None else "-"
                table.add_row(r.run_id, r.workflow, r.status, str(r.task_count), duration)
            self.out.print(table)
        self.title(f"6. the report of flow run {flow_result.run_id}")
        report = self.store.get_report(flow_result.run_id)
        if report is not None and not self.out.json_mode:
            self.out.print(render_report(report))

    def dashboard(self, flow_result: Any) -> None:
        """Serve the dashboard over the demo's store, ask it what it shows, stop (or serve on)."""
        self.title("7. the web dashboard over these runs")
        try:
            from ..dashboard import serve_dashboard
        except ImportError:
            self.out.line("  pip install 'ferroflow[dashboard]', then `ferroflow dashboard` shows these runs")
            return
        from ..watch import WatchApp

        server = serve_dashboard(WatchApp(name="demo", store=None), port=_free_port(), store=self.store)
        try:
            base = server.url.rstrip("/")
            runs = _get_json(f"{base}/api/runs")
            graph = _get_json(f"{base}/api/runs/{flow_result.run_id}/graph")
            self.out.line(f"  {base}/           overview: events, runs, schedules, flows to start")
            self.out.line(f"  {base}/runs/{flow_result.run_id}")
            self.out.line(
                f"  it lists {runs['total']} runs; the flow run's graph has {graph['total']} tasks "
                f"in {len(graph['layers'])} layers"
            )
            if self.serve:
                self.out.line("  serving until Ctrl+C")
                _wait_for_interrupt()
            else:
                self.out.line("  (stopped again; `ferroflow demo --serve` keeps it serving)")
        finally:
            server.stop()

    def next_steps(self, elapsed: float) -> None:
        self.title(f"done in {elapsed:.1f}s; try next")
        for line in (
            f"cd {self.folder}",
            "ferroflow list                                   # the flows",
            "ferroflow run etl --params '{\"top\": 5}'          # run the flow again",
            "ferroflow run etl --dry-run                      # the plan and a bash script",
            "ferroflow graph pipeline.py --format mermaid     # the DAG as a diagram",
            "ferroflow runs                                   # history; `ferroflow runs RUN_ID` for one",
            "ferroflow dashboard                              # the runs in a browser, live",
            "ferroflow run watcher.py                         # watch inbox/ until Ctrl+C",
            "ferroflow schedule add etl --interval daily --at 06:00 && ferroflow scheduler start",
        ):
            self.out.line(f"  {line}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def _wait_for_interrupt() -> None:
    done = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda _s, _f: done.set())
    try:
        while not done.wait(0.5):
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
