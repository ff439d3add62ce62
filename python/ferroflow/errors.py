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
     ├── StoreError                                  the run store cannot be used
     ├── TaskTimeoutError        (also TimeoutError) a task attempt ran out of time
     └── WorkflowError           (also RuntimeError) a run finished with failed tasks

The Rust core maps its own errors onto these classes, so they can be caught and
subclassed like any Python exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CycleError",
    "DuplicateTaskError",
    "FerroflowError",
    "FlowFileError",
    "ScheduleError",
    "StoreError",
    "TaskTimeoutError",
    "UnknownDependencyError",
    "WatchError",
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
