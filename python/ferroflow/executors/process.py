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
import os
import subprocess
import sys
import threading
import traceback
import weakref
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, ClassVar

import cloudpickle

from ..context import CURRENT_TASK, TaskContext
from ..engine.attempts import exit_failure
from ..engine.capture import install_for_good
from ..errors import FerroflowError, TaskTimeoutError
from ..processes import DIE_WITH_PARENT, spawn
from ..safetext import describe_error
from .base import BaseExecutor, check_workers, drive_with_pool

if TYPE_CHECKING:
    from ..engine.plan import RunPlan
    from ..engine.tasks import Task

__all__ = ["ProcessExecutor", "kill_workers"]

logger = logging.getLogger("ferroflow")


def _worker_main(rconn: Connection, wconn: Connection) -> None:
    """The loop of a worker process: receive a call, run it, send back the outcome."""
    install_for_good()  # what tasks print goes to their logs too
    while True:
        try:
            message = rconn.recv_bytes()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if not message:
            return
        wconn.send_bytes(_run_call(message))


def _run_call(message: bytes) -> bytes:
    try:
        fn, args, kwargs, ctx_fields = cloudpickle.loads(message)
    except Exception as e:  # noqa: BLE001 - whatever unpickling raises is reported, never fatal to the worker
        error = FerroflowError(
            f"the worker process could not load the task ({describe_error(e)}); the process executor "
            "imports the task's module in a fresh interpreter: make it importable there, or use the thread executor"
        )
        return bytes(cloudpickle.dumps(("err", error, traceback.format_exc(), [])))
    ctx = TaskContext(*ctx_fields)
    token = CURRENT_TASK.set(ctx)
    try:
        value = fn(*args, **kwargs)
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
    except (Exception, SystemExit, KeyboardInterrupt) as e:  # noqa: BLE001 - user code may raise anything
        tb = traceback.format_exc()
        ctx.flush_output()
        if isinstance(e, SystemExit):
            e = exit_failure(ctx.task, e)
        elif isinstance(e, KeyboardInterrupt):  # interrupts the run, as it does on the other executors
            return bytes(cloudpickle.dumps(("interrupted", None, tb, ctx.logs)))
        try:
            return bytes(cloudpickle.dumps(("err", e, tb, ctx.logs)))
        except Exception:  # noqa: BLE001 - user code may raise anything; recorded, never lost
            carried = RuntimeError(describe_error(e))
            return bytes(cloudpickle.dumps(("err", carried, tb, ctx.logs)))
    finally:
        CURRENT_TASK.reset(token)
    ctx.flush_output()
    try:
        return bytes(cloudpickle.dumps(("ok", value, None, ctx.logs)))
    except Exception as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
        error = FerroflowError(
            f"task {ctx.task!r} returned an object that cannot be pickled "
            f"({type(value).__name__}: {describe_error(e)}); the process executor must send results "
            "back to the parent: return plain data, or use the thread executor"
        )
        return bytes(cloudpickle.dumps(("err", error, traceback.format_exc(), ctx.logs)))


class _Worker:
    """One worker process (a fresh interpreter) and the parent's ends of its two pipes.

    A plain subprocess rather than ``multiprocessing``: the user's ``__main__`` is never
    re-imported, and the worker's stdout/stderr are the parent's.
    """

    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        code = f"from ferroflow.executors.process import worker_entry; worker_entry({to_child_r}, {from_child_w})"
        try:
            # Dies with this process, even by kill -9 (Linux: a parent-death signal).
            self.proc = spawn(
                lambda: subprocess.Popen(
                    [sys.executable, "-c", code],
                    pass_fds=(to_child_r, from_child_w),
                    preexec_fn=DIE_WITH_PARENT,  # noqa: PLW1509 - one prctl call, no lock taken in the child
                )
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        _WORKERS.add(self)
        self.send = Connection(to_child_w, readable=False)
        self.recv = Connection(from_child_r, writable=False)
        self.send.send_bytes(cloudpickle.dumps(list(sys.path)))

    def is_alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 2.0) -> None:
        try:
            self.send.send_bytes(b"")
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5.0)

    def close(self) -> None:
        self.send.close()
        self.recv.close()


_WORKERS: weakref.WeakSet[_Worker] = weakref.WeakSet()


def kill_workers() -> int:
    """``SIGKILL`` every worker process of this process (before exiting at once); how many were alive."""
    killed = 0
    for worker in list(_WORKERS):
        if worker.is_alive():
            worker.proc.kill()
            killed += 1
    return killed


def worker_entry(read_fd: int, write_fd: int) -> None:
    """Entry point of a worker process (see :class:`_Worker`)."""
    rconn = Connection(read_fd, writable=False)
    wconn = Connection(write_fd, readable=False)
    sys.path[:] = cloudpickle.loads(rconn.recv_bytes())
    _worker_main(rconn, wconn)


class _Pool:
    """Worker processes, one per pool thread, started lazily and replaced when killed."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []

    def _worker(self) -> _Worker:
        w: _Worker | None = getattr(self._local, "worker", None)
        if w is None or not w.is_alive():
            w = _Worker()
            self._local.worker = w
            with self._lock:
                self._workers.append(w)
        return w

    def _drop(self, w: _Worker) -> None:
        self._local.worker = None
        w.kill()
        w.close()

    def call(self, t: Task[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: TaskContext) -> Any:
        try:
            message = cloudpickle.dumps(
                (t.fn, args, kwargs, (ctx.run_id, ctx.workflow, ctx.task, ctx.attempt, ctx.params))
            )
        except Exception as e:
            raise FerroflowError(
                f"task {t.name!r}: its function or inputs cannot be pickled for the process executor "
                f"({describe_error(e)})"
            ) from e
        w = self._worker()
        w.send.send_bytes(message)
        if not w.recv.poll(t.timeout):
            self._drop(w)
            logger.warning("task %r timed out after %g s; its worker process was killed", t.name, t.timeout)
            raise TaskTimeoutError(
                f"task {t.name!r} timed out after {t.timeout:g} s (attempt {ctx.attempt}); its worker process was killed"
            )
        try:
            kind, value, tb, logs = cloudpickle.loads(w.recv.recv_bytes())
        except (EOFError, OSError) as e:
            self._drop(w)
            raise FerroflowError(
                f"task {t.name!r}: its worker process died (exit code {w.proc.returncode}) before returning"
            ) from e
        ctx.logs.extend(logs)
        if kind == "ok":
            return value
        if kind == "interrupted":
            raise KeyboardInterrupt(f"task {t.name!r} was interrupted (KeyboardInterrupt in its worker process)")
        if tb:
            value.add_note(f"in the worker process:\n{tb}")
        raise value

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for w in workers:
            if w.is_alive():
                w.stop()
            else:
                w.close()


class ProcessExecutor(BaseExecutor):
    """Runs each task attempt in a worker process (up to ``max_workers`` at once).

    Workers are fresh interpreters started when first needed and reused (the caller's
    ``__main__`` is not re-imported, so scripts need no ``if __name__ == "__main__"`` guard). Coroutine tasks run
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
        workers = plan.max_workers or self.max_workers or (os.cpu_count() or 1)
        pool = _Pool()
        try:
            runners = [plan.sync_runner(i, pool.call) for i in range(n)]
            drive_with_pool(plan, lambda i: runners[i](), min(workers, n), "ferroflow-process")
        finally:
            pool.close()

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers!r})"
