"""FlowWatch's README examples, with ``flowwatch`` renamed to ``ferroflow`` (and ``FlowWatchApp`` to ``WatchApp``).

The examples that block (``run()``, ``app.run()``, the CLI) run as real processes;
files are dropped into the watched folder and the handlers' output is awaited.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from ferroflow import Change

from .conftest import Process

Spawn = Callable[..., Process]

QUICK_START = """
from pathlib import Path
from ferroflow import FileEvent, on_created, run

WATCH_DIR = Path("inbox")
WATCH_DIR.mkdir(exist_ok=True)


@on_created(str(WATCH_DIR), pattern="*.txt", process_existing=True)
def handle_new_text(event: FileEvent) -> None:
    print(f"New text file: {event.path}")


if __name__ == "__main__":
    run()  # blocks until Ctrl+C
"""


def test_the_quick_start_sees_existing_and_new_files(tmp_path: Path, spawn: Spawn) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "old.txt").write_text("x")
    (tmp_path / "quick_start.py").write_text(QUICK_START)
    proc = spawn("python", "quick_start.py")
    proc.wait_for(f"New text file: {(tmp_path / 'inbox' / 'old.txt').resolve()}")
    (tmp_path / "inbox" / "new.txt").write_text("y")
    proc.wait_for(f"New text file: {(tmp_path / 'inbox' / 'new.txt').resolve()}")
    assert proc.interrupt() in (0, 130)


ADVANCED = """
from pathlib import Path
from watchfiles import Change

from ferroflow import FileEvent, WatchApp

app = WatchApp(
    name="my-custom-app",
    debounce=0.7,
    max_workers=8,
    json_logs=True,  # Enable structured JSON logging
)


def handle_any(event: FileEvent) -> None:
    print(event.change, event.path)


app.add_handler(
    handle_any,
    root=Path("data"),
    events=[Change.added, Change.modified, Change.deleted],
    pattern="*.*",
    process_existing=True,
)

app.run()
"""


def test_the_advanced_app_with_watchfiles_changes(tmp_path: Path, spawn: Spawn) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("1")
    (tmp_path / "advanced.py").write_text(ADVANCED)
    proc = spawn("python", "advanced.py")
    # Change is an IntEnum, as watchfiles' is: it prints as its value.
    proc.wait_for(f"{int(Change.added)} {(tmp_path / 'data' / 'a.csv').resolve()}")
    (tmp_path / "data" / "a.csv").unlink()
    proc.wait_for(f"{int(Change.deleted)} {(tmp_path / 'data' / 'a.csv').resolve()}")
    assert proc.interrupt() in (0, 130)


HANDLERS = """
from ferroflow import FileEvent, WatchApp, on_created

watchers = WatchApp()


@on_created("media", pattern="*.*", app=watchers)
def ingest(event: FileEvent) -> None:
    print("ingest", event.path.name, event.path.suffix, event.root.name)
"""


def test_the_cli_runs_handlers_of_a_module_level_app_with_global_options_after_the_command(
    tmp_path: Path, spawn: Spawn
) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "handlers.py").write_text(HANDLERS)
    proc = spawn("ferroflow", "run", "handlers.py", "--debounce", "0.2", "--log-level", "DEBUG", "--json-logs")
    proc.wait_for("watching")
    (tmp_path / "media" / "clip.mxf").write_text("x")
    proc.wait_for("ingest clip.mxf .mxf media")
    proc.wait_for(str((tmp_path / "media" / "clip.mxf").resolve()) + '"')
    assert proc.interrupt() == 130
    records = [json.loads(line) for line in proc.err if line.startswith("{")]
    assert any(r.get("level") == "DEBUG" and r.get("path", "").endswith("clip.mxf") for r in records), proc.err


def test_the_docker_command_form_takes_json_logs_after_the_module(tmp_path: Path, spawn: Spawn) -> None:
    (tmp_path / "myproject").mkdir()
    (tmp_path / "myproject" / "__init__.py").write_text("")
    (tmp_path / "myproject" / "watchers.py").write_text(HANDLERS)
    (tmp_path / "media").mkdir()
    proc = spawn("ferroflow", "run", "myproject.watchers", "--json-logs")
    proc.wait_for("watching")
    (tmp_path / "media" / "a.json").write_text("{}")
    proc.wait_for("ingest a.json .json media")
    assert proc.interrupt() == 130
    assert all(json.loads(line) for line in proc.err if line.strip()), proc.err


def test_two_apps_with_handlers_are_named_and_one_can_be_picked(tmp_path: Path, spawn: Spawn) -> None:
    from tests.conftest import ferroflow

    (tmp_path / "media").mkdir()
    (tmp_path / "two.py").write_text(HANDLERS + "\nother = WatchApp()\nother.add_handler(ingest, 'media')\n")
    refused = ferroflow("run", "two.py", cwd=tmp_path)
    assert refused.returncode == 2 and "several apps (watchers, other)" in refused.stderr
    assert "two.py:watchers" in refused.stderr and "Traceback" not in refused.stderr
    proc = spawn("ferroflow", "run", "two.py:other", "--debounce", "0.2")
    proc.wait_for("watching")
    (tmp_path / "media" / "b.txt").write_text("x")
    proc.wait_for("ingest b.txt .txt media")
    assert proc.interrupt() == 130


def test_the_handler_type_aliases() -> None:
    from ferroflow import AsyncHandler, FileEvent, Handler, SyncHandler

    def sync(event: FileEvent) -> None: ...

    async def coro(event: FileEvent) -> None: ...

    handlers: list[Handler] = [sync, coro]
    typed_sync: SyncHandler = sync
    typed_async: AsyncHandler = coro
    assert handlers == [typed_sync, typed_async]
    assert typing.get_args(Handler) == (SyncHandler, AsyncHandler)


FASTAPI_APP = """
from contextlib import asynccontextmanager
from fastapi import FastAPI
from ferroflow import WatchApp, create_dashboard_routes, on_created

flowwatch = WatchApp()

@on_created("./watch_dir", pattern="*.txt", app=flowwatch)
def handle_file(event):
    print(f"New file: {event.path}")

@asynccontextmanager
async def lifespan(app: FastAPI):
    flowwatch.start()  # Start watching in background
    yield
    flowwatch.stop()   # Graceful shutdown

app = FastAPI(lifespan=lifespan)

# Mount dashboard at /flowwatch/
app.include_router(
    create_dashboard_routes(flowwatch),
    prefix="/flowwatch",
)
"""


def test_the_fastapi_integration_starts_watches_and_serves_the_dashboard(tmp_path: Path, spawn: Spawn) -> None:
    pytest.importorskip("fastapi")
    from tests.dashboard.conftest import free_port

    (tmp_path / "watch_dir").mkdir()
    (tmp_path / "your_app.py").write_text(FASTAPI_APP)
    port = free_port()
    # `fastapi run your_app.py` serves the app with uvicorn; the fastapi CLI is an extra not installed here.
    proc = spawn("python", "-m", "uvicorn", "your_app:app", "--port", str(port), "--host", "127.0.0.1")
    proc.wait_for("Application startup complete", timeout=60)
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/flowwatch/", timeout=10).status_code == 200
    (tmp_path / "watch_dir" / "hello.txt").write_text("hi")
    proc.wait_for(f"New file: {(tmp_path / 'watch_dir' / 'hello.txt').resolve()}")
    assert httpx.get(f"{base}/flowwatch/health", timeout=10).json()["handlers_count"] == 1
    assert proc.interrupt() == 0
