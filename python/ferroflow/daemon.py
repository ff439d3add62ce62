"""The scheduler daemon: runs due schedules, one instance per store.

``ferroflow scheduler start`` launches ``python -m ferroflow.daemon serve`` as a
detached process (its own session, parent gone) or runs the same loop in the
foreground. The daemon holds an exclusive ``flock`` on ``scheduler.pid`` next to
the store file for its whole life, so:

- a second daemon cannot start (it reads the running pid from the file);
- a pid file left by a crashed daemon is not locked, which marks it stale: it
  is reported and replaced;
- ``stop`` from any shell sends ``SIGTERM`` to the pid and waits for the lock
  to be released.

Each tick re-reads the ``schedules`` table (so changes need no restart), asks
:func:`~ferroflow.schedule.due_fire_times` what is due under the catch-up
policy, claims each fire time in ``schedule_runs`` (unique per schedule, so a
restart never fires a time twice) and runs it in a child process
(``python -m ferroflow.daemon run-one``) whose output goes to a log file under
``scheduler/logs/``. The child records the run's id and status. On ``SIGTERM``
the daemon starts nothing new, lets in-flight runs finish for ``grace``
seconds, then stops their process trees and records them as cancelled.

Example:
    >>> import tempfile
    >>> from ferroflow.store import open_store
    >>> status = scheduler_status(open_store(tempfile.mkdtemp()))
    >>> status.running
    False
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import FerroflowError, StoreError
from .schedule import (
    Catchup,
    Schedule,
    ScheduleRun,
    due_fire_times,
    ensure_tables,
    get_schedule,
    last_schedule_run,
    list_schedules,
)
from .scripts import kill_process_group, read_tail

__all__ = [
    "AlreadyRunningError",
    "DaemonInfo",
    "PidFile",
    "Scheduler",
    "SchedulerStatus",
    "pid_file_path",
    "scheduler_status",
    "serve",
    "start_daemon",
    "stop_daemon",
]

logger = logging.getLogger("ferroflow.scheduler")

PID_FILE_NAME = "scheduler.pid"


class AlreadyRunningError(FerroflowError):
    """A scheduler already runs for this store.

    Attributes:
        pid: The running daemon's pid.
    """

    def __init__(self, pid: int, path: Path) -> None:
        super().__init__(
            f"the scheduler is already running (pid {pid}, pid file {path}); stop it with `ferroflow scheduler stop`"
        )
        self.pid = pid


def pid_file_path(store: Any) -> Path:
    """``scheduler.pid`` in the folder holding the store file."""
    return Path(store.path).parent / PID_FILE_NAME


@dataclass(slots=True)
class DaemonInfo:
    """What the pid file says about a daemon."""

    pid: int
    started_at: float
    check_interval: float = 60.0
    catchup: str = "latest"
    host: str = ""
    cwd: str = ""
    log_file: str | None = None

    @property
    def uptime_seconds(self) -> float:
        """Seconds since the daemon started."""
        return max(0.0, time.time() - self.started_at)


def _read_info(path: Path) -> DaemonInfo | None:
    try:
        data = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    known = {k: data[k] for k in DaemonInfo.__dataclass_fields__ if k in data}
    return DaemonInfo(**known)


class PidFile:
    """The daemon's pid file, locked with ``flock`` while the daemon lives.

    Example:
        >>> import tempfile, pathlib
        >>> pid_file = PidFile(pathlib.Path(tempfile.mkdtemp()) / "scheduler.pid")
        >>> _ = pid_file.acquire(DaemonInfo(pid=1234, started_at=0.0))
        >>> pid_file.holder() is None   # this process holds it; others would see 1234
        False
        >>> pid_file.release()
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, info: DaemonInfo) -> int | None:
        """Lock the file and write ``info``; returns the pid of a stale file it replaced.

        Raises:
            AlreadyRunningError: Another live process holds the lock.
            StoreError: The folder is not writable.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write the scheduler pid file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            running = _wait_for_info(self.path)
            raise AlreadyRunningError(running.pid if running else -1, self.path) from None
        stale = _read_info(self.path)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_info_dict(info)).encode())
        os.fsync(fd)
        self._fd = fd
        return stale.pid if stale is not None and stale.pid != info.pid else None

    def holder(self) -> DaemonInfo | None:
        """The live daemon holding the lock, if any (a stale file is removed)."""
        return read_pid_file(self.path)[0]

    def release(self) -> None:
        """Remove the file and drop the lock."""
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _info_dict(info: DaemonInfo) -> dict[str, Any]:
    return {k: getattr(info, k) for k in DaemonInfo.__dataclass_fields__}


def _wait_for_info(path: Path, timeout: float = 2.0) -> DaemonInfo | None:
    # A daemon that just took the lock may not have written its pid yet.
    deadline = time.monotonic() + timeout
    while True:
        info = _read_info(path)
        if info is not None or time.monotonic() > deadline:
            return info
        time.sleep(0.02)


def read_pid_file(path: Path) -> tuple[DaemonInfo | None, int | None]:
    """``(live daemon, pid of a stale file that was removed)``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None, None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _wait_for_info(path), None
        # Nobody holds the lock: the daemon that wrote this file is gone.
        stale = _read_info(path)
        try:
            path.unlink()
        except OSError:
            pass
        return None, stale.pid if stale is not None else -1
    finally:
        os.close(fd)


