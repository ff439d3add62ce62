"""Recording one run into the store without slowing it down.

``RunRecorder.task_started`` / ``task_finished`` only append to a deque (a few
hundred nanoseconds, no lock, no I/O). A background writer thread wakes every
``FLUSH_INTERVAL_S``, coalesces what arrived per task and commits it as one
transaction; ``finish()`` stops the writer and commits the rest together with
the run's final status, stats and report. A crash (even ``kill -9``) loses at
most the last interval and never a committed batch: the store is WAL with
``synchronous=FULL``.
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
import traceback as tb
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from .errors import StoreError
from .results import RunResult, TaskRecord, TaskStatus

if TYPE_CHECKING:
    from ._sqlite import SQLiteDB

__all__ = ["FLUSH_INTERVAL_S", "RunRecorder", "decode_value", "encode_value", "json_view"]

logger = logging.getLogger("ferroflow.store")

#: The writer commits what arrived at least this often (seconds).
FLUSH_INTERVAL_S = 0.1
#: JSON views longer than this are not stored (the pickled result still is).
_JSON_VIEW_LIMIT = 1 << 20
_NONE_PICKLE = pickle.dumps(None, protocol=pickle.HIGHEST_PROTOCOL)
_SCALARS = (bool, int, float, str)

_TASK_UPSERT = (
    "INSERT OR REPLACE INTO tasks (run_id, name, status, attempts, started_at, finished_at, error, traceback,"
    " reason, has_result, result, result_json, cached, resumed, logs, position)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_COMPLETED = TaskStatus.COMPLETED

# Started marks and small completed tasks (result None, no error, no logs) -- almost all of a
# run of many small tasks -- are appended as one pickled list per batch to ``task_log``: one row
# per batch instead of one per task, which keeps recording far below the cost of the tasks.
# Everything else (results, errors, logs) gets a full row in ``tasks``.
_LOG_INSERT = "INSERT INTO task_log (run_id, seq, entries) VALUES (?, ?, ?)"
_LOG_PROTOCOL = 4  # a plain list of lists of str / int / float / bool / None

# Run ids with a live recorder in this process: a 'running' row of ours that is
# not in here belongs to a run that died without finishing.
ACTIVE_RUNS: set[str] = set()
_LIVE: weakref.WeakSet[RunRecorder] = weakref.WeakSet()


class _Batch:
    """What one flush writes, coalesced per task: the last thing heard about a task wins.

    ``log`` maps a task to its ``task_log`` entry ``[name, status, attempts, started_at,
    finished_at, reason, cached, resumed, position]``; ``rows`` to its ``tasks`` row.
    """

    __slots__ = ("log", "rows")

    def __init__(self) -> None:
        self.log: dict[str, list[Any]] = {}
        self.rows: dict[str, tuple[Any, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.log or self.rows)

    def merge_older(self, older: _Batch) -> None:
        """Fold in a batch that could not be written (its entries are older than ours)."""
        for name, entry in older.log.items():
            if name not in self.log and name not in self.rows:
                self.log[name] = entry
        for name, row in older.rows.items():
            if name not in self.log and name not in self.rows:
                self.rows[name] = row

    def write(self, conn: Any, run_id: str, seq: int) -> None:
        if self.log:
            conn.execute(_LOG_INSERT, (run_id, seq, pickle.dumps(list(self.log.values()), protocol=_LOG_PROTOCOL)))
        if self.rows:
            conn.executemany(_TASK_UPSERT, list(self.rows.values()))


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
    except (TypeError, ValueError, RecursionError):
        return None
    return text if len(text) <= _JSON_VIEW_LIMIT else None


def error_text(record: TaskRecord) -> tuple[str | None, str | None]:
    """``("Type: message", formatted traceback)`` of a record's error."""
    err = record.error
    if err is None:
        return None, record.traceback
    msg = str(err)
    text = f"{type(err).__name__}: {msg}" if msg else type(err).__name__
    trace = record.traceback
    if trace is None and err.__traceback__ is not None:
        trace = "".join(tb.format_exception(type(err), err, err.__traceback__))
    return text, trace


def task_row(run_id: str, record: TaskRecord, position: int | None = None) -> tuple[Any, ...]:
    """The ``tasks`` row of a record."""
    status = record.status
    result = record.result
    if status is _COMPLETED:
        if result is None:  # the common case of small tasks: no pickling, no JSON
            blob: bytes | None = _NONE_PICKLE
            json_text: str | None = "null"
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
        position,
    )


