"""Handlers that never return: stopping still ends, the other handlers still run, the stats name the stuck one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ferroflow import Change, FileEvent, WatchApp
from ferroflow.dashboard import serve_dashboard

from ..conftest import wait_until
from ..dashboard.conftest import free_port
from .conftest import Recorder


class Hang:
    """A handler blocked until the test releases it (as ``threading.Event().wait()`` would be for ever)."""

    def __init__(self, name: str) -> None:
        self.__name__ = self.__qualname__ = name
        self.release = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    def __call__(self, event: FileEvent) -> None:
        with self._lock:
            self.started += 1
        self.release.wait()


@pytest.fixture
def hangs() -> Iterator[list[Hang]]:
    made: list[Hang] = []
    yield made
    for hang in made:
        hang.release.set()


def _add(app: WatchApp, inbox: Path, fn: object, pattern: str | None) -> None:
    """Register ``fn`` for added files, under its own ``__name__``."""
    app.add_handler(fn, inbox, [Change.added], pattern=pattern, name=fn.__name__)  # type: ignore[arg-type, attr-defined]


def _watch_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ferroflow-watch-") and t.name[-1].isdigit()]


def test_four_hung_handlers_do_not_starve_a_healthy_one(inbox: Path, hangs: list[Hang]) -> None:
    app = WatchApp(debounce=0.05, max_workers=4, stuck_after=0.3, store=None)
    for i in range(4):
        hang = Hang(f"hang{i}")
        hangs.append(hang)
        _add(app, inbox, hang, f"hang{i}-*")
    healthy = Recorder("healthy")
    _add(app, inbox, healthy, "ok-*")
    app.start()
    try:
        for i in range(4):
            (inbox / f"hang{i}-a").write_text("x")
        wait_until(lambda: all(h.started == 1 for h in hangs), timeout=20)
        # Every worker thread is blocked now; the healthy handler's events still get through.
        for n in range(20):
            (inbox / f"ok-{n}").write_text("x")
        healthy.wait_for(20, timeout=30)
        stats = app.stats
        assert sorted(s["handler"] for s in stats["stuck"]) == ["hang0", "hang1", "hang2", "hang3"]
        assert {s["path"] for s in stats["stuck"]} == {str(inbox / f"hang{i}-a") for i in range(4)}
        wait_until(lambda: app.stats["handlers"]["healthy"]["calls"] == 20)
        assert app.stats["handlers"]["hang0"]["stuck"] == 1 and app.stats["handlers"]["healthy"]["stuck"] == 0
        # One stand-in thread per stuck call, no more.
        assert len(_watch_threads()) <= 4 + 4
    finally:
        for hang in hangs:
            hang.release.set()
        app.stop(timeout=30)
    assert app.stats["stuck"] == []
    assert {name: row["calls"] for name, row in app.stats["handlers"].items()} == {
        "hang0": 1, "hang1": 1, "hang2": 1, "hang3": 1, "healthy": 20
    }  # fmt: skip
    wait_until(lambda: _watch_threads() == [], timeout=10)  # the stand-ins and the freed threads end


def test_one_hung_handler_never_holds_every_worker(inbox: Path, hangs: list[Hang]) -> None:
    # With stuck detection off, the per-handler limit alone keeps a thread for the others.
    app = WatchApp(debounce=0.05, max_workers=4, stuck_after=None, store=None)
    hang = Hang("hang")
    hangs.append(hang)
    _add(app, inbox, hang, "hang-*")
    healthy = Recorder("healthy")
    _add(app, inbox, healthy, "ok-*")
    app.start()
    try:
        for n in range(6):
            (inbox / f"hang-{n}").write_text("x")
        wait_until(lambda: app.stats["handlers"]["hang"]["waiting"] == 3, timeout=20)
        assert hang.started == 3  # max_workers - 1 calls of one handler at once
        for n in range(20):
            (inbox / f"ok-{n}").write_text("x")
        healthy.wait_for(20, timeout=30)
        assert app.stats["handlers"]["hang"]["running"] == 3
        hang.release.set()
        wait_until(lambda: app.stats["handlers"]["hang"]["calls"] == 6, timeout=20)  # the waiting ones ran
    finally:
        hang.release.set()
        app.stop(timeout=30)


def test_an_explicit_per_handler_limit_applies(inbox: Path, hangs: list[Hang]) -> None:
    app = WatchApp(debounce=0.05, max_workers=4, max_per_handler=1, stuck_after=None, store=None)
    hang = Hang("hang")
    hangs.append(hang)
    _add(app, inbox, hang, None)
    app.start()
    try:
        for n in range(3):
            (inbox / f"f{n}").write_text("x")
        wait_until(lambda: app.stats["handlers"]["hang"]["waiting"] == 2, timeout=20)
        assert hang.started == 1 and app.stats["handlers"]["hang"]["running"] == 1
        hang.release.set()
        wait_until(lambda: app.stats["handlers"]["hang"]["calls"] == 3, timeout=20)
    finally:
        hang.release.set()
        app.stop(timeout=30)


def test_stop_returns_within_its_timeout_with_a_hung_handler_and_a_blocked_intake(
    inbox: Path, hangs: list[Hang], caplog: pytest.LogCaptureFixture
) -> None:
    # max_pending=1: the intake thread waits for room behind the hung handler (the case that took 2 x timeout).
    app = WatchApp(debounce=0.05, max_workers=2, max_pending=1, stuck_after=0.2, store=None)
    hang = Hang("hang")
    hangs.append(hang)
    _add(app, inbox, hang, None)
    app.start()
    for n in range(5):
        (inbox / f"f{n}").write_text("x")
    wait_until(lambda: hang.started == 1 and app.stats["events_total"] == 1, timeout=20)
    wait_until(lambda: app.stats["stuck"] != [], timeout=20)
    started = time.monotonic()
    app.stop(timeout=1.0)
    took = time.monotonic() - started
    assert 0.9 <= took < 1.6, took
    assert not app.is_running
    assert "1 handler call(s) still running: hang on " in caplog.text
    # After the stop the stuck call is still listed until it returns.
    assert [s["handler"] for s in app.stats["stuck"]] == ["hang"]
    hang.release.set()
    wait_until(lambda: app.stats["stuck"] == [] and app.stats["handlers"]["hang"]["calls"] == 1, timeout=10)


def test_the_dashboard_state_says_which_handler_is_stuck(inbox: Path, hangs: list[Hang]) -> None:
    app = WatchApp(debounce=0.05, stuck_after=0.2, store=None)
    hang = Hang("hang")
    hangs.append(hang)
    _add(app, inbox, hang, "*.hang")
    _add(app, inbox, Recorder("fine"), "*.ok")
    app.start()
    server = serve_dashboard(app, port=free_port())
    try:
        (inbox / "a.hang").write_text("x")
        with httpx.Client(base_url=server.url.rstrip("/"), timeout=10) as client:

            def stuck_rows() -> list[dict[str, object]]:
                rows: list[dict[str, object]] = client.get("/api/state").json()["handlers"]
                return [r for r in rows if r["stuck"]]

            wait_until(lambda: stuck_rows() != [], timeout=20)
            (row,) = stuck_rows()
            assert row["name"] == "hang" and row["running"] == 1 and row["longest_running_seconds"] >= 0.2
            state = client.get("/api/state").json()
            assert [s["handler"] for s in state["stats"]["stuck"]] == ["hang"]
            assert state["stats"]["stuck"][0]["path"] == str(inbox / "a.hang")
    finally:
        server.stop()
        hang.release.set()
        app.stop(timeout=30)


# ---------------------------------------------------------------- the CLI and run(), real processes

WATCH_FILE = """
import threading
from pathlib import Path
from ferroflow import on_created

