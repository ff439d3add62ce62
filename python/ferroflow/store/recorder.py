"""Recording one run into the store without slowing it down.

The hot path only appends to a deque (no lock, no I/O): ``task_started`` a
``(name, at)`` mark; ``task_completed`` -- and ``task_finished`` for a record
that says no more than that -- a ``(name, started_at, finished_at)`` entry for a
task that completed on its first attempt with a ``None`` result; any other
record goes to a second deque. A background writer commits what arrived as one
transaction (group commit): as soon as the previous commit is done, whatever
finished meanwhile goes into the next one, and the writer sleeps only while
nothing is queued (a finished task wakes it; start marks alone wait at most
``FLUSH_INTERVAL_S``). The compact entries go as one pickled list (one
``task_log`` row per batch, however many tasks), the others as full ``tasks``
rows. ``finish()`` stops the writer and commits the rest with the run's final
status.

A crash (even ``kill -9``) loses only the tasks that finished during the
commit in progress, and never a committed batch. The writer's batches are
committed with ``synchronous=NORMAL`` (WAL): a commit survives the death of the
process at once, without waiting for the disk; the run's final commit is
``synchronous=FULL`` and so makes every batch before it safe from a power loss
too (docs/guide/store.md, "Durability").
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import pickle
import threading
import time
import weakref
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..results import NOT_GATHERED, RunResult, TaskRecord, TaskStatus, error_text
from ..safetext import json_default
from .records import ACTIVE_RUNS

if TYPE_CHECKING:
    from .sqlite import SQLiteDB

__all__ = ["FLUSH_INTERVAL_S", "RunRecorder", "decode_value", "encode_value", "json_view"]

logger = logging.getLogger("ferroflow.store")

#: Start marks alone (no task finished) are committed at least this often (seconds).
FLUSH_INTERVAL_S = 0.1
#: ``synchronous`` of the writer thread's connection (see the module docstring).
_BATCH_SYNCHRONOUS = "NORMAL"
#: JSON views longer than this are not stored (the pickled result still is).
_JSON_VIEW_LIMIT = 1 << 20
_NONE_PICKLE = pickle.dumps(None, protocol=pickle.HIGHEST_PROTOCOL)
_SCALARS = (bool, int, float, str)

_TASK_UPSERT = (
    "INSERT OR REPLACE INTO tasks (run_id, name, status, attempts, started_at, finished_at, error, traceback,"
    " reason, has_result, result, result_json, cached, resumed, logs, attempt_log)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_LOG_INSERT = "INSERT INTO task_log (run_id, seq, entries) VALUES (?, ?, ?)"
_LOG_PROTOCOL = 4  # a plain list of tuples of str / float
_COMPLETED = TaskStatus.COMPLETED
_NEVER = object()  # a sentinel no queue entry equals


_LIVE: weakref.WeakSet[RunRecorder] = weakref.WeakSet()


def encode_value(value: Any) -> bytes | None:
    """Pickle ``value`` (cloudpickle as a fallback); ``None`` when it cannot be pickled."""
    if value is None:
        return _NONE_PICKLE
    with contextlib.suppress(Exception):  # any object's __reduce__ may raise anything
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        import cloudpickle

        blob: bytes = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - unpicklable results are simply not stored
        return None
    return blob


def decode_value(blob: bytes) -> Any:
    """Unpickle a stored value (``pickle.loads`` also reads cloudpickle output)."""
    if blob == _NONE_PICKLE:
        return None
    return pickle.loads(blob)


def json_view(value: Any) -> str | None:
    """A JSON rendering of ``value`` for humans and the dashboard, if it has one."""
    if value is None:
        return "null"
    if type(value) in _SCALARS:
        if isinstance(value, float) and not math.isfinite(value):  # NaN / inf are not JSON
            return None
        return json.dumps(value)
    try:
        text = json.dumps(value, allow_nan=False)
    except Exception:  # noqa: BLE001 - any value's encoding may raise anything; no JSON view then
        return None
    return text if len(text) <= _JSON_VIEW_LIMIT else None


def task_row(run_id: str, record: TaskRecord) -> tuple[Any, ...]:
    """The ``tasks`` row of a record."""
    status = record.status
    result = record.result
    if status is _COMPLETED:
        if result is None:  # the common case of small tasks: no pickling, no JSON
            blob: bytes | None = _NONE_PICKLE
            json_text: str | None = "null"
        elif result is NOT_GATHERED:  # left on a cluster (DaskExecutor(gather="sinks")): no result
            blob = json_text = None
        else:
            blob = encode_value(result)
            json_text = json_view(result)
            if blob is None:
                logger.warning("result of task %r in run %s cannot be pickled; it is not stored", record.name, run_id)
        has_result = blob is not None
    else:
        blob = json_text = None
        has_result = False
    if record.error is None and record.traceback is None:
        error = trace = None
    else:
        error, trace = error_text(record)
    return (
        run_id,
        record.name,
        status.value,
        record.attempts,
        record.started_at,
        record.finished_at,
        error,
        trace,
        record.reason,
        has_result,
        blob,
        json_text,
        record.cached,
        record.resumed,
        json.dumps(record.logs) if record.logs else None,
        json.dumps([a.to_json() for a in record.failed_attempts]) if record.failed_attempts else None,
    )


class RunRecorder:
    """Records the tasks of one run; made by :meth:`ferroflow.store.Store.begin_run`.

    All methods are thread-safe. ``task_started``, ``task_completed`` and
    ``task_finished`` never block: they hand the data to the writer thread,
    which commits it as soon as its previous commit is done.

    Example:
        >>> import tempfile
        >>> from ferroflow.store import open_store
        >>> from ferroflow.results import RunResult, TaskRecord, TaskStatus
        >>> store = open_store(tempfile.mkdtemp())
        >>> rec = store.begin_run(run_id="r1", workflow="wf", params={}, task_names=["a", "b"])
        >>> rec.task_finished(TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=42))
        >>> rec.task_completed("b", 1.0, 1.5)
        >>> rec.finish(RunResult("r1", "wf", {"a": 42, "b": None}, status="completed", stats={}))
        >>> [(t.name, t.result_json) for t in store.get_run("r1").tasks]
        [('a', '42'), ('b', 'null')]
    """

    def __init__(self, db: SQLiteDB, run_id: str, workflow: str, task_count: int = 0) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self._db = db
        self._task_count = task_count
        self._log: deque[tuple[Any, ...]] = deque()
        self._records: deque[TaskRecord | tuple[Any, ...]] = deque()
        self._unsaved_log: list[tuple[Any, ...]] = []
        self._unsaved_rows: dict[str, tuple[Any, ...]] = {}
        self._seq = 0
        self._done = 0  # tasks recorded as final so far (queued or written)
        self._wake = threading.Event()
        self._stopping = False
        self._finished = False
        self._lock = threading.Lock()  # one flush at a time
        self._error: StoreError | None = None
        ACTIVE_RUNS.add(run_id)
        _LIVE.add(self)
        self._thread = threading.Thread(target=self._loop, name=f"ferroflow-store-{run_id[:8]}", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- hot path

    def task_started(self, name: str, at: float) -> None:
        """Note that ``name`` started at epoch second ``at`` (non-blocking)."""
        self._log.append((name, at))

    def task_completed(self, name: str, started_at: float, finished_at: float, result: Any = None) -> None:
        """Shortcut of ``task_finished`` for a task that completed on its first attempt.

        Same effect as ``task_finished(TaskRecord(name, COMPLETED, 1,
        started_at, finished_at, result))`` without building the record: the
        cheapest way to record the many small tasks of a big run (non-blocking).
        """
        if result is None:
            self._log.append((name, started_at, finished_at))
        else:
            self._records.append((name, started_at, finished_at, result))
        if not self._wake.is_set():  # the writer is asleep: wake it
            self._wake.set()

    def task_finished(self, record: TaskRecord) -> None:
        """Queue the final record of a task (non-blocking); committed by the next group commit."""
        if (
            record.result is None
            and record.status is _COMPLETED
            and record.attempts == 1
            and record.error is None
            and not record.logs
            and record.reason is None
            and record.traceback is None
            and not record.cached
            and not record.resumed
        ):
            self._log.append((record.name, record.started_at, record.finished_at))
        else:
            self._records.append(record)
        if not self._wake.is_set():  # the writer is asleep: wake it
            self._wake.set()

    # ---------------------------------------------------------------- writer

    def _loop(self) -> None:
        wake, log, records = self._wake, self._log, self._records
        try:
            with contextlib.suppress(StoreError):  # the batches are still committed, only synchronously
                self._db.set_synchronous(_BATCH_SYNCHRONOUS)
            while not self._stopping:
                if not log and not records:
                    # Clear first, then look again: a producer that appended after the look sees the
                    # flag down and sets it, so no finished task waits for the timeout.
                    wake.clear()
                    if not log and not records:
                        wake.wait(FLUSH_INTERVAL_S)
                    if self._stopping:
                        break
                self.flush()
                if self._error is not None:  # the store refused the batch: do not spin on it
                    wake.clear()
                    wake.wait(FLUSH_INTERVAL_S)
        finally:
            self._db.release()  # one connection per writer thread: do not leave it open

    def _drain(self) -> tuple[list[tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
        log, self._unsaved_log = self._unsaved_log, []
        rows, self._unsaved_rows = self._unsaved_rows, {}
        # iter(popleft, sentinel) pops at C speed; islice stops at what was there when we looked.
        new = list(islice(iter(self._log.popleft, _NEVER), len(self._log)))
        # Entries are 2-tuples (started) or 3-tuples (completed): count the latter at C speed.
        self._done += sum(map(len, new)) - 2 * len(new)
        log.extend(new)
        records, run_id = self._records, self.run_id
        for _ in range(len(records)):
            item = records.popleft()
            if type(item) is tuple:
                name, t0, t1, value = item
                item = TaskRecord(name, _COMPLETED, 1, t0, t1, value)
            assert isinstance(item, TaskRecord)
            if item.name not in rows and item.status.is_final:
                self._done += 1
            rows[item.name] = task_row(run_id, item)
        return log, rows

    def _write(self, conn: Any, log: list[tuple[Any, ...]], rows: dict[str, tuple[Any, ...]]) -> None:
        if log:
            conn.execute(_LOG_INSERT, (self.run_id, self._seq + 1, pickle.dumps(log, protocol=_LOG_PROTOCOL)))
        if rows:
            conn.executemany(_TASK_UPSERT, list(rows.values()))

    def _keep_unsaved(self, log: list[tuple[Any, ...]], rows: dict[str, tuple[Any, ...]]) -> None:
        # Older than whatever arrived since: they go first, and newer rows win.
        self._unsaved_log[:0] = log
        for name, row in rows.items():
            self._unsaved_rows.setdefault(name, row)

    def flush(self) -> None:
        """Commit what has been queued so far (the writer does this continuously)."""
        with self._lock:
            log, rows = self._drain()
            if not log and not rows:
                return
            try:
                self._db.run_write(lambda conn: self._write(conn, log, rows), action="record tasks in")
            except StoreError as exc:
                # Keep the data: the next flush (or finish) tries again, e.g. once disk space is back.
                self._error = exc
                self._keep_unsaved(log, rows)
                logger.error("%s", exc)
            else:
                self._seq += 1
                self._error = None

    def _stop_writer(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    # ---------------------------------------------------------------- end

    def finish(self, result: RunResult) -> None:
        """Commit the remaining tasks and the run's final status, times and stats.

        Tasks in ``result.records`` that were never recorded are written too
        (checked only when fewer tasks were recorded than the run has). The
        run report is not serialized here (for many small tasks that would
        cost more than the run): the task records hold everything it shows and
        :meth:`Store.get_report` rebuilds it from them. A report that was
        already built, and possibly edited, when ``finish`` is called is stored
        as it is. A result without a report gets one, built when
        ``result.report`` is first read.

        Raises:
            StoreError: The store could not be written (disk full, read-only,
                ...); what was committed before stays intact.
        """
        if self._finished:
            return
        self._finished = True
        self._stop_writer()
        report = _materialized_report(result)
        report_json = report.model_dump_json(fallback=json_default) if hasattr(report, "model_dump_json") else None
        with self._lock:
            log, rows = self._drain()
            self._add_missing(result, log, rows)
            finished_at = result.finished_at if result.finished_at is not None else time.time()
            stats = json.dumps(result.stats, default=json_default)

            def write(conn: Any) -> None:
                self._write(conn, log, rows)
                conn.execute(
                    "UPDATE runs SET status = ?, started_at = coalesce(?, started_at), finished_at = ?, stats = ?,"
                    " report = ? WHERE run_id = ?",
                    (result.status, result.started_at, finished_at, stats, report_json, self.run_id),
                )

            try:
                self._db.run_write(write, action=f"record the end of run {self.run_id} in")
            finally:
                ACTIVE_RUNS.discard(self.run_id)
                _LIVE.discard(self)

    def _add_missing(self, result: RunResult, log: list[tuple[Any, ...]], rows: dict[str, tuple[Any, ...]]) -> None:
        """Write the records of ``result`` the engine never passed to us."""
        if self._done >= self._task_count > 0:
            return
        recorded = {e[0] for e in log if len(e) == 3} | {n for n, r in rows.items() if r[2] != "running"}
        recorded |= self._recorded_before()
        for name, record in result.records.items():
            if name not in recorded:
                rows[name] = task_row(self.run_id, record)

    def _recorded_before(self) -> set[str]:
        names: set[str] = set()
        for (blob,) in self._db.query("SELECT entries FROM task_log WHERE run_id = ?", (self.run_id,)):
            names.update(e[0] for e in pickle.loads(blob) if len(e) == 3)
        for row in self._db.query("SELECT name FROM tasks WHERE run_id = ? AND status != 'running'", (self.run_id,)):
            names.add(row[0])
        return names

    def abandon(self) -> None:
        """Commit what was queued and stop, leaving the run marked as not finished."""
        if self._finished:
            return
        self._finished = True
        self._stop_writer()
        try:
            self.flush()
        finally:
            ACTIVE_RUNS.discard(self.run_id)
            _LIVE.discard(self)


def _materialized_report(result: RunResult) -> Any:
    """The report if it exists already; otherwise arrange for it to be built on first read."""
    built = getattr(result, "_report", None)
    if built is not None:
        return built
    if getattr(result, "_report_builder", None) is None and hasattr(result, "set_report_builder"):
        from .run_report import build_run_report

        result.set_report_builder(lambda: build_run_report(result))
    return None


@atexit.register
def _flush_live_recorders() -> None:  # pragma: no cover - runs at interpreter exit
    for recorder in list(_LIVE):
        try:
            recorder.abandon()
        except Exception as exc:  # noqa: BLE001 - keep saving the other runs
            logger.error("could not save run %s at exit: %s", recorder.run_id, exc)
