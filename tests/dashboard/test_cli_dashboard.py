"""`ferroflow run WATCH_TARGET --dashboard`: the app of this process, served live, as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ..conftest import wait_until
from .conftest import free_port

WATCHER = """
from pathlib import Path
from ferroflow import FileEvent, on_created

@on_created("inbox", pattern="*.txt")
def copy_in(event: FileEvent) -> None:
    Path("seen").mkdir(exist_ok=True)
    (Path("seen") / event.name).write_text(Path(event.path).read_text())
"""


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def test_a_watch_target_with_dashboard_serves_its_handlers_and_events(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "watcher.py").write_text(WATCHER)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "run", "watcher.py", "--debounce", "0.05", "--dashboard"]
        + ["--dashboard-port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FERROFLOW_HOME": str(tmp_path / "home")},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while (health := _get(base + "/health")) is None or health.json()["status"] != "healthy":
            assert proc.poll() is None, proc.communicate(timeout=10)
            assert time.monotonic() < deadline, "the dashboard never answered healthy"
            time.sleep(0.1)
        state = httpx.get(base + "/api/state", timeout=5).json()
        assert [h["name"].rsplit(".", 1)[-1] for h in state["handlers"]] == ["copy_in"]
        assert any(Path(r).name == "inbox" for r in state["roots"]), state["roots"]

        (tmp_path / "inbox" / "a.txt").write_text("hello")
        wait_until(lambda: (tmp_path / "seen" / "a.txt").exists(), timeout=30)

        def event_seen() -> bool:
            events = httpx.get(base + "/api/events?limit=10", timeout=5).json()["events"]
            return any(Path(e["path"]).name == "a.txt" for e in events)

        wait_until(event_seen, timeout=30)
        assert httpx.get(base + "/health", timeout=5).json()["events_processed"] >= 1
        assert httpx.get(base + "/", timeout=5).status_code == 200
        sessions = httpx.get(base + "/api/sessions", timeout=5).json()["sessions"]
        assert [s["status"] for s in sessions] == ["running"], sessions
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err
    assert _get(base + "/health") is None, "the dashboard kept serving after the process ended"