@on_created({inbox!r}, pattern="*.txt")
def stuck(event):
    Path({started!r}).write_text("yes")
    threading.Event().wait()
"""


class Watched:
    """A watching process, its stderr read as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.err: list[str] = []
        assert proc.stderr is not None
        stream = proc.stderr
        self._reader = threading.Thread(target=lambda: self.err.extend(iter(stream.readline, "")), daemon=True)
        self._reader.start()

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.err))

    def finish(self) -> tuple[int, str, float]:
        """Wait for the exit: the code, all of stderr, and the seconds it took."""
        began = time.monotonic()
        try:
            code = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code, "".join(self.err), time.monotonic() - began


def _start_and_hang(tmp_path: Path, inbox: Path, argv: list[str]) -> Watched:
    """Start ``argv`` (which watches ``inbox`` with the handler above) and wait until the handler hangs."""
    started = tmp_path / "started"
    (tmp_path / "w.py").write_text(WATCH_FILE.format(inbox=str(inbox), started=str(started)))
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    watched = Watched(proc)
    n = 0

    def hung() -> bool:
        nonlocal n
        if proc.poll() is not None:
            raise AssertionError(f"exited early with {proc.returncode}: {watched.finish()}")
        (inbox / f"{n}.txt").write_text("x")  # until the watcher is live
        n += 1
        return started.exists()

    wait_until(hung, timeout=60, interval=0.2)
    return watched


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_ferroflow_run_with_a_hung_handler_ends_after_its_stop_timeout(
    tmp_path: Path, inbox: Path, sig: int, code: int
) -> None:
    cli = [sys.executable, "-m", "ferroflow", "run", "w.py", "--stop-timeout", "1", "--debounce", "0.05"]
    watched = _start_and_hang(tmp_path, inbox, cli)
    watched.proc.send_signal(sig)
    exit_code, err, took = watched.finish()
    assert exit_code == code, err
    assert took < 10, took
    assert "waiting up to 1s for running handler(s) w.stuck" in err
    assert "without waiting for the handler(s) still running: w.stuck (1 call(s)" in err
    assert "Traceback" not in err


