"""The scheduler loop: what the daemon does on each tick, and one scheduled run.

:class:`Scheduler` re-reads the ``schedules`` table each tick (so changes need
no restart), asks :func:`~ferroflow.scheduling.schedules.due_fire_times` what is due under
the catch-up policy, claims each fire time in ``schedule_runs`` (unique per
schedule, so a restart never fires a time twice) and runs it in a child process
(``python -m ferroflow.scheduling.daemon run-one``) with its output in a log file under
``scheduler/logs/``; runs of one schedule never overlap. :func:`run_one` is
that child: it runs the target and records the run id and status.

Example:
    >>> import tempfile
    >>> from ferroflow.store import open_store
    >>> scheduler = Scheduler(open_store(tempfile.mkdtemp()), check_interval=1.0)
    >>> scheduler.tick() <= 1.0   # nothing scheduled: sleep one check interval
    True
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FerroflowError, StoreError
from ..flowfiles.scripts import kill_process_group
from ..processes import process_alive
from ..safetext import safe_str
from ..trigger import started_by
from .schedules import Catchup, due_fire_times
from .table import Schedule, ensure_tables, get_schedule, list_schedules

if TYPE_CHECKING:
    from ..store.store import Store

__all__ = ["Scheduler", "run_one"]

logger = logging.getLogger("ferroflow.scheduler")


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

    def __init__(self, store: Store, *, check_interval: float = 60.0, catchup: Catchup = "latest", grace: float = 30.0):
        self.store = store
        self.check_interval = check_interval
        self.catchup = catchup
        self.grace = grace
        self.stop_event = threading.Event()
        self.in_flight: list[_InFlight] = []
        self.log_dir = Path(store.path).parent / "scheduler" / "logs"
        #: Called before every tick (the daemon checks its pid file there).
        self.on_tick: Callable[[], None] | None = None

    def run(self) -> None:
        """Tick until :attr:`stop_event` is set, then wind down."""
        ensure_tables(self.store)
        self.recover()
        logger.info(
            "scheduler started (pid %d, check every %gs, catch-up %s)", os.getpid(), self.check_interval, self.catchup
        )
        while not self.stop_event.is_set():
            try:
                if self.on_tick is not None:
                    self.on_tick()
                wait = self.tick()
            except StoreError as exc:
                logger.error("store error, retrying next tick: %s", exc)
                wait = self.check_interval
            except Exception:  # the daemon must outlive any one bad tick
                logger.exception("scheduler tick failed; retrying next tick")
                wait = self.check_interval
            self.stop_event.wait(wait)
        self.wind_down()
        logger.info("scheduler stopped")

    def tick(self, now: float | None = None) -> float:
        """Reap finished runs, start due ones; returns seconds to sleep."""
        ensure_tables(self.store)
        self.reap()
        self._start_queued()
        now = time.time() if now is None else now
        grace_seconds = max(2 * self.check_interval, 5.0)
        wait = self.check_interval
        for s in list_schedules(self.store):
            if not s.enabled:
                continue
            try:
                wait = min(wait, self._tick_one(s, now, grace_seconds))
            except (FerroflowError, OSError) as exc:
                logger.error("schedule %s (%s): %s", s.id, s.target, exc)
        return wait

    def _tick_one(self, s: Schedule, now: float, grace_seconds: float) -> float:
        """Start what is due for one schedule; returns seconds until its next fire time."""
        due, handled = due_fire_times(s.cron, s.tz, s.last_fire, now, catchup=self.catchup, grace_seconds=grace_seconds)
        if handled != s.last_fire:
            with self.store.transaction() as conn:
                conn.execute(
                    "UPDATE schedules SET last_fire = ? WHERE id = ? AND last_fire < ?", (handled, s.id, handled)
                )
        for moment in due:
            self._launch(s, moment)
        upcoming = s.next_fire(after=max(now, handled))
        if upcoming is None:
            return self.check_interval
        return min(self.check_interval, max(0.05, upcoming.timestamp() - time.time()))

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
            "ferroflow.scheduling.daemon",
            "run-one",
            "--store",
            str(self.store.path),
            "--row",
            str(row_id),
        ]
        try:
            with log_path.open("ab") as log:
                proc = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=s.workdir, start_new_session=True
                )
        except OSError as exc:
            self._set_row(row_id, "error", f"cannot start the run in {s.workdir}: {exc.strerror or exc}")
            logger.error("schedule %s: cannot start the run in %s: %s", s.id, s.workdir, exc)
            return
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
            if pid is None or not process_alive(int(pid)):
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


def run_one(store: Store, row_id: int) -> int:
    """Run the schedule run ``row_id`` (claimed by the daemon) and record it; returns an exit code."""
    from ..flowfiles.targets import run_scheduled

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
    fired = datetime.fromtimestamp(row[1]).isoformat()
    with (
        _cancel_on_sigterm() as cancelled,
        started_by("schedule", target=schedule.target, schedule=schedule.id, fire_time=fired, cwd=os.getcwd()),
    ):
        try:
            run_id, status = run_scheduled(schedule, store, cancel=cancelled)
        except FerroflowError as exc:
            logger.error("schedule %s: %s", schedule.id, safe_str(exc))
            _record(store, row_id, "error", None, safe_str(exc))
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


def _record(store: Store, row_id: int, status: str, run_id: str | None, message: str | None) -> None:
    with store.transaction() as conn:
        conn.execute(
            "UPDATE schedule_runs SET status = ?, run_id = ?, finished_at = ?, message = ? WHERE id = ?",
            (status, run_id, time.time(), message, row_id),
        )