class RunRecorder:
    """Records the tasks of one run; made by :meth:`ferroflow.store.Store.begin_run`.

    All methods are thread-safe. ``task_started`` and ``task_finished`` never
    block: they hand the data to the writer thread.

    Example:
        >>> import tempfile
        >>> from ferroflow.store import open_store
        >>> from ferroflow.results import RunResult, TaskRecord, TaskStatus
        >>> store = open_store(tempfile.mkdtemp())
        >>> rec = store.begin_run(run_id="r1", workflow="wf", params={}, task_names=["a"])
        >>> rec.task_finished(TaskRecord("a", TaskStatus.COMPLETED, attempts=1, result=42))
        >>> rec.finish(RunResult("r1", "wf", {"a": 42}, status="completed", stats={}))
        >>> store.get_run("r1").tasks[0].result_json
        '42'
    """

    def __init__(self, db: SQLiteDB, run_id: str, workflow: str, task_names: list[str] | None = None) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self._db = db
        names = task_names or []
        self._task_count = len(names)
        self._positions: dict[str, int] = {name: i for i, name in enumerate(names)}
        self._pending: deque[TaskRecord | tuple[str, float]] = deque()
        self._unsaved = _Batch()
        self._seq = 0
        self._final: set[str] = set()
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
        self._pending.append((name, at))

    def task_finished(self, record: TaskRecord) -> None:
        """Queue the final record of a task (non-blocking); committed within ~100 ms."""
        self._pending.append(record)

    # ---------------------------------------------------------------- writer

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(FLUSH_INTERVAL_S)
            if self._stopping:
                break
            self.flush()

    def _drain(self) -> _Batch:
        batch = self._unsaved
        self._unsaved = _Batch()
        log, rows = batch.log, batch.rows
        pending, final, position = self._pending, self._final, self._positions.get
        popleft, done = pending.popleft, _COMPLETED
        for _ in range(len(pending)):
            item = popleft()
            if type(item) is tuple:
                name, at = item
                if name not in final:
                    log[name] = [name, "running", 0, at, None, None, False, False, position(name)]
                continue
            assert isinstance(item, TaskRecord)
            name = item.name
            if (
                item.status is done
                and item.result is None
                and item.error is None
                and item.traceback is None
                and not item.logs
            ):
                rows.pop(name, None)
                log[name] = [
                    name,
                    "completed",
                    item.attempts,
                    item.started_at,
                    item.finished_at,
                    item.reason,
                    item.cached,
                    item.resumed,
                    position(name),
                ]
                final.add(name)
            else:
                log.pop(name, None)
                rows[name] = task_row(self.run_id, item, position(name))
                if item.status.is_final:
                    final.add(name)
        return batch

    def _write(self, conn: Any, batch: _Batch) -> None:
        batch.write(conn, self.run_id, self._seq + 1)

    def flush(self) -> None:
        """Commit what has been queued so far (the writer does this every ~100 ms)."""
        with self._lock:
            batch = self._drain()
            if not batch:
                return
            try:
                self._db.run_write(lambda conn: self._write(conn, batch), action="record tasks in")
            except StoreError as exc:
                # Keep the rows: the next flush (or finish) tries again, e.g. once disk space is back.
                self._error = exc
                self._unsaved.merge_older(batch)
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

        Tasks in ``result.records`` that never went through ``task_finished``
        are written too. The run report is not serialized here (that would
        cost more than the run itself for many small tasks): the task rows hold
        everything it shows and :meth:`Store.get_report` rebuilds it from them.
        A report that was already built, and possibly edited, when ``finish``
        is called is stored as it is. A result without a report gets one,
        built when ``result.report`` is first read.

        Raises:
            StoreError: The store could not be written (disk full, read-only,
                ...); what was committed before stays intact.
        """
        if self._finished:
            return
        self._finished = True
        self._stop_writer()
        report = _materialized_report(result)
        report_json = report.model_dump_json(fallback=str) if hasattr(report, "model_dump_json") else None
        with self._lock:
            batch = self._drain()
            if len(self._final) < self._task_count or not self._task_count:
                for name, record in result.records.items():
                    if name not in self._final:
                        batch.log.pop(name, None)
                        batch.rows[name] = task_row(self.run_id, record, self._positions.get(name))
            finished_at = result.finished_at if result.finished_at is not None else time.time()
            stats = json.dumps(result.stats, default=str)

            def write(conn: Any) -> None:
                self._write(conn, batch)
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
        from .reports import build_run_report

        result.set_report_builder(lambda: build_run_report(result))
    return None


@atexit.register
def _flush_live_recorders() -> None:  # pragma: no cover - runs at interpreter exit
    for recorder in list(_LIVE):
        try:
            recorder.abandon()
        except Exception as exc:  # noqa: BLE001 - keep saving the other runs
            logger.error("could not save run %s at exit: %s", recorder.run_id, exc)
