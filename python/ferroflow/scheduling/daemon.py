"""The scheduler daemon: runs due schedules, one instance per store.

``ferroflow scheduler start`` launches ``python -m ferroflow.scheduling.daemon serve`` as a
detached process (its own session, parent gone) or runs the same loop in the
foreground. The daemon holds an exclusive ``flock`` on ``scheduler.pid`` next to
the store file for its whole life, so:

- the lock, not the file's text, says whether a daemon runs: a reader finds
  the holder in the kernel's lock table (``/proc/locks`` on Linux) without
  locking anything, so a damaged or emptied file never hides a live daemon,
  and the daemon rewrites such a file at its next check;
- a second daemon cannot start (it names the lock holder's pid); a reader's
  brief shared-lock probe (off Linux) only delays a start, never fails it;
- a pid file left by a crashed daemon is not locked, which marks it stale: it
  is reported and replaced;
- ``stop`` from any shell sends ``SIGTERM`` to the lock holder and waits for
  the lock to be released.

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
from ..processes import flock_holders, process_alive, process_started_at
from .loop import Scheduler, run_one
from .schedules import Catchup
from .table import Schedule, ScheduleRun, ensure_tables, last_schedule_run, list_schedules

if TYPE_CHECKING:
    from ..store.store import Store

__all__ = [
    "AlreadyRunningError",
    "DaemonInfo",
    "PidFile",
    "PidFileState",
    "Scheduler",
    "SchedulerStatus",
    "pid_file_path",
    "probe_pid_file",
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
    try:
        return DaemonInfo(**known)
    except TypeError:
        return None


#: Longest a reader's probe can hold a shared lock on the pid file: a start that
#: meets a lock held by no known daemon retries this long before giving up.
_PROBE_WAIT_S = 1.0


def _exclusive_holder(path: Path) -> int | None | bool:
    """The pid holding an exclusive ``flock`` on ``path``; ``False`` if none does; ``None`` if unknown."""
    holders = flock_holders(path)
    if holders is None:
        return None
    for pid, exclusive in holders:
        if exclusive:
            return pid
    return False


class PidFile:
    """The daemon's pid file, locked with ``flock`` while the daemon lives.

    The lock, not the file's text, decides whether a daemon runs: a reader
    finds the lock holder in the kernel's lock table (``/proc/locks`` on
    Linux) without taking any lock, and falls back to a brief shared-lock probe
    elsewhere; a daemon starting while such a probe holds the lock waits for it
    rather than failing.

    Example:
        >>> import tempfile, pathlib
        >>> pid_file = PidFile(pathlib.Path(tempfile.mkdtemp()) / "scheduler.pid")
        >>> _ = pid_file.acquire(DaemonInfo(pid=1234, started_at=0.0))
        >>> pid_file.holder() is not None  # what any other reader sees while the lock is held
        True
        >>> pid_file.release()
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._info: DaemonInfo | None = None

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
        self._fd, self._info = fd, info
        self._write()
        return stale.pid if stale is not None and stale.pid != info.pid else None

    def _write(self) -> None:
        assert self._fd is not None and self._info is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(_info_dict(self._info)).encode(), 0)
        os.fsync(self._fd)

    def _open_locked(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write the scheduler pid file {self.path}: {exc.strerror or exc}") from None
        deadline = time.monotonic() + _PROBE_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                pass
            holder = _exclusive_holder(self.path)
            # A shared lock is a reader's probe, gone in a moment; an exclusive one is a daemon.
            if holder or time.monotonic() > deadline:
                os.close(fd)
                state = _running_state(self.path, holder if isinstance(holder, int) and holder else None)
                raise AlreadyRunningError(state.info.pid if state.info else None, self.path) from None
            time.sleep(0.005)

    def holder(self) -> DaemonInfo | None:
        """The live daemon holding the lock, if its pid is known (a stale file is removed)."""
        return probe_pid_file(self.path).info

    def repair(self) -> None:
        """Rewrite the file if its text no longer names this daemon (the daemon calls this as it runs).

        If the file was replaced by another (a new inode), the lock is taken on
        the new one; if another daemon holds that one already, ``AlreadyRunningError``.
        """
        if self._fd is None or self._info is None:
            return
        try:
            same = os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            fd = self._open_locked()
            os.close(self._fd)
            self._fd = fd
            logger.warning("the pid file %s was replaced; locked and rewrote it", self.path)
            self._write()
            return
        current = _read_info(self.path)
        if current is None or _info_dict(current) != _info_dict(self._info):
            logger.warning("the pid file %s was damaged; rewrote it", self.path)
            self._write()

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


def _wait_for_info(path: Path, timeout: float) -> DaemonInfo | None:
    # A daemon that just took the lock may not have written its pid yet.
    deadline = time.monotonic() + timeout
    while True:
        info = _read_info(path)
        if info is not None or time.monotonic() > deadline:
            return info
        time.sleep(0.02)


@dataclass(slots=True)
class PidFileState:
    """What the lock on the pid file and its text say.

    Attributes:
        running: A daemon holds the lock.
        info: That daemon (``None`` if none runs, or if its pid cannot be found).
        stale_pid: The pid in a stale file (left by a daemon that is gone), now removed.
        damaged: A daemon runs but the file's text does not name it; its pid
            (if known) comes from the lock table.
    """

    running: bool
    info: DaemonInfo | None = None
    stale_pid: int | None = None
    damaged: bool = False


def _running_state(path: Path, holder: int | None) -> PidFileState:
    """A daemon holds the lock (``holder``: its pid from the lock table, if known)."""
    info = _wait_for_info(path, 0.5 if holder is not None else 2.0)
    if info is not None and (holder is None or info.pid == holder):
        return PidFileState(True, info)
    if holder is None:
        return PidFileState(True, None, damaged=True)
    started = process_started_at(holder)
    return PidFileState(True, DaemonInfo(pid=holder, started_at=started or time.time()), damaged=True)


def probe_pid_file(path: Path) -> PidFileState:
    """Whether a daemon holds the lock on ``path``, and which; a stale file is removed."""
    holder = _exclusive_holder(path)
    if holder:
        return _running_state(path, int(holder))
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return PidFileState(False)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _running_state(path, None)
        stale = _read_info(path)
        if stale is None:
            # Empty: a daemon has just created it and is about to lock it.
            return PidFileState(False)
        # Nobody holds the lock, yet a pid was written: that daemon is gone.
        try:
            path.unlink()
        except OSError:
            pass
        return PidFileState(False, stale_pid=stale.pid)
    finally:
        os.close(fd)


def read_pid_file(path: Path) -> tuple[DaemonInfo | None, int | None]:
    """``(live daemon, pid of a stale file that was removed)`` (see :func:`probe_pid_file`)."""
    state = probe_pid_file(path)
    return state.info, state.stale_pid


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
    pid_file_damaged: bool = False


def scheduler_status(store: Store) -> SchedulerStatus:
    """The daemon (if running) and every schedule with next and last run.

    A stale pid file (its daemon crashed) is detected, removed and reported in
    ``stale_pid``. A daemon whose pid file was damaged still shows as running
    (``pid_file_damaged``), with its pid from the lock it holds where the
    system tells (``info`` is ``None`` where it does not).
    """
    path = pid_file_path(store)
    probe = probe_pid_file(path)
    states = []
    for s in list_schedules(store):
        states.append(ScheduleState(s, s.next_fire() if s.enabled else None, last_schedule_run(store, s.id)))
    return SchedulerStatus(
        running=probe.running,
        info=probe.info,
        stale_pid=probe.stale_pid,
        pid_file=path,
        schedules=states,
        pid_file_damaged=probe.damaged,
    )


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
    probe = probe_pid_file(path)
    if probe.running:
        raise AlreadyRunningError(probe.info.pid if probe.info else None, path)
    stale = probe.stale_pid
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
        state = probe_pid_file(path)
        if state.info is not None and state.info.pid == pid and not state.damaged:
            return state.info, stale
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

    The daemon is the process holding the lock on its pid file, whatever the
    file's text says.

    Raises:
        FerroflowError: It did not stop within ``timeout`` seconds, or it runs
            but its pid cannot be found (the message says how to stop it).
    """
    path = pid_file_path(store)
    probe = probe_pid_file(path)
    if not probe.running:
        return None
    info = probe.info
    if info is None:
        raise FerroflowError(
            f"the scheduler is running (it holds the lock on {path}) but its pid file is damaged and this "
            f"system does not tell which process holds the lock; stop it with `kill $(lsof -t {path})`"
        )
    try:
        os.kill(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        return info
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = probe_pid_file(path)
        if not state.running or (state.info is not None and state.info.pid != info.pid):
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

    def check_pid_file() -> None:
        try:
            pid_file.repair()
        except AlreadyRunningError as exc:
            logger.error("another scheduler holds the pid file now (%s); stopping", exc)
            scheduler.stop()

    scheduler.on_tick = check_pid_file

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
