"""What Python tasks print goes into their logs (and still to the terminal).

While a run is active, ``sys.stdout`` and ``sys.stderr`` are wrapped in a tee: text written
while a task runs on this thread or coroutine (``current_task()``) is also kept in that
task's :class:`~ferroflow.context.TaskContext` (``stdout: ...`` / ``stderr: ...`` lines),
so it reaches the store and the run report. Streams are restored when the last active run
ends, unless someone replaced them in the meantime (then they are left alone).

Example:
    >>> import sys
    >>> with capture_output():
    ...     type(sys.stdout).__name__
    '_Tee'
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from ..context import current_task

__all__ = ["capture_output", "install_for_good"]

_STREAMS = ("stdout", "stderr")
_lock = threading.Lock()
_users = 0
_installed: dict[str, _Tee] = {}


class _Tee:
    """A text stream that writes through to ``stream`` and keeps a copy for the task."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self.stream = stream
        self.name = name

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        ctx = current_task()
        if ctx is not None and text:
            ctx.take_output(self.name, text)
        return written

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, buffer, ...
        return getattr(self.stream, name)


def _wrap() -> None:
    for name in _STREAMS:
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Tee):
            tee = _Tee(stream, name)
            setattr(sys, name, tee)
            _installed[name] = tee


@contextlib.contextmanager
def capture_output() -> Iterator[None]:
    """Keep what tasks print while the block runs (nested and concurrent runs share it)."""
    install_for_good()
    try:
        yield
    finally:
        _release()


def install_for_good() -> None:
    """Wrap the streams until a matching release (for a worker process that only runs
    tasks: for the rest of the process)."""
    global _users
    with _lock:
        _users += 1
        if _users == 1:
            _wrap()


def _release() -> None:
    global _users
    with _lock:
        _users -= 1
        if _users == 0:
            for name, tee in _installed.items():
                if getattr(sys, name) is tee:
                    setattr(sys, name, tee.stream)
            _installed.clear()
