"""Bridges between sync and async code, in one place.

- :func:`run_coroutine_sync` runs a coroutine to completion from sync code, on this thread
  when no loop is running here, else on a fresh thread (a running loop cannot be re-entered).
- :func:`run_async_entry` runs the async executor from sync code the same way, optionally
  on uvloop.
- :func:`run_blocking` runs a blocking call from async code in a worker thread.

Example:
    >>> import asyncio
    >>> from ferroflow.engine.bridge import run_coroutine_sync
    >>> async def two():
    ...     await asyncio.sleep(0)
    ...     return 2
    >>> run_coroutine_sync(two())
    2
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio.to_thread

__all__ = ["in_daemon_thread", "in_running_loop", "run_async_entry", "run_blocking", "run_coroutine_sync"]

T = TypeVar("T")


def in_running_loop() -> bool:
    """Whether an event loop is running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _on_fresh_thread(fn: Callable[[], T], name: str) -> T:
    """Run ``fn()`` on a new thread (with this context) and return or raise its outcome."""
    box: list[tuple[bool, Any]] = []
    context = contextvars.copy_context()

    def target() -> None:
        try:
            box.append((True, context.run(fn)))
        except BaseException as e:  # noqa: BLE001 - user code may raise anything; recorded, never lost
            box.append((False, e))

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join()
    ok, value = box[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value


def run_coroutine_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code and return its result."""
    if in_running_loop():
        return _on_fresh_thread(lambda: asyncio.run(coro), "ferroflow-coroutine")
    return asyncio.run(coro)


def run_async_entry(factory: Callable[[], Coroutine[Any, Any, T]], *, use_uvloop: bool = False) -> T:
    """Run the coroutine made by ``factory()`` on a new loop (uvloop if asked and installed).

    From a thread whose loop is already running, the new loop runs on a fresh thread.
    """

    def run() -> T:
        if use_uvloop:
            try:
                import uvloop
            except ImportError as e:  # pragma: no cover - uvloop is an optional extra
                raise RuntimeError("use_uvloop=True needs the uvloop extra: pip install 'ferroflow[uvloop]'") from e
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(factory())
        return asyncio.run(factory())

    if in_running_loop():
        return _on_fresh_thread(run, "ferroflow-async-run")
    return run()


async def run_blocking(fn: Callable[[], T]) -> T:
    """Run the blocking ``fn()`` in a worker thread without blocking the loop."""
    return await anyio.to_thread.run_sync(fn, abandon_on_cancel=False)


async def in_daemon_thread(fn: Callable[..., T], *args: Any, name: str = "ferroflow-task") -> T:
    """Await ``fn(*args)`` run on a new daemon thread (with this context).

    Unlike ``asyncio.to_thread``, the loop never waits for the thread: if the caller stops
    waiting (a timeout), the loop can close while the thread is abandoned.
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if not fut.done():
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def target() -> None:
        value: Any
        try:
            value, ok = context.run(fn, *args), True
        except BaseException as e:  # noqa: BLE001 - carried back to the awaiting coroutine
            value, ok = e, False
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop is closed: nobody waits for this outcome any more
            pass

    threading.Thread(target=target, name=name, daemon=True).start()
    return await fut
