"""The Python API of the scheduler daemon: start, stop and ask about it.

:class:`SchedulerDaemon` does what ``ferroflow scheduler start|stop|status`` do: one
daemon per store, detached from the calling process (it outlives a script that
started it, as one started from the CLI does), or run in the foreground.
Its :attr:`~SchedulerDaemon.schedule_manager` edits the schedules it runs.

Example:
    >>> import tempfile
    >>> daemon = SchedulerDaemon(tempfile.mkdtemp(), check_interval=1)
    >>> daemon.running, daemon.status().schedules
    (False, [])
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .daemon import DaemonInfo, SchedulerStatus, scheduler_status, serve, start_daemon, stop_daemon
from .manager import ScheduleManager, open_schedule_store
from .schedules import Catchup

if TYPE_CHECKING:
    from ..store.store import Store

__all__ = ["SchedulerDaemon"]


class SchedulerDaemon:
    """The scheduler daemon of one store.

    Args:
        store: The store (a folder, a ``.db`` file or a :class:`~ferroflow.store.Store`);
            default ``$FERROFLOW_HOME`` or ``./.ferroflow``.
        flows_dir: Folder of flow files, for :attr:`schedule_manager`.
        tasks_dir: Folder of the scripts the flows run.
        output_dir: Folder for task logs.
        check_interval: Longest wait (seconds) between two reads of the schedules;
            the daemon also wakes for each next fire time and for every change made
            through :attr:`schedule_manager` or the CLI.
        catchup: After downtime: ``none``, ``latest`` (one run) or ``all``.
        grace: Seconds in-flight runs get to finish when stopping.
    """

    def __init__(
        self,
        store: Store | str | os.PathLike[str] | None = None,
        *,
        flows_dir: str | os.PathLike[str] = "flows",
        tasks_dir: str | os.PathLike[str] = "tasks",
        output_dir: str | os.PathLike[str] = "ferroflow_output",
        check_interval: float = 60.0,
        catchup: Catchup = "latest",
        grace: float = 30.0,
    ) -> None:
        self.store = open_schedule_store(store)
        self.check_interval = float(check_interval)
        self.catchup: Catchup = catchup
        self.grace = grace
        self.schedule_manager = ScheduleManager(
            self.store, flows_dir=flows_dir, tasks_dir=tasks_dir, output_dir=output_dir
        )

    def start(self, *, foreground: bool = False) -> DaemonInfo | None:
        """Start the daemon, detached; with ``foreground=True``, run it here until ``SIGTERM``/``SIGINT``.

        Returns:
            The running daemon (``None`` after a foreground run ends).

        Raises:
            AlreadyRunningError: A daemon runs for this store already.
            StoreError: The store's folder is not writable.
            FerroflowError: The daemon did not come up (its log's tail is in the message).
        """
        if foreground:
            serve(self.store, check_interval=self.check_interval, catchup=self.catchup, grace=self.grace)
            return None
        info, _stale = start_daemon(
            self.store, check_interval=self.check_interval, catchup=self.catchup, grace=self.grace
        )
        return info

    def stop(self, timeout: float = 60.0) -> DaemonInfo | None:
        """Stop the running daemon (in-flight runs get ``grace`` seconds); returns it, or ``None`` if none ran.

        Raises:
            FerroflowError: It did not stop within ``timeout`` seconds.
        """
        return stop_daemon(self.store, timeout=timeout)

    def status(self) -> SchedulerStatus:
        """The daemon (pid, uptime) and every schedule's next fire time and last run."""
        return scheduler_status(self.store)

    @property
    def running(self) -> bool:
        """Whether a daemon runs for this store."""
        return self.status().running
