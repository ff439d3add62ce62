"""The process executor: each task attempt runs in a worker process.

Functions, arguments and results travel with cloudpickle, so lambdas, closures and
decorated tasks work. The parent keeps the ready set (``_core.ReadyTracker``), the retry
loop, ``when``, the cache, the callbacks and the store; a worker only calls the function.

Example:
    >>> from ferroflow import ProcessExecutor
    >>> ProcessExecutor(max_workers=2).max_workers
    2
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
import traceback
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, ClassVar

import cloudpickle

from ..context import _CURRENT, TaskContext
from ..errors import FerroflowError, TaskTimeoutError
from .base import BaseExecutor, check_workers, drive_with_pool

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from .._run import RunPlan
    from ..tasks import Task

__all__ = ["ProcessExecutor"]

logger = logging.getLogger("ferroflow")


def _worker_main(conn: Connection) -> None:
    """The loop of a worker process: receive a call, run it, send back the outcome."""
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if not message:
            return
        conn.send_bytes(_run_call(message))


def _run_call(message: bytes) -> bytes:
    fn, args, kwargs, ctx_fields = cloudpickle.loads(message)
    ctx = TaskContext(*ctx_fields)
    token = _CURRENT.set(ctx)
    try:
        value = fn(*args, **kwargs)
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
    except Exception as e:
        tb = traceback.format_exc()
        try:
            return bytes(cloudpickle.dumps(("err", e, tb, ctx.logs)))
        except Exception:
            carried = RuntimeError(f"{type(e).__name__}: {e}")
            return bytes(cloudpickle.dumps(("err", carried, tb, ctx.logs)))
    finally:
        _CURRENT.reset(token)
    try:
        return bytes(cloudpickle.dumps(("ok", value, None, ctx.logs)))
    except Exception as e:
        error = FerroflowError(
            f"task {ctx.task!r} returned an object that cannot be pickled "
            f"({type(value).__name__}: {type(e).__name__}: {e}); the process executor must send results "
            "back to the parent: return plain data, or use the thread executor"
        )
        return bytes(cloudpickle.dumps(("err", error, traceback.format_exc(), ctx.logs)))


def _mp_context() -> Any:
    """``forkserver`` where available (children fork from a clean single-threaded server that
    preloaded this module, so the user's ``__main__`` is never re-run), else ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        mp = multiprocessing.get_context("forkserver")
        mp.set_forkserver_preload([__name__])
        return mp
    return multiprocessing.get_context("spawn")  # pragma: no cover - platforms without forkserver


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, mp: Any) -> None:
        parent, child = mp.Pipe(duplex=True)
        self.conn: Connection = parent
        self.proc: BaseProcess = mp.Process(target=_worker_main, args=(child,), daemon=True, name="ferroflow-worker")
        self.proc.start()
        child.close()

    def stop(self, timeout: float = 2.0) -> None:
        try:
            self.conn.send_bytes(b"")
        except OSError:
            pass
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.kill()
        self.conn.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5.0)


class _Pool:
    """Worker processes, one per pool thread, started lazily and replaced when killed."""

    def __init__(self) -> None:
        self._mp = _mp_context()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []

    def _worker(self) -> _Worker:
        w: _Worker | None = getattr(self._local, "worker", None)
        if w is None or not w.proc.is_alive():
            w = _Worker(self._mp)
            self._local.worker = w
            with self._lock:
                self._workers.append(w)
        return w

    def _drop(self, w: _Worker) -> None:
        self._local.worker = None
        w.kill()
        w.conn.close()

    def call(self, t: Task[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: TaskContext) -> Any:
        try:
            message = cloudpickle.dumps((t.fn, args, kwargs, (ctx.run_id, ctx.workflow, ctx.task, ctx.attempt, ctx.params)))
        except Exception as e:
            raise FerroflowError(
                f"task {t.name!r}: its function or inputs cannot be pickled for the process executor "
                f"({type(e).__name__}: {e})"
            ) from e
        w = self._worker()
        w.conn.send_bytes(message)
        if not w.conn.poll(t.timeout):
            self._drop(w)
            logger.warning("task %r timed out after %g s; its worker process was killed", t.name, t.timeout)
            raise TaskTimeoutError(
                f"task {t.name!r} timed out after {t.timeout:g} s (attempt {ctx.attempt}); its worker process was killed"
            )
        try:
            kind, value, tb, logs = cloudpickle.loads(w.conn.recv_bytes())
        except (EOFError, OSError) as e:
            self._drop(w)
            raise FerroflowError(
                f"task {t.name!r}: its worker process died (exit code {w.proc.exitcode}) before returning"
            ) from e
        ctx.logs.extend(logs)
        if kind == "ok":
            return value
        if tb:
            value.add_note(f"in the worker process:\n{tb}")
        raise value

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for w in workers:
            if w.proc.is_alive():
                w.stop()


class ProcessExecutor(BaseExecutor):
    """Runs each task attempt in a worker process (up to ``max_workers`` at once).

    Workers are started when first needed (``forkserver``, else ``spawn``) and reused. Coroutine tasks run
    with ``asyncio.run`` inside the worker. A task that times out has its worker process
    killed (and replaced), so nothing keeps running; it is marked ``FAILED`` with
    ``TaskTimeoutError`` (or retried). A task whose result cannot be pickled fails with a
    ``FerroflowError`` naming it. ``when``, the cache, retries and callbacks run in the
    parent process.

    Args:
        max_workers: Worker processes (default: the CPU count).

    Example:
        >>> ProcessExecutor().name
        'process'
    """

    name: ClassVar[str] = "process"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = check_workers(max_workers, "ProcessExecutor")

    def run_plan(self, plan: RunPlan) -> None:
        """Run ``plan`` with worker processes (blocking)."""
        n = len(plan.tasks)
        if not n:
            return
        workers = plan.max_workers or self.max_workers or multiprocessing.cpu_count()
        pool = _Pool()
        try:
            runners = [plan.sync_runner(i, pool.call) for i in range(n)]
            drive_with_pool(plan, runners, min(workers, n), "ferroflow-process")
        finally:
            pool.close()

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers!r})"
