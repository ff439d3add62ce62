"""ferroflow: zero-infrastructure workflow orchestration with a Rust core.

Every public name is importable from here; ``__all__`` is kept sorted and
complete (``tests/test_public_api.py`` checks it). The exception classes also
live in :mod:`ferroflow.errors`.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from . import _moved
from ._core import __version__
from .context import TaskContext, current_task
from .engine.builder import Flow
from .engine.dag import DAG
from .engine.retries import RetryPolicy
from .engine.tasks import Task, TaskRegistry, registry, task
from .engine.workflow import Workflow
from .errors import (
    AlreadyRunningError,
    CycleError,
    DuplicateTaskError,
    FerroflowError,
    FilePreviewError,
    FlowFileError,
    QueryParamError,
    ScheduleError,
    ScriptFailedError,
    StoreError,
    SyntaxProblem,
    TaskCancelledError,
    TaskTimeoutError,
    UnknownDependencyError,
    WatchError,
    WatchHandlerError,
    WorkflowError,
)
from .executors import AsyncExecutor, BaseExecutor, Executor, ProcessExecutor, SequentialExecutor, ThreadedExecutor
from .log import JsonFormatter, LogLevel, configure_logging, get_task_logger
from .results import NOT_GATHERED, RunResult, TaskRecord, TaskStatus
from .store import Store, open_store

if _typing.TYPE_CHECKING:
    from .dashboard import create_dashboard_app, create_dashboard_routes, run_with_dashboard, stop_dashboard
    from .executors.dask import DaskExecutor
    from .flowfiles.project import FlowWorkflow, Project, load_flow
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
    from .scheduling.schedules import next_fire_times
    from .store.cache import UncacheableWarning
    from .store.state import StateManager
    from .watch import Change, FileEvent, WatchApp, on_any, on_created, on_deleted, on_modified, run

# Areas loaded on first use, so that ``import ferroflow`` (and each process-executor
# worker, and the CLI) does not pay for flow files, reports, schedules or watching
# (pydantic among them) until they are needed.
_LAZY: dict[str, str] = {
    "UncacheableWarning": "store.cache",
    "DaskExecutor": "executors.dask",
    **dict.fromkeys(["FlowWorkflow", "Project", "load_flow"], "flowfiles.project"),
    **dict.fromkeys(
        [
            "FileReport",
            "PipelineReport",
            "ReportStatus",
            "StepReport",
            "bind_pipeline",
            "current_pipeline",
            "dump_report",
            "load_report",
            "pipeline_file",
            "pipeline_step",
        ],
        "reports",
    ),
    **dict.fromkeys(
        ["create_dashboard_app", "create_dashboard_routes", "run_with_dashboard", "stop_dashboard"], "dashboard"
    ),
    "next_fire_times": "scheduling.schedules",
    "StateManager": "store.state",
    **dict.fromkeys(
        ["Change", "FileEvent", "WatchApp", "on_any", "on_created", "on_deleted", "on_modified", "run"], "watch"
    ),
}

_moved.install()  # old module paths (``ferroflow.tasks``, ...) keep importing, with a warning


def __getattr__(name: str) -> _typing.Any:
    area = _LAZY.get(name)
    if area is None:
        if f"{__name__}.{name}" in _moved.MOVED:  # an old module path, as an attribute
            return _importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module 'ferroflow' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{area}", __name__), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DAG",
    "NOT_GATHERED",
    "AlreadyRunningError",
    "AsyncExecutor",
    "BaseExecutor",
    "Change",
    "CycleError",
    "DaskExecutor",
    "DuplicateTaskError",
    "Executor",
    "FerroflowError",
    "FileEvent",
    "FilePreviewError",
    "FileReport",
    "Flow",
    "FlowFileError",
    "FlowWorkflow",
    "JsonFormatter",
    "LogLevel",
    "PipelineReport",
    "ProcessExecutor",
    "Project",
    "QueryParamError",
    "ReportStatus",
    "RetryPolicy",
    "RunResult",
    "ScheduleError",
    "ScriptFailedError",
    "SequentialExecutor",
    "StateManager",
    "StepReport",
    "Store",
    "StoreError",
    "SyntaxProblem",
    "Task",
    "TaskCancelledError",
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
    "WatchHandlerError",
    "Workflow",
    "WorkflowError",
    "__version__",
    "bind_pipeline",
    "configure_logging",
    "create_dashboard_app",
    "create_dashboard_routes",
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
    "run_with_dashboard",
    "stop_dashboard",
    "task",
]
