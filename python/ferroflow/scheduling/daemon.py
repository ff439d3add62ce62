"""The scheduler daemon: runs due schedules, one instance per store.

``ferroflow scheduler start`` launches ``python -m ferroflow.scheduling.daemon serve`` as a
detached process (its own session, parent gone) or runs the same loop in the
foreground. The daemon holds an exclusive ``flock`` on ``scheduler.pid`` next to
the store file for its whole life, so:

- a second daemon cannot start (it reads the running pid from the file);
- a pid file left by a crashed daemon is not locked, which marks it stale: it
  is reported and replaced;
- ``stop`` from any shell sends ``SIGTERM`` to the pid and waits for the lock
  to be released.

The loop itself lives in :mod:`ferroflow.scheduling.loop`. On ``SIGTERM`` the
daemon starts nothing new, lets in-flight runs finish for ``grace`` seconds,
then stops their process trees and records them as cancelled.

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
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AlreadyRunningError, FerroflowError, StoreError
from ..flowfiles.scripts import read_tail
from ..processes import process_alive
from .loop import Scheduler, run_one
from .schedules import Catchup
from .table import Schedule, ScheduleRun, ensure_tables, last_schedule_run, list_schedules

if TYPE_CHECKING:
    from ..store.store import Store

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
    "wake_daemon",
]

logger = logging.getLogger("ferroflow.scheduler")

PID_FILE_NAME = "scheduler.pid"

#: The signal :func:`wake_daemon` sends: the daemon reads its schedules at once.
WAKE_SIGNAL = signal.SIGUSR1


def pid_file_path(store: Store) -> Path:
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
        >>> pid_file.holder().pid   # what any other reader sees while the lock is held
        1234
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
        for _ in range(20):
            fd = self._open_locked()
            # A reader may have removed a stale file between our open and our lock:
            # then the lock is on a file nobody can see; start over.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        else:  # pragma: no cover - needs twenty lost races in a row
            raise StoreError(f"cannot lock the scheduler pid file {self.path}")
        stale = _read_info(self.path)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_info_dict(info)).encode())
        os.fsync(fd)
        self._fd = fd
        return stale.pid if stale is not None and stale.pid != info.pid else None

    def _open_locked(self) -> int:
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
        return fd

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
        stale = _read_info(path)
        if stale is None:
            # Empty: a daemon has just created it and is about to lock it.
            return None, None
        # Nobody holds the lock, yet a pid was written: that daemon is gone.
        try:
            path.unlink()
        except OSError:
            pass
        return None, stale.pid
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


def scheduler_status(store: Store) -> SchedulerStatus:
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
    store: Store,
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
        "ferroflow.scheduling.daemon",
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
        if not process_alive(pid):
            break
        time.sleep(0.05)
    if process_alive(pid):
        # It never took its pid file: do not leave an unaccounted daemon behind.
        os.kill(pid, signal.SIGTERM)
    tail = read_tail(log_file, 2000)
    raise FerroflowError(f"the scheduler did not start (pid {pid}); its log {log_file} ends with:\n{tail}")


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"the store folder {folder} is not writable; pick another with --home")


def wake_daemon(store: Store) -> bool:
    """Tell the running daemon the schedules changed, so it reads them now (``SIGUSR1``).

    Without it, a daemon sleeping ``--check-interval`` seconds would see a new
    ``30s`` schedule only when it wakes. Returns whether a daemon was told.
    """
    info, _ = read_pid_file(pid_file_path(store))
    if info is None:
        return False
    try:
        os.kill(info.pid, WAKE_SIGNAL)
    except OSError:  # gone meanwhile, or another user's
        return False
    return True


def stop_daemon(store: Store, timeout: float = 60.0) -> DaemonInfo | None:
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


def serve(
    store: Store,
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
    scheduler = Scheduler(store, check_interval=check_interval, catchup=catchup, grace=grace)

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        scheduler.stop()

    def on_wake(_signum: int, _frame: object) -> None:
        scheduler.wake()

    # Handlers first: once the pid file is locked, `stop` may send SIGTERM (and a
    # schedule change SIGUSR1) at any moment.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[WAKE_SIGNAL] = signal.signal(WAKE_SIGNAL, on_wake)
    try:
        stale = pid_file.acquire(info)
        try:
            if stale is not None:
                logger.warning("removed the stale pid file of a scheduler that is gone (pid %d)", stale)
            scheduler.run()
        finally:
            pid_file.release()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------- entry point


def _launch(args: argparse.Namespace) -> int:
    log = open(args.log_file or os.devnull, "ab")  # noqa: SIM115 - handed to the daemon process
    serve_args = [
        sys.executable,
        "-m",
        "ferroflow.scheduling.daemon",
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
    """``python -m ferroflow.scheduling.daemon serve|launch|run-one ...`` (used by the CLI)."""
    parser = argparse.ArgumentParser(prog="python -m ferroflow.scheduling.daemon")
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
    from ..store.store import open_store

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