# ---------------------------------------------------------------- status


@dataclass(slots=True)
class ScheduleState:
    """A schedule with its next fire time and last run."""

    schedule: Schedule
    next_fire: datetime | None
    last_run: ScheduleRun | None


@dataclass(slots=True)
class SchedulerStatus:
    """What ``ferroflow scheduler status`` shows."""

    running: bool
    info: DaemonInfo | None
    stale_pid: int | None
    pid_file: Path
    schedules: list[ScheduleState] = field(default_factory=list)


def scheduler_status(store: Any) -> SchedulerStatus:
    """The daemon (if running) and every schedule with next and last run.

    A stale pid file (its daemon crashed) is detected, removed and reported in
    ``stale_pid``.
    """
    path = pid_file_path(store)
    info, stale = read_pid_file(path)
    states = []
    for s in list_schedules(store):
        states.append(ScheduleState(s, s.next_fire() if s.enabled else None, last_schedule_run(store, s.id)))
    return SchedulerStatus(running=info is not None, info=info, stale_pid=stale, pid_file=path, schedules=states)


# ---------------------------------------------------------------- start / stop


def start_daemon(
    store: Any,
    *,
    check_interval: float = 60.0,
    catchup: Catchup = "latest",
    grace: float = 30.0,
    timeout: float = 15.0,
) -> tuple[DaemonInfo, int | None]:
    """Launch the daemon detached and wait until it holds its pid file.

    Returns:
        ``(info, stale_pid)``: the running daemon and the pid of a stale file it replaced.

    Raises:
        AlreadyRunningError: One runs already.
        StoreError: The store or its folder is not writable (nothing is started).
        FerroflowError: The daemon did not come up (its log's tail is in the message).
    """
    path = pid_file_path(store)
    running, stale = read_pid_file(path)
    if running is not None:
        raise AlreadyRunningError(running.pid, path)
    ensure_tables(store)
    _check_writable(path.parent)
    log_file = path.parent / "scheduler.log"
    args = [
        sys.executable,
        "-m",
        "ferroflow.daemon",
        "launch",
        "--store",
        str(store.path),
        "--check-interval",
        str(check_interval),
        "--catchup",
        catchup,
        "--grace",
        str(grace),
        "--log-file",
        str(log_file),
    ]
    # The launcher starts the daemon in a new session and exits at once, so the
    # daemon is re-parented to init and this process keeps no child behind.
    launched = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if launched.returncode != 0 or not launched.stdout.strip().isdigit():
        raise FerroflowError(
            f"the scheduler could not be launched: {launched.stderr.strip() or launched.stdout.strip()}"
        )
    pid = int(launched.stdout.strip())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info, _ = read_pid_file(path)
        if info is not None and info.pid == pid:
            return info, stale
        if not _pid_alive(pid):
            break
        time.sleep(0.05)
    tail = read_tail(log_file, 2000)
    raise FerroflowError(f"the scheduler did not start (pid {pid}); its log {log_file} ends with:\n{tail}")


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"the store folder {folder} is not writable; pick another with --home")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def stop_daemon(store: Any, timeout: float = 60.0) -> DaemonInfo | None:
    """Ask the running daemon to stop (``SIGTERM``) and wait until it is gone.

    Returns:
        The daemon that was stopped, or ``None`` when none was running.

    Raises:
        FerroflowError: It did not stop within ``timeout`` seconds.
    """
    path = pid_file_path(store)
    info, _ = read_pid_file(path)
    if info is None:
        return None
    try:
        os.kill(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        return info
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running, _ = read_pid_file(path)
        if running is None or running.pid != info.pid:
            return info
        time.sleep(0.05)
    raise FerroflowError(f"the scheduler (pid {info.pid}) did not stop within {timeout:g}s")


# ---------------------------------------------------------------- the loop


@dataclass(slots=True)
class _InFlight:
    schedule_id: str
    row_id: int
    proc: subprocess.Popen[bytes]
    log_path: Path


class Scheduler:
    """The daemon's loop (see the module docstring).

    Args:
        store: The store holding schedules and runs.
        check_interval: Longest sleep between two reads of the schedules.
        catchup: Catch-up policy after downtime (``none``, ``latest``, ``all``).
        grace: Seconds in-flight runs get to finish when stopping.
    """

    def __init__(self, store: Any, *, check_interval: float = 60.0, catchup: Catchup = "latest", grace: float = 30.0):
        self.store = store
        self.check_interval = check_interval
        self.catchup = catchup
        self.grace = grace
        self.stop_event = threading.Event()
        self.in_flight: list[_InFlight] = []
        self.log_dir = Path(store.path).parent / "scheduler" / "logs"

    def run(self) -> None:
        """Tick until :attr:`stop_event` is set, then wind down."""
        ensure_tables(self.store)
        self.recover()
        logger.info(
            "scheduler started (pid %d, check every %gs, catch-up %s)", os.getpid(), self.check_interval, self.catchup
        )
        while not self.stop_event.is_set():
            try:
                wait = self.tick()
            except StoreError as exc:
                logger.error("store error, retrying next tick: %s", exc)
                wait = self.check_interval
            self.stop_event.wait(wait)
        self.wind_down()
        logger.info("scheduler stopped")

    def tick(self, now: float | None = None) -> float:
        """Reap finished runs, start due ones; returns seconds to sleep."""
        self.reap()
        self._start_queued()
        now = time.time() if now is None else now
        grace_seconds = max(2 * self.check_interval, 5.0)
        wait = self.check_interval
        for s in list_schedules(self.store):
            if not s.enabled:
                continue
            due, handled = due_fire_times(
                s.cron, s.tz, s.last_fire, now, catchup=self.catchup, grace_seconds=grace_seconds
            )
            if handled != s.last_fire:
                with self.store.transaction() as conn:
                    conn.execute(
                        "UPDATE schedules SET last_fire = ? WHERE id = ? AND last_fire < ?", (handled, s.id, handled)
                    )
            for moment in due:
                self._launch(s, moment)
            upcoming = s.next_fire(after=max(now, handled))
            if upcoming is not None:
                wait = min(wait, max(0.05, upcoming.timestamp() - time.time()))
        return wait

    def _claim(self, s: Schedule, fire: float, status: str, message: str | None = None) -> int | None:
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO schedule_runs (schedule_id, fire_time, started_at, status, message) "
                "VALUES (?, ?, ?, ?, ?)",
                (s.id, fire, time.time(), status, message),
            )
            return cur.lastrowid if cur.rowcount else None

    def _launch(self, s: Schedule, moment: datetime) -> None:
        fire = moment.timestamp()
        busy = any(f.schedule_id == s.id for f in self.in_flight)
        if busy and self.catchup != "all":
            if self._claim(s, fire, "skipped", "the previous run of this schedule was still running") is not None:
                logger.warning("schedule %s: %s skipped, previous run still running", s.id, moment.isoformat())
            return
        # Claimed first (unique per fire time), so a restart never runs it twice;
        # queued rows of one schedule run one after another.
        if self._claim(s, fire, "queued") is not None:
            self._start_queued()

    def _start_queued(self) -> None:
        with self.store.read() as conn:
            rows = conn.execute(
                "SELECT id, schedule_id, fire_time FROM schedule_runs WHERE status = 'queued' ORDER BY fire_time, id"
            ).fetchall()
        for row_id, schedule_id, fire in rows:
            if self.stop_event.is_set() or any(f.schedule_id == schedule_id for f in self.in_flight):
                continue
            s = get_schedule(self.store, schedule_id)
            if s is None:
                self._set_row(row_id, "error", "the schedule was removed before it ran")
                continue
            self._start(s, int(row_id), datetime.fromtimestamp(fire).astimezone())

    def _set_row(self, row_id: int, status: str, message: str | None) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE schedule_runs SET status = ?, finished_at = ?, message = ? WHERE id = ?",
                (status, time.time(), message, row_id),
            )

    def _start(self, s: Schedule, row_id: int, moment: datetime) -> None:
        stamp = moment.strftime("%Y%m%dT%H%M%S%z")
        log_path = self.log_dir / s.id / f"{stamp}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "ferroflow.daemon",
            "run-one",
            "--store",
            str(self.store.path),
            "--row",
            str(row_id),
        ]
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=s.workdir, start_new_session=True
            )
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE schedule_runs SET status = 'running', started_at = ?, pid = ?, log_path = ? WHERE id = ?",
                (time.time(), proc.pid, str(log_path), row_id),
            )
        self.in_flight.append(_InFlight(s.id, row_id, proc, log_path))
        logger.info("schedule %s (%s): run for %s started, log %s", s.id, s.target, moment.isoformat(), log_path)

    def recover(self) -> None:
        """Mark runs left ``running`` by a daemon that died as interrupted."""
        with self.store.read() as conn:
            rows = conn.execute("SELECT id, pid FROM schedule_runs WHERE status = 'running'").fetchall()
        for row_id, pid in rows:
            if pid is None or not _pid_alive(int(pid)):
                self._set_row(int(row_id), "interrupted", "the scheduler stopped before the run finished")

    def reap(self) -> None:
        """Record runs whose process ended without recording themselves."""
        still: list[_InFlight] = []
        for f in self.in_flight:
            code = f.proc.poll()
            if code is None:
                still.append(f)
                continue
            self._finish_row(f, "failed" if code != 0 else "completed", f"run process exited with code {code}")
        self.in_flight = still

    def _finish_row(self, f: _InFlight, status: str, message: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE schedule_runs SET status = ?, finished_at = ?, message = COALESCE(message, ?) "
                "WHERE id = ? AND status = 'running'",
                (status, time.time(), message, f.row_id),
            )

    def wind_down(self) -> None:
        """Let in-flight runs finish for ``grace`` seconds, then stop them as cancelled."""
        deadline = time.monotonic() + self.grace
        while self.in_flight and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        for f in self.in_flight:
            kill_process_group(f.proc.pid, grace=3.0, leader=f.proc)
            self._finish_row(f, "cancelled", "the scheduler stopped before the run finished")
            logger.warning("schedule %s: run cancelled by scheduler stop", f.schedule_id)
        self.in_flight = []
        # Queued runs stay queued: the next start runs them.


