"""The daemon's pid file: the lock decides whether a daemon runs, never the file's text."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow.errors import AlreadyRunningError
from ferroflow.processes import process_alive
from ferroflow.scheduling.daemon import DaemonInfo, PidFile, pid_file_path, scheduler_status
from ferroflow.store.store import open_store

from tests.conftest import ferroflow, wait_until


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[int]:
    """A detached daemon (checking every 0.2 s); its pid. Killed at the end whatever its pid file says."""
    started = ferroflow("--json-logs", "scheduler", "start", "--check-interval", "0.2", "--grace", "1", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    pid = int(json.loads(started.stdout)["pid"])
    yield pid
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not process_alive(pid), timeout=15)


@pytest.mark.parametrize("damage", ["", "not json {", '{"pid": 1}'])
def test_a_damaged_pid_file_does_not_hide_the_live_daemon(tmp_path: Path, daemon: int, damage: str) -> None:
    path = pid_file_path(open_store(os.environ["FERROFLOW_HOME"]))  # type: ignore[arg-type]
    os.kill(daemon, signal.SIGSTOP)  # it would rewrite the file at its next check; it keeps its lock
    try:
        with path.open("r+") as fh:  # in place: the daemon's lock stays on this file
            fh.truncate(0)
            fh.write(damage)
        status = json.loads(ferroflow("--json-logs", "scheduler", "status", cwd=tmp_path).stdout)
        assert status["running"] is True and status["pid"] == daemon and status["pid_file_damaged"] is True
        shown = ferroflow("scheduler", "status", cwd=tmp_path).stdout
        assert "scheduler running" in shown and f"pid {daemon}" in shown and "damaged" in shown
    finally:
        os.kill(daemon, signal.SIGCONT)
    again = ferroflow("scheduler", "start", cwd=tmp_path)
    assert again.returncode == 1 and f"already running (pid {daemon}" in again.stderr
    stopped = ferroflow("scheduler", "stop", "--timeout", "20", cwd=tmp_path)
    assert stopped.returncode == 0 and f"scheduler stopped (pid {daemon})" in stopped.stdout
    assert not process_alive(daemon)
    assert "not running" in ferroflow("scheduler", "status", cwd=tmp_path).stdout


def test_the_daemon_rewrites_a_damaged_pid_file(tmp_path: Path, daemon: int) -> None:
    path = pid_file_path(open_store(os.environ["FERROFLOW_HOME"]))  # type: ignore[arg-type]
    with path.open("r+") as fh:
        fh.truncate(0)
    wait_until(lambda: path.read_text().startswith("{"), timeout=15)
    assert json.loads(path.read_text())["pid"] == daemon
    assert scheduler_status(open_store(os.environ["FERROFLOW_HOME"])).info.pid == daemon  # type: ignore[arg-type,union-attr]


def _poll_status(path: str, stop: multiprocessing.synchronize.Event, ready: multiprocessing.synchronize.Event) -> None:
    from ferroflow.scheduling.daemon import PidFile

    pid_file = PidFile(Path(path))
    ready.set()
    while not stop.is_set():
        pid_file.holder()


def test_polling_status_never_makes_start_fail(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.pid"
    ctx = multiprocessing.get_context("spawn")
    stop, ready = ctx.Event(), ctx.Event()
    pollers = [ctx.Process(target=_poll_status, args=(str(path), stop, ready)) for _ in range(2)]
    for p in pollers:
        p.start()
    try:
        assert ready.wait(30)
        for _ in range(150):
            pid_file = PidFile(path)
            pid_file.acquire(DaemonInfo(pid=os.getpid(), started_at=time.time()))
            pid_file.release()
    finally:
        stop.set()
        for p in pollers:
            p.join(30)


def test_a_readers_shared_lock_does_not_make_start_fail(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.pid"
    path.write_text("")
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path)!r}, os.O_RDONLY)\n"
        "fcntl.flock(fd, fcntl.LOCK_SH)\n"
        "print('locked', flush=True)\n"
        "time.sleep(0.3)\n"
    )
    reader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "locked"
        pid_file = PidFile(path)
        pid_file.acquire(DaemonInfo(pid=os.getpid(), started_at=time.time()))
        assert pid_file.holder().pid == os.getpid()  # type: ignore[union-attr]
        pid_file.release()
    finally:
        reader.communicate(timeout=30)


def test_a_second_daemon_is_refused_at_once_with_the_lock_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.pid"
    first = PidFile(path)
    first.acquire(DaemonInfo(pid=os.getpid(), started_at=time.time()))
    try:
        path.write_text("garbage")  # in place: the lock stays
        with pytest.raises(AlreadyRunningError) as caught:
            PidFile(path).acquire(DaemonInfo(pid=os.getpid() + 1, started_at=time.time()))
        assert caught.value.pid == os.getpid()
    finally:
        first.release()
