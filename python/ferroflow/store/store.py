"""The run store: run history, task results, the result cache, resume.

One SQLite file (WAL, ``synchronous=FULL``) holds every run and its tasks, the
cache, and the tables other parts own (the scheduler's ``schedules``). Its
location, in order of precedence: the ``store=`` argument (a ``.db`` file, a
directory holding ``ferroflow.db``, a :class:`Store`, or ``None`` for no store
at all), then ``$FERROFLOW_HOME/ferroflow.db``, then
``./.ferroflow/ferroflow.db`` under the working directory. The schema and its
migrations are described in :mod:`ferroflow.store.schema`.

Several processes may use one store at once (a run here, the scheduler there,
the dashboard reading): writes are short ``BEGIN IMMEDIATE`` transactions,
retried while another process holds the lock, so "database is locked" never
reaches the user.

A run is recorded through the :class:`RunRecorder` that :meth:`Store.begin_run`
returns: the engine's calls only queue data, a writer thread commits it in
batches, each as soon as the previous commit is done (group commit), and
``finish()`` commits the rest (see
:mod:`ferroflow.store.recorder`). Whatever was committed before a crash, even a
``kill -9``, is intact and resumable.

Example:
    >>> import tempfile
    >>> store = open_store(tempfile.mkdtemp())
    >>> store.path.name
    'ferroflow.db'
    >>> store.cache_put("k", "task", {"x": 1}, ttl_seconds=60)
    >>> store.cache_get("k")
    (True, {'x': 1})
    >>> open_store(None) is None
    True
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import pickle
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import StoreError
from ..processes import same_process
from ..safetext import json_default
from .leftovers import RunProcess, forget_processes, reclaim_run, record_process
from .recorder import RunRecorder, decode_value, encode_value
from .records import (
    FINAL_STATUSES,
    HOST,
    RunDetail,
    RunSummary,
    TaskSummary,
    effective_status,
    logged_summary,
    own_birth,
    pending_summary,
    run_summary,
    task_summary,
)
from .schema import SCHEMA_VERSION, check, migrate
from .sqlite import SQLiteDB

if TYPE_CHECKING:
    from ..reports.models import PipelineReport

__all__ = [
    "DEFAULT_STORE",
    "SCHEMA_VERSION",
    "RunDetail",
    "RunRecorder",
    "RunSummary",
    "Store",
    "TaskSummary",
    "default_store_path",
    "open_store",
]

logger = logging.getLogger("ferroflow.store")

_RESUMABLE = ("failed", "cancelled", "interrupted")


class _DefaultStore:
    """The type of :data:`DEFAULT_STORE`."""

    def __repr__(self) -> str:
        return "DEFAULT_STORE"

    def __reduce__(self) -> str:
        # Pickles as a reference to the module attribute, so it stays a singleton in other processes.
        return "DEFAULT_STORE"


#: Sentinel for "the default location" (``$FERROFLOW_HOME`` or ``./.ferroflow``).
DEFAULT_STORE: Final = _DefaultStore()

_OPEN: dict[Path, Store] = {}
_OPEN_LOCK = threading.Lock()


def default_store_path() -> Path:
    """The default store file: ``$FERROFLOW_HOME/ferroflow.db`` or ``./.ferroflow/ferroflow.db``.

    Example:
        >>> default_store_path().name
        'ferroflow.db'
    """
    home = os.environ.get("FERROFLOW_HOME")
    if home:
        return Path(home).expanduser() / "ferroflow.db"
    return Path.cwd() / ".ferroflow" / "ferroflow.db"


def _store_file(spec: str | os.PathLike[str]) -> Path:
    path = Path(spec).expanduser()
    if path.suffix == ".db" or path.is_file():
        return path
    return path / "ferroflow.db"


def store_path(spec: object = DEFAULT_STORE) -> Path | None:
    """The database file ``spec`` names (see :func:`open_store`), without opening or creating it.

    Example:
        >>> store_path("/srv/runs").as_posix()
        '/srv/runs/ferroflow.db'
        >>> store_path(None) is None
        True
    """
    if spec is None:
        return None
    if isinstance(spec, Store):
        return spec.path
    if spec is DEFAULT_STORE:
        return default_store_path().resolve()
    if isinstance(spec, str | os.PathLike):
        return _store_file(spec).resolve()
    raise TypeError(f"store= takes a path, a Store, DEFAULT_STORE or None, not {type(spec).__name__}")


def open_store(spec: object = DEFAULT_STORE, *, readonly: bool = False) -> Store | None:
    """Open (or reuse) the store named by ``spec``.

    Args:
        spec: :data:`DEFAULT_STORE` for the default location; ``None`` for no
            store; a path ending in ``.db`` (or an existing file) for that
            file; any other path for a directory holding ``ferroflow.db``; a
            :class:`Store` for itself.
        readonly: The caller only reads (see :class:`Store`): a store whose
            file or folder cannot be written is opened read-only instead of
            refused. A store already open for writing in this process is
            shared.

    Returns:
        The store, shared by every caller in this process that names the same
        file, or ``None`` when ``spec`` is ``None``.

    Raises:
        StoreError: The file cannot be created or opened, is not a ferroflow
            store, or was written by a newer ferroflow.
        TypeError: ``spec`` is none of the above.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> open_store(d / "runs.db").path.name
        'runs.db'
        >>> open_store(d / "runs.db") is open_store(str(d / "runs.db"))
        True
    """
    if spec is None:
        return None
    if isinstance(spec, Store):
        return spec
    if spec is DEFAULT_STORE:
        path = default_store_path()
    elif isinstance(spec, str | os.PathLike):
        path = _store_file(spec)
    else:
        raise TypeError(f"store= takes a path, a Store, DEFAULT_STORE or None, not {type(spec).__name__}")
    path = path.resolve()
    with _OPEN_LOCK:
        store = _OPEN.get(path)
        if store is not None and not store.closed and path.exists() and (readonly or not store.readonly):
            return store
        store = Store(path, readonly=readonly)
        _OPEN[path] = store
        return store


def _writable(path: Path) -> bool:
    """Whether this process may write ``path`` and create files beside it."""
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


_RUN_COLUMNS = (
    "run_id, workflow, status, params, started_at, finished_at, resumed_from, pid, host, task_count, stats,"
    " target, trigger, pid_birth"
)


class Store:
    """A ferroflow store file; usually obtained through :func:`open_store`.

    Args:
        path: The SQLite file (created, with its directory, if missing).
        readonly: The caller only reads. Where the file or its folder cannot be
            written, the store is then opened through a read-only connection
            that leaves nothing beside the file (writes raise ``StoreError``);
            where they can, it opens as usual. Without ``readonly``, a file
            that cannot be written is refused at once, before anything is
            created beside it.

    Raises:
        StoreError: As for :func:`open_store`; also a read-only store whose
            schema is older than this ferroflow's (upgrading it needs writing).

    Example:
        >>> import tempfile, pathlib
        >>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "ferroflow.db")
        >>> store.list_runs()
        []
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path).absolute()
        if self.path.is_dir():
            raise StoreError(f"cannot open store {self.path}: it is a directory; pass the directory itself to store=")
        self._version = -1
        if readonly and not _writable(self.path):
            self._open_readonly()
            return
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise StoreError(
                f"cannot open store {self.path} for writing: the file is read-only; make it writable or pass "
                "another store path (`ferroflow runs` and `ferroflow report show` can still read it)"
            )
        self._db = SQLiteDB(self.path, synchronous="FULL", probe=self._probe)
        self._db.on_first_write = self._register_writer
        self._db.connection()  # opens the file, refusing it untouched if it is not ours
        if self._version < SCHEMA_VERSION:  # new or older file: create / migrate, then drop expired cache
            self._db.run_write(self._init, action="initialise")
        self._check_after_unclean_close()

    # ------------------------------------------------------------ clean close and integrity

    def _register_writer(self, conn: sqlite3.Connection) -> None:
        """In this process's first write: note it as a writer until it closes the store."""
        conn.execute(
            "INSERT OR REPLACE INTO store_writers (host, pid, birth, opened_at) VALUES (?, ?, ?, ?)",
            (HOST, os.getpid(), own_birth(), time.time()),
        )
        atexit.register(self._unregister_writer, os.getpid())

    def _unregister_writer(self, pid: int | None = None) -> None:
        """A clean close: this process's writer row goes (kept when the store is damaged)."""
        if (pid is not None and pid != os.getpid()) or self._db._wrote_in != os.getpid() or self._db._closed:
            return
        if self._db.damaged is not None:
            return
        try:
            self._db.run_write(
                lambda conn: conn.execute("DELETE FROM store_writers WHERE host = ? AND pid = ?", (HOST, os.getpid())),
                action="close",
            )
        except StoreError as exc:
            logger.warning("%s", exc)
        self._db._wrote_in = None

    def _check_after_unclean_close(self) -> None:
        """If a writer died without closing the store, check the file; a damaged one takes no more writes.

        A clean close leaves no row in ``store_writers``, so this costs one small
        query; ``PRAGMA quick_check``, which reads the whole file, runs only
        after a writer was killed (or crashed) with the store open.
        """
        try:
            rows = self._db.query("SELECT host, pid, birth FROM store_writers")
        except StoreError as exc:
            if self._db.damaged is None:
                self._db.mark_damaged(str(exc))
            logger.error("%s", self._db.damaged)
            return
        me = os.getpid()
        gone = [
            (host, pid)
            for host, pid, birth in rows
            if host == HOST and ((pid == me and birth != own_birth()) or (pid != me and not same_process(pid, birth)))
        ]
        if not gone:
            return
        logger.info("a writer of store %s did not close it; checking its integrity", self.path)
        try:
            problems = [str(r[0]) for r in self._db.query("PRAGMA quick_check")]
        except StoreError as exc:
            problems = [str(exc.__cause__ or exc)]
        if problems != ["ok"]:
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            self._db.mark_damaged(f"integrity check after a writer did not close it: {shown}")
            logger.error("%s", self._db.damaged)
            return
        self._db.run_write(
            lambda conn: conn.executemany("DELETE FROM store_writers WHERE host = ? AND pid = ?", gone),
            action="check",
        )

    @property
    def damaged(self) -> str | None:
        """Why the store takes no more writes (damaged file), or ``None``."""
        return self._db.damaged

    def _open_readonly(self) -> None:
        if not self.path.exists():
            raise StoreError(f"no store at {self.path}")
        self._db = SQLiteDB(self.path, readonly=True, probe=self._probe)
        self._db.connection()
        if self._version < SCHEMA_VERSION:
            self._db.close()
            raise StoreError(
                f"store {self.path} has schema version {self._version}, older than this ferroflow's "
                f"({SCHEMA_VERSION}), and it is read-only here: upgrading it needs write access; run any "
                "ferroflow command once where it can be written"
            )

    @property
    def readonly(self) -> bool:
        """Whether the store was opened through a read-only connection (every write raises ``StoreError``)."""
        return self._db.readonly

    def _probe(self, conn: sqlite3.Connection) -> None:
        self._version = check(conn, self.path)

    def _init(self, conn: sqlite3.Connection) -> None:
        migrate(conn, self.path)
        conn.execute("DELETE FROM cache WHERE expires_at IS NOT NULL AND expires_at < ?", (time.time(),))

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._db._closed

    @property
    def schema_version(self) -> int:
        """The schema version of the file (always the current one once opened)."""
        return int(self._db.query("PRAGMA user_version")[0][0])

    def close(self) -> None:
        """Close this process's connections; :func:`open_store` then opens a fresh one."""
        if not self.readonly:
            self._unregister_writer()
        self._db.close()

    # ------------------------------------------------------------ raw access

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE``) for this module's or another's tables.

        Waiting for the write lock is retried while other processes write;
        commit on success, roll back on an exception.

        Example:
            >>> import tempfile
            >>> store = open_store(tempfile.mkdtemp())
            >>> with store.transaction() as conn:
            ...     _ = conn.execute("CREATE TABLE IF NOT EXISTS notes (text TEXT)")
            ...     _ = conn.execute("INSERT INTO notes VALUES ('hi')")
            >>> with store.read() as conn:
            ...     conn.execute("SELECT text FROM notes").fetchall()
            [('hi',)]
        """
        return self._db.transaction()

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """This thread's connection, for queries (SQLite errors become ``StoreError``)."""
        return self._db.read()

    # ------------------------------------------------------------ recording

    def begin_run(
        self,
        *,
        run_id: str,
        workflow: str,
        params: dict[str, Any],
        task_names: list[str],
        resumed_from: str | None = None,
        target: str | None = None,
        trigger: dict[str, Any] | None = None,
        upstreams: Sequence[Sequence[int]] | None = None,
    ) -> RunRecorder:
        """Record the start of a run and return its recorder.

        ``upstreams[i]`` lists the indexes (in ``task_names``) of task ``i``'s upstream
        tasks: the run's graph, which the dashboard draws. ``trigger`` says how the run
        was started (:class:`ferroflow.trigger.Trigger`), ``target`` what can run it again.

        Raises:
            StoreError: The run id exists already, or the store cannot be written.
        """
        params_json = json.dumps(params, default=json_default)
        names_blob = pickle.dumps(list(task_names), protocol=4)
        graph_blob = None if upstreams is None else pickle.dumps(upstreams, protocol=4)
        trigger_json = None if trigger is None else json.dumps(trigger, default=str)
        birth = own_birth()

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO runs (run_id, workflow, status, params, started_at, resumed_from, pid, pid_birth, host,"
                " task_count, task_names, target, trigger, upstreams)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    workflow,
                    params_json,
                    time.time(),
                    resumed_from,
                    os.getpid(),
                    birth,
                    HOST,
                    len(task_names),
                    names_blob,
                    target,
                    trigger_json,
                    graph_blob,
                ),
            )

        try:
            self._db.run_write(insert, action=f"record run {run_id} in")
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise StoreError(f"run id {run_id!r} already exists in store {self.path}") from exc
            raise
        return RunRecorder(self._db, run_id, workflow, len(task_names))

    def record_process(self, run_id: str, task: str, process: RunProcess) -> None:
        """Record a script process a run started (see :mod:`ferroflow.store.leftovers`)."""
        record_process(self._db, run_id, task, process)

    def forget_processes(self, run_id: str) -> None:
        """``run_id`` has ended, every tree it started stopped: forget its processes."""
        forget_processes(self._db, run_id)

    def reclaim_run(self, run_id: str, grace: float = 3.0) -> list[str]:
        """Stop what a dead run left running and remove its ``TMP_DIR``; what was done, one line each.

        Does nothing while the run's own process still runs, or when it ran on another host.
        """
        return reclaim_run(self._db, run_id, grace=grace)

    # ------------------------------------------------------------ resume

    def _resolve_run(self, run_id: str) -> sqlite3.Row:
        rows = self._db.query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        if not rows and len(run_id) >= 4:
            rows = self._db.query(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id LIKE ? ESCAPE '\\' LIMIT 2",
                (run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
            )
            if len(rows) > 1:
                raise StoreError(f"run id prefix {run_id!r} is ambiguous in store {self.path}; give more characters")
        if not rows:
            raise StoreError(f"no run {run_id!r} in store {self.path}; `ferroflow runs` lists the recorded runs")
        return rows[0]

    def resume_results(self, resume: str | bool, workflow: str) -> tuple[str, dict[str, Any]]:
        """The results of the tasks that completed in the run being resumed.

        Args:
            resume: A run id (or a unique prefix of one), or ``True`` for the
                latest failed, cancelled or interrupted run of ``workflow``.
            workflow: The workflow being run now.

        Returns:
            ``(run id, {task name: result})``.

        Raises:
            StoreError: No such run, the run belongs to another workflow, or
                there is nothing to resume.
        """
        if resume is True:
            row = self._last_resumable(workflow)
        elif isinstance(resume, str) and resume:
            row = self._resolve_run(resume)
            if row["workflow"] != workflow:
                raise StoreError(
                    f"run {row['run_id']!r} in store {self.path} belongs to workflow {row['workflow']!r},"
                    f" not {workflow!r}; resume a run of {workflow!r}"
                )
        else:
            raise StoreError(f"resume= takes a run id or True, not {resume!r}")
        run_id: str = row["run_id"]
        for line in self.reclaim_run(run_id):
            logger.warning("resuming run %s: %s", run_id, line)
        blobs = {
            r["name"]: r["result"]
            for r in self._db.query(
                "SELECT name, result FROM tasks WHERE run_id = ? AND status = 'completed' AND has_result = 1",
                (run_id,),
            )
        }
        results: dict[str, Any] = {}
        for task in self._task_summaries(run_id):
            if task.status != "completed" or not task.has_result:
                continue
            if task.name not in blobs:  # logged compactly: completed, result None
                results[task.name] = None
                continue
            try:
                results[task.name] = decode_value(blobs[task.name])
            except Exception as exc:  # noqa: BLE001 - e.g. the result's class is gone; the task runs again
                logger.warning(
                    "result of task %r in run %s cannot be loaded (%s); it runs again", task.name, run_id, exc
                )
        return run_id, results

    def _task_summaries(self, run_id: str) -> list[TaskSummary]:
        """Every task of a run: its final ``tasks`` row, else its last ``task_log`` entry, in workflow order."""
        last_logged: dict[str, tuple[Any, ...]] = {}
        for (entries,) in self._db.query("SELECT entries FROM task_log WHERE run_id = ? ORDER BY seq", (run_id,)):
            last_logged.update((entry[0], entry) for entry in pickle.loads(entries))
        merged = {name: logged_summary(entry) for name, entry in last_logged.items()}
        for row in self._db.query(
            "SELECT name, status, attempts, started_at, finished_at, error, traceback, reason, has_result,"
            " result_json, cached, resumed, logs, attempt_log FROM tasks WHERE run_id = ?",
            (run_id,),
        ):
            logged = merged.get(row["name"])
            if logged is None or row["status"] in FINAL_STATUSES or logged.status not in FINAL_STATUSES:
                merged[row["name"]] = task_summary(row)
        names = self._db.query("SELECT task_names FROM runs WHERE run_id = ?", (run_id,))
        order = {name: i for i, name in enumerate(pickle.loads(names[0][0]))} if names and names[0][0] else {}
        last = len(order)
        return sorted(merged.values(), key=lambda t: (order.get(t.name, last), t.started_at or 0.0, t.name))

    def _result(self, run_id: str, task_name: str) -> Any:
        rows = self._db.query("SELECT has_result, result FROM tasks WHERE run_id = ? AND name = ?", (run_id, task_name))
        if rows:
            if not rows[0]["has_result"]:
                raise KeyError(task_name)
            return decode_value(rows[0]["result"])
        for task in self._task_summaries(run_id):
            if task.name == task_name and task.status == "completed":
                return None  # logged compactly: completed with a None result
        raise KeyError(task_name)

    def _last_resumable(self, workflow: str) -> sqlite3.Row:
        for row in self._iter_runs(workflow):
            if effective_status(row) in _RESUMABLE:
                return row
        raise StoreError(
            f"no failed, cancelled or interrupted run of workflow {workflow!r} to resume in store {self.path}"
        )

    def _iter_runs(self, workflow: str | None, batch: int = 200) -> Iterator[sqlite3.Row]:
        offset = 0
        where, args = ("WHERE workflow = ?", (workflow,)) if workflow is not None else ("", ())
        while True:
            rows = self._db.query(
                f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
                (*args, batch, offset),
            )
            yield from rows
            if len(rows) < batch:
                return
            offset += batch

    # ------------------------------------------------------------ cache

    def cache_get(self, key: str) -> tuple[bool, Any]:
        """Look up a cached result: ``(True, value)`` on a hit, ``(False, None)`` on a miss or when expired.

        Example:
            >>> import tempfile
            >>> open_store(tempfile.mkdtemp()).cache_get("nope")
            (False, None)
        """
        rows = self._db.query("SELECT value, expires_at FROM cache WHERE key = ?", (key,))
        if not rows:
            return False, None
        blob, expires_at = rows[0]
        if expires_at is not None and expires_at <= time.time():
            return False, None
        try:
            return True, decode_value(blob)
        except Exception as exc:  # noqa: BLE001 - e.g. the value's class is gone; treat as a miss
            logger.warning("cached value %s cannot be loaded (%s); recomputing", key, exc)
            return False, None

    def cache_put(self, key: str, task_name: str, value: Any, ttl_seconds: float | None) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds`` (``None``: until removed).

        A value that cannot be pickled is not cached (logged, not raised).
        """
        blob = encode_value(value)
        if blob is None:
            logger.warning("result of task %r cannot be pickled; it is not cached", task_name)
            return
        now = time.time()
        expires = None if ttl_seconds is None else now + float(ttl_seconds)

        def put(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO cache (key, task_name, value, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (key, task_name, blob, now, expires),
            )
            # Expired entries are never served; drop them as we go (an index range scan).
            conn.execute("DELETE FROM cache WHERE expires_at IS NOT NULL AND expires_at < ?", (now,))

        self._db.run_write(put, action="write the cache of")

    def cache_clear(self, task_name: str | None = None, *, expired_only: bool = False) -> int:
        """Remove cache entries (of one task, or only the expired ones); returns how many.

        Example:
            >>> import tempfile
            >>> store = open_store(tempfile.mkdtemp())
            >>> store.cache_put("k", "t", 1, ttl_seconds=None)
            >>> store.cache_clear("t")
            1
        """
        clauses: list[str] = []
        args: list[object] = []
        if task_name is not None:
            clauses.append("task_name = ?")
            args.append(task_name)
        if expired_only:
            clauses.append("expires_at IS NOT NULL AND expires_at <= ?")
            args.append(time.time())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""

        def delete(conn: sqlite3.Connection) -> int:
            count: int = conn.execute(f"DELETE FROM cache {where}", args).rowcount
            return count

        return self._db.run_write(delete, action="clear the cache of")

    # ------------------------------------------------------------ queries

    def list_runs(self, workflow: str | None = None, limit: int = 50) -> list[RunSummary]:
        """The latest runs, newest first (of one workflow, if given)."""
        where, args = ("WHERE workflow = ?", (workflow,)) if workflow is not None else ("", ())
        rows = self._db.query(
            f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY started_at DESC, rowid DESC LIMIT ?", (*args, limit)
        )
        return [run_summary(r) for r in rows]

    def page_runs(
        self,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> tuple[int, list[RunSummary]]:
        """``(total, runs)``: one page of the history, newest first, filtered by workflow,
        status and start time (``since <= started_at < until``, epoch seconds).

        ``running`` and ``interrupted`` are told apart by whether the run's
        process is alive, so under those two filters a page may hold fewer rows.
        """
        where: list[str] = []
        args: list[Any] = []
        if workflow is not None:
            where.append("workflow = ?")
            args.append(workflow)
        if status is not None:
            where.append("status = ?")
            args.append("running" if status == "interrupted" else status)
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        if until is not None:
            where.append("started_at < ?")
            args.append(until)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        total = int(self._db.query(f"SELECT count(*) FROM runs {clause}", tuple(args))[0][0])
        rows = self._db.query(
            f"SELECT {_RUN_COLUMNS} FROM runs {clause} ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        runs = [run_summary(r) for r in rows]
        if status is not None:
            runs = [r for r in runs if r.status == status]
        return total, runs

    def get_run(self, run_id: str, *, every_task: bool = False) -> RunDetail:
        """A run and its task rows.

        With ``every_task``, tasks that have not started yet are listed too (status
        ``pending``) and ``upstreams`` holds the run's graph (task -> its upstream tasks).

        Raises:
            StoreError: No run has this id (or unique id prefix).
        """
        row = self._resolve_run(run_id)
        tasks = self._task_summaries(row["run_id"])
        if not every_task:
            return RunDetail(run=run_summary(row), tasks=tasks)
        stored = self._db.query("SELECT task_names, upstreams FROM runs WHERE run_id = ?", (row["run_id"],))
        names: list[str] = pickle.loads(stored[0][0]) if stored and stored[0][0] else []
        ups: list[Sequence[int]] = pickle.loads(stored[0][1]) if stored and stored[0][1] else []
        known = {t.name: t for t in tasks}
        every = [known.pop(name) if name in known else pending_summary(name) for name in names]
        every.extend(known.values())
        graph = {name: [names[j] for j in ups[i]] for i, name in enumerate(names) if i < len(ups) and ups[i]}
        return RunDetail(run=run_summary(row), tasks=every, upstreams=graph)

    def get_run_summary(self, run_id: str) -> RunSummary:
        """A run without its task rows (cheap for big runs).

        Raises:
            StoreError: No run has this id (or unique id prefix).
        """
        return run_summary(self._resolve_run(run_id))

    def run_version(self, run_id: str) -> tuple[str, tuple[Any, ...]]:
        """The run's full id and a value that changes whenever its record or a task record of it does.

        Cheap for big runs (aggregates over the run's rows, none of them loaded): what
        a reader that keeps a run's view checks before building it again.

        Raises:
            StoreError: No run has this id (or unique id prefix).
        """
        row = self._resolve_run(run_id)
        full = row["run_id"]
        logged = self._db.query("SELECT count(*), max(seq) FROM task_log WHERE run_id = ?", (full,))[0]
        rows = self._db.query(
            "SELECT count(*), total(attempts), total(started_at), total(finished_at), total(length(status))"
            " FROM tasks WHERE run_id = ?",
            (full,),
        )[0]
        return full, (effective_status(row), row["finished_at"], *logged, *rows)

    def load_result(self, run_id: str, task_name: str) -> Any:
        """The stored result of one task.

        Raises:
            StoreError: The run or task is unknown, or it has no stored result.
        """
        row = self._resolve_run(run_id)
        try:
            return self._result(row["run_id"], task_name)
        except KeyError:
            raise StoreError(
                f"run {row['run_id']!r} in store {self.path} has no stored result for task {task_name!r}"
            ) from None

    def get_report(self, run_id: str) -> PipelineReport | None:
        """The run's report; ``None`` if no run has this id.

        A run that is still going (or was interrupted) has no stored report yet;
        one is built from its task rows.

        Raises:
            StoreError: The stored report does not validate.
        """
        from ..reports.models import PipelineReport
        from .run_report import report_from_rows

        try:
            row = self._resolve_run(run_id)
        except StoreError:
            return None
        stored = self._db.query("SELECT report FROM runs WHERE run_id = ?", (row["run_id"],))
        text = stored[0][0] if stored else None
        if text:
            try:
                return PipelineReport.model_validate_json(text)
            except ValueError as exc:
                raise StoreError(f"the report of run {row['run_id']!r} in store {self.path} is invalid: {exc}") from exc
        detail = self.get_run(row["run_id"])
        return report_from_rows(detail)

    def last_run_id(self, workflow: str | None = None, status: str | None = None) -> str | None:
        """The id of the latest run (of a workflow, with a status such as ``"failed"`` or ``"interrupted"``)."""
        for row in self._iter_runs(workflow):
            if status is None or effective_status(row) == status:
                run_id: str = row["run_id"]
                return run_id
        return None

    def delete_run(self, run_id: str) -> bool:
        """Remove a run and its tasks; ``False`` if there was none."""

        def delete(conn: sqlite3.Connection) -> int:
            conn.execute("DELETE FROM tasks WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM task_log WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM run_processes WHERE run_id = ?", (run_id,))
            count: int = conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,)).rowcount
            return count

        return bool(self._db.run_write(delete, action=f"delete run {run_id} from"))

    def prune_runs(
        self,
        *,
        keep_last: int | None = None,
        older_than_seconds: float | None = None,
        workflow: str | None = None,
    ) -> int:
        """Remove old finished runs (with their tasks); runs still going are kept.

        Args:
            keep_last: Keep this many most recent runs (per workflow when
                ``workflow`` is given, else overall).
            older_than_seconds: Only remove runs that started longer ago than this.
            workflow: Only consider runs of this workflow.

        Returns:
            How many runs were removed.

        Example:
            >>> import tempfile
            >>> store = open_store(tempfile.mkdtemp())
            >>> for i in range(3):
            ...     store.begin_run(run_id=f"r{i}", workflow="wf", params={}, task_names=[]).abandon()
            >>> store.prune_runs(keep_last=1)
            2
        """
        if keep_last is None and older_than_seconds is None:
            raise ValueError("prune_runs needs keep_last and/or older_than_seconds")
        cutoff = time.time() - older_than_seconds if older_than_seconds is not None else None
        doomed: list[str] = []
        for index, row in enumerate(self._iter_runs(workflow)):
            if keep_last is not None and index < keep_last:
                continue
            if cutoff is not None and row["started_at"] >= cutoff:
                continue
            if effective_status(row) == "running":
                continue
            doomed.append(row["run_id"])

        def delete(conn: sqlite3.Connection) -> None:
            for table in ("tasks", "task_log", "run_processes", "runs"):
                conn.executemany(f"DELETE FROM {table} WHERE run_id = ?", [(r,) for r in doomed])

        if doomed:
            self._db.run_write(delete, action="prune runs in")
        return len(doomed)
