"""One attempt of one task: on this thread, on a helper thread with a timeout, or on a loop.

The run path (``ferroflow._run``) calls these from its retry loop; the process executor
brings its own attempt (a worker process). Timeouts:

- sync function on the thread or sequential executor: the attempt runs on a helper thread we
  wait for; when time is up :class:`~ferroflow.errors.TaskTimeoutError` is raised at once and
  the thread (which cannot be killed) is abandoned with a warning in the ``ferroflow`` log;
- coroutine function anywhere: ``asyncio.wait_for`` cancels it;
- sync function on the async executor: a daemon thread the loop does not wait for.

Example:
    >>> from ferroflow import Task
    >>> from ferroflow.context import TaskContext
    >>> from ferroflow.engine.attempts import inline_attempt
    >>> inline_attempt(Task(fn=lambda x: x + 1, name="inc"), [1], {}, TaskContext("r", "w", "inc"))
    2
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..context import CURRENT_TASK, TaskContext
from ..errors import FerroflowError, TaskTimeoutError
from ..safetext import safe_repr
from . import bridge

if TYPE_CHECKING:
    from .tasks import Task

__all__ = ["SyncAttempt", "async_attempt", "call_when", "exit_failure", "inline_attempt"]

logger = logging.getLogger("ferroflow")

SyncAttempt = Callable[["Task[..., Any]", list[Any], dict[str, Any], TaskContext], Any]


def call_when(t: Task[..., Any], args: list[Any], kwargs: dict[str, Any]) -> bool:
    """Evaluate ``t.when`` with the task's inputs (a zero-argument predicate gets none)."""
    when = t.when
    assert when is not None
    try:
        takes_nothing = not inspect.signature(when).parameters
    except (TypeError, ValueError):
        takes_nothing = False
    value = when() if takes_nothing else when(*args, **kwargs)
    if asyncio.iscoroutine(value):
        value = bridge.run_coroutine_sync(value)
    return bool(value)


def exit_failure(task_name: str, exc: SystemExit) -> FerroflowError:
    """The error that fails a task whose code called ``sys.exit(code)``.

    A task's ``SystemExit`` does not end the run (nor set the CLI's exit code): the task is
    ``failed`` and the run goes on like after any other error.

    Example:
        >>> str(exit_failure("load", SystemExit(3)))
        "task 'load' called sys.exit(3): raise an exception to fail a task; the run goes on"
    """
    error = FerroflowError(
        f"task {task_name!r} called sys.exit({safe_repr(exc.code)}): raise an exception to fail a task; the run goes on"
    )
    error.__cause__ = exc
    return error


def _invoke(t: Task[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: TaskContext) -> Any:
    token = CURRENT_TASK.set(ctx)
    try:
        value = t.fn(*args, **kwargs)
        if asyncio.iscoroutine(value):
            if t.timeout is not None:
                value = bridge.run_coroutine_sync(_async_timeout(value, t.timeout, t.name, ctx.attempt))
            else:
                value = bridge.run_coroutine_sync(value)
        return value
    except SystemExit as e:
        raise exit_failure(t.name, e) from e
    finally:
        CURRENT_TASK.reset(token)


async def _async_timeout(coro: Awaitable[Any], timeout: float, name: str, attempt: int) -> Any:
    try:
        return await asyncio.wait_for(coro, timeout)
    except TimeoutError:
        raise TaskTimeoutError(
            f"task {name!r} timed out after {timeout:g} s (attempt {attempt}); it was cancelled"
        ) from None


def inline_attempt(t: Task[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: TaskContext) -> Any:
    """One attempt on the calling thread; with a timeout, on a helper thread we wait for."""
    if t.timeout is None or t.is_async:
        return _invoke(t, args, kwargs, ctx)
    box: list[tuple[bool, Any]] = []
    done = threading.Event()
    context = contextvars.copy_context()

    def target() -> None:
        try:
            box.append((True, context.run(_invoke, t, args, kwargs, ctx)))
        except BaseException as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
            box.append((False, e))
        finally:
            done.set()

    helper = threading.Thread(target=target, name=f"ferroflow-task-{t.name}", daemon=True)
    helper.start()
    if not done.wait(t.timeout):
        logger.warning(
            "task %r timed out after %g s (attempt %d) and is marked failed; its thread cannot be killed "
            "and is abandoned, still running in the background",
            t.name,
            t.timeout,
            ctx.attempt,
        )
        raise TaskTimeoutError(f"task {t.name!r} timed out after {t.timeout:g} s (attempt {ctx.attempt})")
    ok, value = box[0]
    if ok:
        return value
    raise value


async def async_attempt(t: Task[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: TaskContext) -> Any:
    """One attempt on the running loop: coroutines awaited, sync functions in a thread."""
    token = CURRENT_TASK.set(ctx)
    try:
        if t.is_async:
            aw = t.fn(*args, **kwargs)
        elif t.timeout is None:
            aw = asyncio.to_thread(t.fn, *args, **kwargs)
        else:  # a thread the loop never waits for, so a timed-out attempt can be abandoned
            aw = bridge.in_daemon_thread(functools.partial(t.fn, *args, **kwargs), name=f"ferroflow-task-{t.name}")
        if t.timeout is None:
            return await aw
        try:
            return await asyncio.wait_for(aw, t.timeout)
        except TimeoutError:
            if t.is_async:
                detail = "it was cancelled"
            else:
                detail = "its thread cannot be killed and is abandoned"
                logger.warning("task %r timed out after %g s; %s", t.name, t.timeout, detail)
            raise TaskTimeoutError(
                f"task {t.name!r} timed out after {t.timeout:g} s (attempt {ctx.attempt}); {detail}"
            ) from None
    except SystemExit as e:
        raise exit_failure(t.name, e) from e
    finally:
        CURRENT_TASK.reset(token)