def test_a_second_signal_ends_ferroflow_run_at_once(tmp_path: Path, inbox: Path) -> None:
    # SIGINT then SIGTERM (a hung handler used to survive SIGINT, SIGTERM, SIGINT).
    # (The default --stop-timeout, 5 s: the second signal ends it well before.)
    cli = [sys.executable, "-m", "ferroflow", "run", "w.py", "--debounce", "0.05"]
    watched = _start_and_hang(tmp_path, inbox, cli)
    proc = watched.proc
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: watched.said("press Ctrl+C again to stop at once") or proc.poll() is not None, timeout=20)
    assert proc.poll() is None  # the first signal waits for the handler (up to --stop-timeout)
    proc.send_signal(signal.SIGTERM)
    exit_code, err, took = watched.finish()
    assert exit_code == 130, err
    assert took < 3, took
    assert "stopped signalled again without waiting for the handler(s) still running: w.stuck" in err


def test_watch_app_run_returns_after_its_stop_timeout_on_sigterm(tmp_path: Path, inbox: Path) -> None:
    code = textwrap.dedent(
        """
        import logging, sys
        logging.basicConfig()
        sys.path.insert(0, ".")
        import w
        from ferroflow.watch import default_app
        app = default_app()
        app.debounce, app.stop_timeout, app.store = 0.05, 0.5, None
        app.run()
        print("returned", file=sys.stderr, flush=True)
        """
    )
    watched = _start_and_hang(tmp_path, inbox, [sys.executable, "-c", code])
    watched.proc.send_signal(signal.SIGTERM)
    exit_code, err, took = watched.finish()
    assert exit_code == 0, err
    assert took < 10, took
    assert "still running: w.stuck on " in err and err.rstrip().endswith("returned")
