"""The exceptions ferroflow raises.

Every error is a :class:`FerroflowError`; those caused by bad input also derive
from the built-in class a caller would expect to catch::

    FerroflowError
     ├── CycleError              (also ValueError)   a dependency closes a loop
     ├── UnknownDependencyError  (also ValueError)   a dependency names no task
     ├── DuplicateTaskError      (also ValueError)   two tasks share a name
     ├── FlowFileError           (also ValueError)   a flow file is invalid
     ├── ScheduleError           (also ValueError)   a cron / interval / zone is invalid
     ├── WatchError              (also OSError)      a watch root or pattern is unusable
     │    └── WatchHandlerError  (also TypeError)    a handler is not callable with one event
     ├── StoreError                                  the run store cannot be used
     ├── TaskTimeoutError        (also TimeoutError) a task attempt ran out of time
     ├── TaskCancelledError                          a task was stopped by the user or the run
     ├── ScriptFailedError       (also RuntimeError) a script or command task exited non-zero
     ├── AlreadyRunningError                         a scheduler daemon already runs for the store
     ├── FilePreviewError        (also ValueError)   the dashboard refuses to show a file
     ├── QueryParamError         (also ValueError)   a dashboard query parameter is malformed
     ├── SyntaxProblem           (also ValueError)   flow-file text does not parse (reported to
     │                                               callers as a FlowFileError with its position)
     └── WorkflowError           (also RuntimeError) a run finished with failed tasks

Warnings (``UncacheableWarning``) are not exceptions ferroflow raises; they live where
they are issued.

The Rust core maps its own errors onto these classes, so they can be caught and
subclassed like any Python exception.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AlreadyRunningError",
    "CycleError",
    "DuplicateTaskError",
    "FerroflowError",
    "FilePreviewError",
    "FlowFileError",
    "QueryParamError",
    "ScheduleError",
    "ScriptFailedError",
    "StoreError",
    "SyntaxProblem",
    "TaskCancelledError",
    "TaskTimeoutError",
    "UnknownDependencyError",
    "WatchError",
    "WatchHandlerError",
    "WorkflowError",
]


class FerroflowError(Exception):
    """Base class of every ferroflow error."""


class CycleError(FerroflowError, ValueError):
    """Raised when a dependency would close a cycle.

    Attributes:
        cycle: The task names along the cycle in dependency direction (upstream
            first), with the first name repeated at the end, e.g.
            ``["a", "b", "c", "a"]``.
    """

    def __init__(self, message: str, cycle: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.cycle: list[str] = list(cycle or [])


class UnknownDependencyError(FerroflowError, ValueError):
    """Raised when a dependency names a task that does not exist."""


class DuplicateTaskError(FerroflowError, ValueError):
    """Raised when a task name is already taken in a workflow."""


class FlowFileError(FerroflowError, ValueError):
    """Raised when a flow file cannot be parsed or validated.

    Attributes:
        problems: One line per problem, each ``file:line:col path: message``.
    """

    def __init__(self, message: str, problems: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems or [message])


class ScheduleError(FerroflowError, ValueError):
    """Raised for an invalid schedule: cron field, interval, time or timezone."""


class WatchError(FerroflowError, OSError):
    """Raised when a watch root, pattern or handler cannot be used."""


class StoreError(FerroflowError):
    """Raised when the run store cannot be opened, read or written."""


class TaskTimeoutError(FerroflowError, TimeoutError):
    """Raised (and recorded) when a task attempt exceeds its ``timeout``."""


class TaskCancelledError(FerroflowError):
    """Raised inside a task that was stopped by the user or the run (e.g. a script whose
    process tree a cancel stopped).

    The task is recorded ``cancelled`` (not ``failed``), with the message as its reason; it
    is not retried, and the tasks downstream of it are ``cancelled`` too.
    """


class WorkflowError(FerroflowError, RuntimeError):
    """Raised by ``run()`` when tasks failed, unless ``raise_on_failure=False``.

    Attributes:
        result: The partial ``RunResult`` (results of the tasks that completed).
        errors: Task name to the exception that failed it.
        tracebacks: Task name to its formatted traceback.
    """

    def __init__(
        self,
        message: str,
        result: Any = None,
        errors: Mapping[str, BaseException] | None = None,
        tracebacks: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.result = result
        self.errors: dict[str, BaseException] = dict(errors or {})
        self.tracebacks: dict[str, str] = dict(tracebacks or {})


class WatchHandlerError(WatchError, TypeError):
    """Raised when a handler is not callable or does not take one argument (the event)."""


class ScriptFailedError(FerroflowError, RuntimeError):
    """Raised (and recorded) when a script or command task exits with a non-zero code.

    Attributes:
        task: The task id.
        exit_code: The process's exit code (negative: killed by that signal).
        stderr_tail: The last lines the process wrote to stderr.
        stderr_path: The full stderr log file.
    """

    def __init__(self, task: str, exit_code: int, stderr_tail: str = "", stderr_path: str | None = None) -> None:
        tail = f"\n{stderr_tail}" if stderr_tail else ""
        super().__init__(f"task {task!r} exited with code {exit_code}{tail}")
        self.task = task
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
        self.stderr_path = stderr_path

    def __reduce__(self) -> tuple[type[ScriptFailedError], tuple[str, int, str, str | None]]:
        # Custom __init__ arguments: make the error survive pickling (process executor, store).
        return (ScriptFailedError, (self.task, self.exit_code, self.stderr_tail, self.stderr_path))


class AlreadyRunningError(FerroflowError):
    """Raised when a scheduler daemon already runs for this store.

    Attributes:
        pid: The running daemon's pid (``None`` when its pid file is damaged
            and the system does not tell which process holds the lock).
    """

    def __init__(self, pid: int | None, path: str | os.PathLike[str]) -> None:
        who = f"pid {pid}" if pid is not None else "pid unknown: its pid file is damaged"
        super().__init__(
            f"the scheduler is already running ({who}, pid file {path}); stop it with `ferroflow scheduler stop`"
        )
        self.pid = pid


class FilePreviewError(FerroflowError, ValueError):
    """Raised when the dashboard refuses to preview a file; the message names the rule.

    Attributes:
        status: The HTTP status the refusal is answered with (400, 403, 404 or 415).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class QueryParamError(FerroflowError, ValueError):
    """Raised when a query parameter of a dashboard request is malformed (answered 400).

    Attributes:
        name: The parameter.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class SyntaxProblem(FerroflowError, ValueError):
    """Raised when flow-file text is not valid JSON, YAML or TOML (turned into a ``FlowFileError``).

    Attributes:
        line: 1-based line of the problem.
        col: 1-based column of the problem.
        reason: What is wrong.
    """

    def __init__(self, reason: str, line: int, col: int) -> None:
        super().__init__(f"{line}:{col}: {reason}")
        self.reason = reason
        self.line = line
        self.col = col
