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
from .context import TaskContext, current_task
from .dag import DAG
from .executors import AsyncExecutor, Executor, ProcessExecutor, SequentialExecutor, ThreadedExecutor
from .flow import Flow
from .results import RunResult, TaskRecord, TaskStatus
from .retries import RetryPolicy
from .tasks import Task, TaskRegistry, registry, task
from .workflow import Workflow

# --- watch ---
from .watch import Change, FileEvent, WatchApp, on_any, on_created, on_deleted, on_modified, run

# --- store, state, reports, logging ---
from .cache import UncacheableWarning
from .log import JsonFormatter, LogLevel, configure_logging, get_task_logger
from .reports import (
    FileReport,
    PipelineReport,
    ReportStatus,
    StepReport,
    bind_pipeline,
    current_pipeline,
    dump_report,
    load_report,
    pipeline_file,
    pipeline_step,
)
from .state import StateManager
from .store import Store, open_store

# --- flow files, projects, schedules ---
from .project import FlowWorkflow, Project, load_flow
from .schedule import next_fire_times

try:
    __version__ = version("ferroflow")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "DAG",
    "AsyncExecutor",
    "Change",
    "CycleError",
    "DuplicateTaskError",
    "Executor",
    "FerroflowError",
    "FileEvent",
    "FileReport",
    "Flow",
    "FlowFileError",
    "FlowWorkflow",
    "JsonFormatter",
    "LogLevel",
    "PipelineReport",
    "ProcessExecutor",
    "Project",
    "ReportStatus",
    "RetryPolicy",
    "RunResult",
    "ScheduleError",
    "SequentialExecutor",
    "StateManager",
    "StepReport",
    "Store",
    "StoreError",
    "Task",
    "TaskContext",
    "TaskRecord",
    "TaskRegistry",
    "TaskStatus",
    "TaskTimeoutError",
    "ThreadedExecutor",
    "UncacheableWarning",
    "UnknownDependencyError",
    "WatchApp",
    "WatchError",
    "Workflow",
    "WorkflowError",
    "__version__",
    "bind_pipeline",
    "configure_logging",
    "current_pipeline",
    "current_task",
    "dump_report",
    "get_task_logger",
    "load_flow",
    "load_report",
    "next_fire_times",
    "on_any",
    "on_created",
    "on_deleted",
    "on_modified",
    "open_store",
    "pipeline_file",
    "pipeline_step",
    "registry",
    "run",
    "task",
]
