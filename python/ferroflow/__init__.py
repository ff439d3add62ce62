"""ferroflow: zero-infrastructure workflow orchestration with a Rust core.

Each part of the package adds its public names in its own block below; ``__all__``
is kept sorted and complete (a test checks it).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# --- errors ---
from .errors import (
    CycleError,
    DuplicateTaskError,
    FerroflowError,
    FlowFileError,
    ScheduleError,
    StoreError,
    TaskTimeoutError,
    UnknownDependencyError,
    WatchError,
    WorkflowError,
)

# --- engine ---

# --- watch ---

# --- store, state, reports, logging ---

# --- flow files, projects, schedules ---

try:
    __version__ = version("ferroflow")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

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
    "__version__",
]
