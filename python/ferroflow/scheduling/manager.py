"""The Python API of schedules: add, list, remove, enable and disable them in a store.

:class:`ScheduleManager` does what ``ferroflow schedule add|list|remove|enable|disable|next``
do, with the same checks: a target must resolve and load as a scheduled run would
load it, duplicates are refused, and a running scheduler daemon is told at once of
every change (so a new ``30s`` schedule does not wait for its ``--check-interval``).

Example:
    >>> import json, pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "flows").mkdir()
    >>> _ = (root / "flows" / "etl.json").write_text(json.dumps(
    ...     {"name": "etl", "tasks": [{"id": "hello", "command": "echo hi"}]}))
    >>> manager = ScheduleManager(root / ".ferroflow", flows_dir=root / "flows", tasks_dir=root / "tasks")
    >>> s = manager.add("etl", interval="daily", at="06:30", tz="UTC", description="nightly")
    >>> s.spec, s.cron, [x.id for x in manager.list()] == [s.id]
    ('daily at 06:30', '30 6 * * *', True)
    >>> [x.enabled for x in manager.disable("etl")]
    [False]
    >>> [x.id for x in manager.remove(s.id)] == [s.id], manager.list()
    (True, [])
"""

from __future__ import annotations

import builtins
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ScheduleError
from ..flowfiles.params import check_params
from ..flowfiles.project import Project
from ..flowfiles.targets import check_schedulable, resolve_target
from ..store.store import DEFAULT_STORE, Store, open_store
from .daemon import wake_daemon
from .schedules import interval_parts
from .table import (
    Schedule,
    ScheduleRun,
    add_schedule,
    find_schedules,
    get_schedule,
    list_schedules,
    remove_schedules,
    schedule_runs,
    set_enabled,
)

__all__ = ["ScheduleManager", "open_schedule_store"]


def open_schedule_store(store: Store | str | os.PathLike[str] | None) -> Store:
    """The store schedules live in: ``store`` (a path or a :class:`Store`), else the default store.

    The default is ``$FERROFLOW_HOME`` or ``./.ferroflow``, as for the CLI.
    """
    opened = open_store(DEFAULT_STORE if store is None else store)
    if opened is None:  # pragma: no cover - open_store returns None only for None, mapped above
        raise ScheduleError("schedules need a store")
    return opened


