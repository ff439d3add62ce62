"""The public surface: everything importable from ``ferroflow``, ``__all__`` complete and sorted."""

from __future__ import annotations

import inspect
import types

import ferroflow
import ferroflow.errors

SPEC_NAMES = {
    # tasks and workflows
    "task", "Task", "Workflow", "DAG", "Flow", "registry", "TaskStatus", "RunResult",
    # executors
    "SequentialExecutor", "ThreadedExecutor", "ProcessExecutor", "AsyncExecutor",
    # watching
    "Change", "FileEvent", "WatchApp", "on_created", "on_modified", "on_deleted", "on_any", "run",
    # reports
    "StepReport", "FileReport", "PipelineReport", "ReportStatus", "pipeline_step", "pipeline_file",
    "bind_pipeline", "dump_report",
    # state, logging, flow files, schedules
    "StateManager", "configure_logging", "LogLevel", "JsonFormatter", "load_flow", "Project", "next_fire_times",
    # errors
    "FerroflowError", "CycleError", "UnknownDependencyError", "DuplicateTaskError", "WorkflowError",
    "TaskTimeoutError", "FlowFileError", "ScheduleError", "StoreError",
}  # fmt: skip


def test_every_name_the_spec_lists_is_exported() -> None:
    missing = SPEC_NAMES - set(ferroflow.__all__)
    assert not missing


def test_all_is_sorted_unique_and_resolvable() -> None:
    names = ferroflow.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(ferroflow, name), name


def test_all_lists_every_public_name_of_the_package() -> None:
    public = {
        name
        for name, value in vars(ferroflow).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public <= set(ferroflow.__all__), public - set(ferroflow.__all__)


def test_exceptions_live_in_errors_and_subclass_the_base() -> None:
    for name in ferroflow.errors.__all__:
        cls = getattr(ferroflow.errors, name)
        assert getattr(ferroflow, name) is cls
        assert issubclass(cls, ferroflow.errors.FerroflowError)
    for name in ("CycleError", "UnknownDependencyError", "DuplicateTaskError"):
        assert issubclass(getattr(ferroflow, name), ValueError)
    assert issubclass(ferroflow.WorkflowError, RuntimeError)


def test_public_callables_have_docstrings() -> None:
    for name in ferroflow.__all__:
        value = getattr(ferroflow, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
