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
    " reason, has_result, result, result_json, cached, resumed, logs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)

# Run ids with a live recorder in this process: a 'running' row of ours that is
# not in here belongs to a run that died without finishing.
ACTIVE_RUNS: set[str] = set()
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
    except (TypeError, ValueError, RecursionError):
        return None
    return text if len(text) <= _JSON_VIEW_LIMIT else None


def _error_text(record: TaskRecord) -> tuple[str | None, str | None]:
    err = record.error
    if err is None:
        return None, record.traceback
    text = f"{type(err).__name__}: {err}"
    trace = record.traceback
    if trace is None and err.__traceback__ is not None:
        trace = "".join(tb.format_exception(type(err), err, err.__traceback__))
    return text, trace


def task_row(run_id: str, record: TaskRecord) -> tuple[Any, ...]:
    """The ``tasks`` row of a record."""
    status = record.status
    has_result = status is TaskStatus.COMPLETED
    blob = json_text = None
    if has_result:
        blob = encode_value(record.result)
        has_result = blob is not None
        json_text = json_view(record.result)
        if blob is None:
            logger.warning("result of task %r in run %s cannot be pickled; it is not stored", record.name, run_id)
    error, trace = _error_text(record)
    logs = json.dumps(record.logs) if record.logs else None
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
        int(has_result),
        blob,
        json_text,
        int(record.cached),
        int(record.resumed),
        logs,
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

    def __init__(self, db: SQLiteDB, run_id: str, workflow: str) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self._db = db
        self._pending: deque[TaskRecord | tuple[str, float]] = deque()
        self._unsaved: dict[str, tuple[Any, ...]] = {}
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

    def _drain(self) -> dict[str, tuple[Any, ...]]:
        rows = self._unsaved
        self._unsaved = {}
        pending = self._pending
        run_id = self.run_id
        for _ in range(len(pending)):
            item = pending.popleft()
            if type(item) is tuple:
                name, at = item
                if name not in self._final:
                    rows[name] = (run_id, name, "running", 0, at, None, None, None, None, 0, None, None, 0, 0, None)
            else:
                assert isinstance(item, TaskRecord)
                rows[item.name] = task_row(run_id, item)
                if item.status.is_final:
                    self._final.add(item.name)
        return rows

    def flush(self) -> None:
        """Commit what has been queued so far (the writer does this every ~100 ms)."""
        with self._lock:
            rows = self._drain()
            if not rows:
                return
            values = list(rows.values())
            try:
                self._db.run_write(lambda conn: conn.executemany(_TASK_UPSERT, values), action="record tasks in")
            except StoreError as exc:
                # Keep the rows: the next flush (or finish) tries again, e.g. once disk space is back.
                self._error = exc
                rows.update(self._unsaved)
                self._unsaved = rows
                logger.error("%s", exc)
            else:
                self._error = None

    def _stop_writer(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    # ---------------------------------------------------------------- end

    def finish(self, result: RunResult) -> None:
        """Commit the remaining tasks and the run's final status, stats and report.

        Builds ``result.report`` when the engine has not set it. Tasks present
        in ``result.records`` but never passed to ``task_finished`` are written
        too.

        Raises:
            StoreError: The store could not be written (disk full, read-only,
                ...); what was committed before stays intact.
        """
        if self._finished:
            return
        self._finished = True
        self._stop_writer()
        from .reports import build_run_report

        if result.report is None:
            result.report = build_run_report(result)
        report_json = result.report.model_dump_json()
        with self._lock:
            rows = self._drain()
            for name, record in result.records.items():
                if name not in self._final:
                    rows[name] = task_row(self.run_id, record)
            values = list(rows.values())
            finished_at = result.finished_at if result.finished_at is not None else time.time()
            stats = json.dumps(result.stats, default=str)

            def write(conn: Any) -> None:
                conn.executemany(_TASK_UPSERT, values)
                conn.execute(
                    "UPDATE runs SET status = ?, finished_at = ?, stats = ?, report = ? WHERE run_id = ?",
                    (result.status, finished_at, stats, report_json, self.run_id),
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


@atexit.register
def _flush_live_recorders() -> None:  # pragma: no cover - runs at interpreter exit
    for recorder in list(_LIVE):
        try:
            recorder.abandon()
        except Exception as exc:  # noqa: BLE001 - keep saving the other runs
            logger.error("could not save run %s at exit: %s", recorder.run_id, exc)
