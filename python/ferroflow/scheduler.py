"""Featherflow's scheduler face: ``from ferroflow import scheduler``.

``scheduler.get_scheduler(...)`` returns a :class:`~ferroflow.scheduling.control.SchedulerDaemon`,
whose ``start()`` / ``stop()`` start and stop the scheduler daemon and whose
``schedule_manager.add_schedule(flow, cron, enabled=True, description=...)`` adds a
schedule, as Featherflow's documented Python API does. ferroflow's own API is
:class:`~ferroflow.scheduling.manager.ScheduleManager` and
:class:`~ferroflow.scheduling.control.SchedulerDaemon` (both importable from
``ferroflow``); this module holds only this face.

The daemon is the one ``ferroflow scheduler start`` runs: detached, one per store,
so it keeps running after the script that started it exits, until ``stop()``
(or ``ferroflow scheduler stop``).

Example:
    >>> import tempfile
    >>> scheduler_instance = get_scheduler(flows_dir="./flows", home=tempfile.mkdtemp(), check_interval=60)
    >>> scheduler_instance.check_interval, scheduler_instance.running
    (60.0, False)
"""

from __future__ import annotations

import os

from .scheduling.control import SchedulerDaemon

__all__ = ["get_scheduler"]


def get_scheduler(
    flows_dir: str | os.PathLike[str] = "flows",
    tasks_dir: str | os.PathLike[str] = "tasks",
    output_dir: str | os.PathLike[str] = "ferroflow_output",
    check_interval: float = 60,
    *,
    home: str | os.PathLike[str] | None = None,
) -> SchedulerDaemon:
    """The scheduler of the store in ``home`` (default ``$FERROFLOW_HOME`` or ``./.ferroflow``).

    Args:
        flows_dir: Folder of the flow files schedules name.
        tasks_dir: Folder of the scripts the flows run.
        output_dir: Folder for task logs.
        check_interval: Longest wait (seconds) between two reads of the schedules.
        home: The store folder (``--home`` / ``--config-dir`` on the CLI).
    """
    return SchedulerDaemon(
        home, flows_dir=flows_dir, tasks_dir=tasks_dir, output_dir=output_dir, check_interval=check_interval
    )
