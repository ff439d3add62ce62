"""What a run leaves running: the script processes recorded in the store, stopped on resume.

Each script task's process is recorded (``run_processes``: its pid, which is
also its process group, its start time, the token its whole tree carries in
its environment, the run's ``TMP_DIR``) when it starts; the run forgets them
when it ends, having stopped every tree. A run killed with ``kill -9`` cannot forget them: when such a
run is resumed, :func:`reclaim_run` stops every process of the recorded trees
still running on this host (``SIGTERM``, then ``SIGKILL``), so the resumed
tasks do not run beside their first copies, and removes the dead run's
``TMP_DIR``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..processes import ProcessTree, describe, process_alive
from .records import HOST
from .sqlite import SQLiteDB

__all__ = ["RunProcess", "forget_processes", "reclaim_run", "record_process"]


@dataclass(frozen=True, slots=True)
class RunProcess:
    """One script process of a run.

    Attributes:
        token: The value of ``FERROFLOW_PROCESS_TREE`` its tree carries.
        pid: Its pid (and process group id).
        start_time: Its start time (clock ticks since boot; ``None`` off Linux).
        tmp_dir: The run's ``TMP_DIR``.
    """

    token: str
    pid: int
    start_time: int | None
    tmp_dir: str | None


def record_process(db: SQLiteDB, run_id: str, task: str, process: RunProcess) -> None:
    """Record that ``task`` of ``run_id`` started ``process``."""

    def insert(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO run_processes (run_id, token, task, pid, start_time, tmp_dir)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, process.token, task, process.pid, process.start_time, process.tmp_dir),
        )

    db.run_write(insert, action=f"record a process of run {run_id} in")


def forget_processes(db: SQLiteDB, run_id: str) -> None:
    """``run_id`` has ended and stopped its trees: forget its processes."""

    def clear(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM run_processes WHERE run_id = ?", (run_id,))

    db.run_write(clear, action=f"forget the processes of run {run_id} in")


def reclaim_run(db: SQLiteDB, run_id: str, *, grace: float = 3.0) -> list[str]:
    """Stop the recorded trees of dead run ``run_id`` still running here; remove its ``TMP_DIR``.

    Nothing is touched while the run's own process is alive, or when it ran on another host.

    Returns:
        One line per thing done or refused, for the log.
    """
    rows = db.query("SELECT pid, host, status FROM runs WHERE run_id = ?", (run_id,))
    if not rows or rows[0]["host"] != HOST:
        return []
    owner = rows[0]["pid"]
    if owner is not None and int(owner) != os.getpid() and process_alive(int(owner)):
        return []
    done: list[str] = []
    tmp_dirs: set[str] = set()
    processes = db.query("SELECT token, task, pid, start_time, tmp_dir FROM run_processes WHERE run_id = ?", (run_id,))
    for row in processes:
        if row["tmp_dir"]:
            tmp_dirs.add(row["tmp_dir"])
        if int(row["pid"]) <= 1:
            continue  # never a real script's pid (a tampered row)
        tree = ProcessTree.adopt(row["token"], int(row["pid"]), row["start_time"])
        alive = tree.alive()
        if not alive:
            continue
        left = tree.stop(grace=grace)
        stopped = len(alive) - len(left)
        line = f"task {row['task']!r}: stopped {stopped} process(es) the killed run left running"
        if left:
            line += f"; {len(left)} could not be stopped: {describe(left)}"
        done.append(line)
    for folder in sorted(tmp_dirs):
        if _is_ours(folder) and Path(folder).exists():
            shutil.rmtree(folder, ignore_errors=True)
            done.append(f"removed its TMP_DIR {folder}")

    if processes:
        forget_processes(db, run_id)
    return done


def _is_ours(folder: str) -> bool:
    """A folder ferroflow made for a run's ``TMP_DIR`` (never anything else a tampered store names)."""
    path = Path(folder)
    return path.is_absolute() and path.parent == Path(tempfile.gettempdir()) and path.name.startswith("ferroflow-")
