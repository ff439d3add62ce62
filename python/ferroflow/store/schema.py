"""The run store's schema, its version and the forward migrations.

The schema version is SQLite's ``PRAGMA user_version``. Opening a store runs
every migration above the file's version, in order, inside one write
transaction, so a store written by an older ferroflow is upgraded in place and
a crash half-way leaves the old version intact. A file whose version is newer
than this code knows is refused (:class:`~ferroflow.errors.StoreError`), never
touched.

Schema (version 6)::

    runs   run_id TEXT PK, workflow TEXT, status TEXT ('running', 'completed',
           'failed', 'cancelled'), params TEXT (JSON), started_at REAL,
           finished_at REAL (epoch seconds), resumed_from TEXT, pid INTEGER,
           host TEXT, task_count INTEGER, stats TEXT (JSON),
           report TEXT (PipelineReport JSON, only when the run's report
           was built and possibly edited before the run ended; otherwise
           it is rebuilt from the task records)                       [v2]
           task_names BLOB (pickled list: the workflow's tasks, in
           order)                                                     [v3]
           target TEXT (what was run, as it can be run again), trigger
           TEXT (JSON: kind, target, detail), upstreams BLOB (pickled list:
           per task, the indexes of its upstream tasks)               [v4]
           pid_birth TEXT (which process had ``pid``: see
           :func:`ferroflow.processes.process_birth`)                  [v5]
    tasks  (run_id, name) PK, status TEXT, attempts INTEGER, started_at REAL,
           finished_at REAL, error TEXT, traceback TEXT, reason TEXT,
           has_result INTEGER, result BLOB (pickle), result_json TEXT,
           cached INTEGER, resumed INTEGER, logs TEXT (JSON list)     [v2]
           attempt_log TEXT (JSON list: every failed attempt's number,
           start, end, error and traceback)                           [v4]
    task_log (run_id, seq) PK, entries BLOB: one pickled list per batch of
           compact entries: ``(name, started_at)`` = started, and
           ``(name, started_at, finished_at)`` = completed on the first
           attempt with a None result, no error, no logs. A task's final
           ``tasks`` row, if any, else its last entry here, is its
           record                                                     [v3]
    watch_sessions  session_id TEXT PK, app TEXT, status TEXT ('running',
           'stopped'), started_at REAL, finished_at REAL, pid INTEGER,
           host TEXT, roots TEXT, handlers TEXT, stats TEXT, errors TEXT,
           last_events TEXT (JSON): one per WatchApp run             [v4]
           pid_birth TEXT (as in ``runs``)                            [v5]
    cache  key TEXT PK, task_name TEXT, value BLOB (pickle),
           created_at REAL, expires_at REAL (NULL = never)
    run_processes (run_id, token) PK, task TEXT, pid INTEGER (also the
           process group), start_time INTEGER (clock ticks since boot),
           tmp_dir TEXT: the script processes a run started, so that a
           resume can stop what a killed run left running and remove
           its TMP_DIR                                                [v6]

Other modules own their own tables in the same file (the scheduler's
``schedules``) and create them through ``Store.transaction()``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "check", "migrate"]

_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    workflow     TEXT NOT NULL,
    status       TEXT NOT NULL,
    params       TEXT NOT NULL DEFAULT '{}',
    started_at   REAL NOT NULL,
    finished_at  REAL,
    resumed_from TEXT,
    pid          INTEGER,
    host         TEXT,
    task_count   INTEGER NOT NULL DEFAULT 0,
    stats        TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
CREATE TABLE IF NOT EXISTS tasks (
    run_id      TEXT NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  REAL,
    finished_at REAL,
    error       TEXT,
    traceback   TEXT,
    reason      TEXT,
    has_result  INTEGER NOT NULL DEFAULT 0,
    result      BLOB,
    result_json TEXT,
    cached      INTEGER NOT NULL DEFAULT 0,
    resumed     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cache (
    key        TEXT PRIMARY KEY,
    task_name  TEXT NOT NULL,
    value      BLOB NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL
);
CREATE INDEX IF NOT EXISTS cache_by_expiry ON cache (expires_at);
"""

_V2 = """
ALTER TABLE runs ADD COLUMN report TEXT;
ALTER TABLE tasks ADD COLUMN logs TEXT;
"""

_V3 = """
ALTER TABLE runs ADD COLUMN task_names BLOB;
CREATE TABLE IF NOT EXISTS task_log (
    run_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    entries BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
"""

_V4 = """
ALTER TABLE runs ADD COLUMN target TEXT;
ALTER TABLE runs ADD COLUMN trigger TEXT;
ALTER TABLE runs ADD COLUMN upstreams BLOB;
ALTER TABLE tasks ADD COLUMN attempt_log TEXT;
CREATE TABLE IF NOT EXISTS watch_sessions (
    session_id  TEXT PRIMARY KEY,
    app         TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  REAL NOT NULL,
    finished_at REAL,
    pid         INTEGER,
    host        TEXT,
    roots       TEXT NOT NULL DEFAULT '[]',
    handlers    TEXT NOT NULL DEFAULT '[]',
    stats       TEXT NOT NULL DEFAULT '{}',
    errors      TEXT NOT NULL DEFAULT '[]',
    last_events TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS watch_sessions_by_start ON watch_sessions (started_at);
"""

_V5 = """
ALTER TABLE runs ADD COLUMN pid_birth TEXT;
ALTER TABLE watch_sessions ADD COLUMN pid_birth TEXT;
"""

_V6 = """
CREATE TABLE IF NOT EXISTS run_processes (
    run_id     TEXT NOT NULL,
    token      TEXT NOT NULL,
    task       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    start_time INTEGER,
    tmp_dir    TEXT,
    PRIMARY KEY (run_id, token)
) WITHOUT ROWID;
"""


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        # executescript() would COMMIT the surrounding transaction; run statement by statement.
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return apply


#: ``MIGRATIONS[i]`` upgrades a store from version ``i`` to ``i + 1``.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _script(_V1),
    _script(_V2),
    _script(_V3),
    _script(_V4),
    _script(_V5),
    _script(_V6),
]
SCHEMA_VERSION = len(MIGRATIONS)

_OWN_TABLES = {"runs", "tasks", "cache", "task_log", "watch_sessions", "run_processes"}


def check(conn: sqlite3.Connection, path: object, target: int = SCHEMA_VERSION) -> int:
    """Refuse a file this code must not touch; returns its schema version (reads only).

    Raises:
        StoreError: The file was written by a newer ferroflow, or it is an
            SQLite database that belongs to something else.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > target:
        raise StoreError(
            f"store {path} has schema version {version}, newer than this ferroflow understands "
            f"({target}); upgrade ferroflow or use another store"
        )
    if version == 0:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        foreign = tables - _OWN_TABLES - {"schedules"}
        if foreign:
            raise StoreError(
                f"{path} is an SQLite database of something else (tables: {', '.join(sorted(foreign))}), "
                "not a ferroflow store; pass another store path"
            )
    return version


def migrate(conn: sqlite3.Connection, path: object, target: int = SCHEMA_VERSION) -> int:
    """Bring the open store up to ``target``; run inside a write transaction.

    Returns:
        The version the file had before.

    Raises:
        StoreError: As for :func:`check`.
    """
    version = check(conn, path, target)
    for step in range(version, target):
        MIGRATIONS[step](conn)
    if version != target:
        conn.execute(f"PRAGMA user_version = {int(target)}")
    return version