class ScheduleManager:
    """Schedules in one store, for targets found in one folder layout.

    Args:
        store: The store (a folder, a ``.db`` file or a :class:`Store`); default
            ``$FERROFLOW_HOME`` or ``./.ferroflow``, as for the CLI.
        flows_dir: Folder of the flow files a flow name is looked up in.
        tasks_dir: Folder of the scripts the flows run.
        output_dir: Folder for task logs.

    The folders are stored with each schedule as absolute paths, so the daemon runs
    it the same whatever its own working directory.
    """

    def __init__(
        self,
        store: Store | str | os.PathLike[str] | None = None,
        *,
        flows_dir: str | os.PathLike[str] = "flows",
        tasks_dir: str | os.PathLike[str] = "tasks",
        output_dir: str | os.PathLike[str] = "ferroflow_output",
    ) -> None:
        self.store = open_schedule_store(store)
        self.flows_dir = Path(flows_dir).resolve()
        self.tasks_dir = Path(tasks_dir).resolve()
        self.output_dir = Path(output_dir).resolve()

    def _project(self) -> Project:
        return Project(self.flows_dir, self.tasks_dir, self.output_dir, store=self.store)

    def add(
        self,
        target: str,
        *,
        cron: str | None = None,
        interval: str | None = None,
        at: str | None = None,
        tz: str | None = None,
        description: str | None = None,
        enabled: bool = True,
        params: dict[str, Any] | None = None,
    ) -> Schedule:
        """Add a schedule, as ``ferroflow schedule add`` does.

        Args:
            target: A flow name, a flow file, a ``.py`` file or ``module:attr``.
            cron: A 5-field cron expression or ``@daily``-style alias.
            interval: ``hourly``, ``daily``, ``weekly`` (Sundays), ``monthly`` (the
                1st), or a period: ``30s``, ``5m``, ``2h``, ``1d``.
            at: With ``interval``: ``HH:MM`` (``:MM`` for hourly); a period counts from it.
            tz: IANA time zone (default: the local one).
            description: Free text.
            enabled: ``False`` adds it switched off.
            params: The run params.

        Raises:
            ScheduleError: Bad cron, interval, time or zone, or a duplicate.
            FlowFileError: The target does not resolve or would not load.
        """
        values = dict(params or {})
        check_params(values)
        project = self._project()
        resolved = resolve_target(target, project)
        check_schedulable(resolved, project, values)
        schedule = add_schedule(
            self.store,
            resolved.schedule_target,
            kind=resolved.kind,
            cron=cron,
            interval=interval,
            at=at,
            tz=tz,
            description=description,
            enabled=enabled,
            params=values,
            flows_dir=str(self.flows_dir),
            tasks_dir=str(self.tasks_dir),
            output_dir=str(self.output_dir),
        )
        wake_daemon(self.store)
        return schedule

    def add_schedule(
        self,
        flow: str,
        cron: str,
        enabled: bool = True,
        description: str | None = None,
        *,
        tz: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Schedule:
        """Featherflow's ``add_schedule(flow, cron, enabled=True, description=...)``.

        ``cron`` is a cron expression or alias, or an interval (``daily``,
        ``daily at 03:00``, ``5m``), as :meth:`add` takes them.
        """
        parts = interval_parts(cron)
        if parts is not None:
            interval, at = parts
            return self.add(
                flow, interval=interval, at=at, tz=tz, description=description, enabled=enabled, params=params
            )
        return self.add(flow, cron=cron, tz=tz, description=description, enabled=enabled, params=params)

    def list(self) -> builtins.list[Schedule]:
        """Every schedule, oldest first."""
        return list_schedules(self.store)

    def get(self, schedule_id: str) -> Schedule | None:
        """The schedule with this id, if any."""
        return get_schedule(self.store, schedule_id)

    def find(self, id_or_target: str) -> builtins.list[Schedule]:
        """The schedule with this id, else every schedule of this target.

        Raises:
            ScheduleError: Nothing matches; lists the ids that exist.
        """
        return find_schedules(self.store, id_or_target)

    def remove(self, id_or_target: str) -> builtins.list[Schedule]:
        """Remove a schedule (by id) or all of a target's; returns what was removed.

        Raises:
            ScheduleError: Nothing matches.
        """
        removed = remove_schedules(self.store, id_or_target)
        wake_daemon(self.store)
        return removed

    def enable(self, id_or_target: str) -> builtins.list[Schedule]:
        """Switch schedules on; they restart from now (missed times are not replayed).

        Raises:
            ScheduleError: Nothing matches.
        """
        changed = set_enabled(self.store, id_or_target, True)
        wake_daemon(self.store)
        return changed

    def disable(self, id_or_target: str) -> builtins.list[Schedule]:
        """Switch schedules off.

        Raises:
            ScheduleError: Nothing matches.
        """
        changed = set_enabled(self.store, id_or_target, False)
        wake_daemon(self.store)
        return changed

    def next_fires(
        self, id_or_target: str, count: int = 5, after: datetime | None = None
    ) -> dict[str, builtins.list[datetime]]:
        """The coming fire times of each matching schedule, by schedule id."""
        start = None if after is None else after.timestamp()
        return {s.id: s.fire_times(start, count=count) for s in self.find(id_or_target)}

    def runs(self, schedule_id: str | None = None, limit: int = 20) -> builtins.list[ScheduleRun]:
        """The runs the daemon started (of one schedule, or all), newest first."""
        return schedule_runs(self.store, schedule_id, limit=limit)