def serve(
    store: Any,
    *,
    check_interval: float = 60.0,
    catchup: Catchup = "latest",
    grace: float = 30.0,
    log_file: str | None = None,
) -> None:
    """Run the daemon loop in this process until ``SIGTERM``/``SIGINT``.

    Raises:
        AlreadyRunningError: Another daemon holds the pid file.
    """
    pid_file = PidFile(pid_file_path(store))
    info = DaemonInfo(
        pid=os.getpid(),
        started_at=time.time(),
        check_interval=check_interval,
        catchup=catchup,
        host=socket.gethostname(),
        cwd=os.getcwd(),
        log_file=log_file,
    )
    stale = pid_file.acquire(info)
    if stale is not None:
        logger.warning("removed the stale pid file of a scheduler that is gone (pid %d)", stale)
    scheduler = Scheduler(store, check_interval=check_interval, catchup=catchup, grace=grace)

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        scheduler.stop_event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        pid_file.release()


# ---------------------------------------------------------------- one run (child process)


def run_one(store: Any, row_id: int) -> int:
    """Run the schedule run ``row_id`` (claimed by the daemon) and record it; returns an exit code."""
    from .targets import run_scheduled

    with store.read() as conn:
        row = conn.execute("SELECT schedule_id, fire_time FROM schedule_runs WHERE id = ?", (row_id,)).fetchone()
    if row is None:
        logger.error("no schedule run %d", row_id)
        return 2
    schedule = get_schedule(store, row[0])
    if schedule is None:
        _record(store, row_id, "error", None, "the schedule was removed before it ran")
        return 2
    logger.info(
        "schedule %s: running %s (fire time %s)",
        schedule.id,
        schedule.target,
        datetime.fromtimestamp(row[1]).isoformat(),
    )
    with _cancel_on_sigterm() as cancelled:
        try:
            run_id, status = run_scheduled(schedule, store, cancel=cancelled)
        except FerroflowError as exc:
            logger.error("schedule %s: %s", schedule.id, exc)
            _record(store, row_id, "error", None, str(exc))
            return 2
    if cancelled.is_set() and status != "completed":
        status = "cancelled"
    _record(store, row_id, status, run_id, None)
    logger.info("schedule %s: run %s %s", schedule.id, run_id, status)
    return 0 if status == "completed" else 1


