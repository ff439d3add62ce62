"""ferroflow: zero-infrastructure workflow orchestration with a Rust core.

Every public name is importable from here; ``__all__`` is kept sorted and
complete (``tests/test_public_api.py`` checks it). The exception classes also
live in :mod:`ferroflow.errors`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from .cache import UncacheableWarning
from .context import TaskContext, current_task
from .dag import DAG
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
from .executors import AsyncExecutor, Executor, ProcessExecutor, SequentialExecutor, ThreadedExecutor
from .flow import Flow
from .log import JsonFormatter, LogLevel, configure_logging, get_task_logger
from .project import FlowWorkflow, Project, load_flow
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
from .results import RunResult, TaskRecord, TaskStatus
from .retries import RetryPolicy
from .schedule import next_fire_times
from .state import StateManager
from .store import Store, open_store
from .tasks import Task, TaskRegistry, registry, task
from .watch import Change, FileEvent, WatchApp, on_any, on_created, on_deleted, on_modified, run
from .workflow import Workflow

try:
    __version__ = _version("ferroflow")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree without install
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
