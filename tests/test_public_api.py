"""The public surface: everything importable from ``ferroflow``, ``__all__`` complete and sorted."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import ferroflow
import ferroflow.errors
import pytest

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


def test_import_stays_lean_and_areas_load_on_first_use() -> None:
    code = (
        "import sys, ferroflow\n"
        "heavy = [m for m in ('pydantic', 'ferroflow.flowfiles.project', 'ferroflow.watch', 'ferroflow.reports') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from ferroflow import Project, PipelineReport, WatchApp, next_fire_times\n"
        "assert 'pydantic' in sys.modules and Project.__module__ == 'ferroflow.flowfiles.project'\n"
        "print(ferroflow.__version__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ferroflow.__version__


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ferroflow.Nope  # noqa: B018