@contextmanager
def _cancel_on_sigterm() -> Iterator[threading.Event]:
    event = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        event.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        yield event
    finally:
        signal.signal(signal.SIGTERM, previous)


def _record(store: Any, row_id: int, status: str, run_id: str | None, message: str | None) -> None:
    with store.transaction() as conn:
        conn.execute(
            "UPDATE schedule_runs SET status = ?, run_id = ?, finished_at = ?, message = ? WHERE id = ?",
            (status, run_id, time.time(), message, row_id),
        )


# ---------------------------------------------------------------- entry point


def _launch(args: argparse.Namespace) -> int:
    log = open(args.log_file, "ab")  # noqa: SIM115 - handed to the daemon process
    serve_args = [
        sys.executable,
        "-m",
        "ferroflow.daemon",
        "serve",
        "--store",
        args.store,
        "--check-interval",
        str(args.check_interval),
        "--catchup",
        args.catchup,
        "--grace",
        str(args.grace),
        "--log-file",
        args.log_file,
    ]
    proc = subprocess.Popen(
        serve_args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
    )
    print(proc.pid, flush=True)
    # Exit without waiting: the daemon is re-parented and outlives this launcher.
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """``python -m ferroflow.daemon serve|launch|run-one ...`` (used by the CLI)."""
    parser = argparse.ArgumentParser(prog="python -m ferroflow.daemon")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "launch"):
        p = sub.add_parser(name)
        p.add_argument("--store", required=True)
        p.add_argument("--check-interval", type=float, default=60.0)
        p.add_argument("--catchup", choices=["none", "latest", "all"], default="latest")
        p.add_argument("--grace", type=float, default=30.0)
        p.add_argument("--log-file", default=None)
    one = sub.add_parser("run-one")
    one.add_argument("--store", required=True)
    one.add_argument("--row", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .store import open_store

    if args.command == "launch":
        return _launch(args)
    store = open_store(args.store)
    assert store is not None
    if args.command == "serve":
        try:
            serve(
                store,
                check_interval=args.check_interval,
                catchup=args.catchup,
                grace=args.grace,
                log_file=args.log_file,
            )
        except AlreadyRunningError as exc:
            logger.error("%s", exc)
            return 1
        return 0
    return run_one(store, args.row)


if __name__ == "__main__":
    sys.exit(main())
