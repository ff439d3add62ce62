"""Module paths from before the package layout still import, warn, and hand out the same objects."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MOVED: dict[str, str | tuple[str, ...]] = {
    "ferroflow.tasks": "ferroflow.engine.tasks",
    "ferroflow.retries": "ferroflow.engine.retries",
    "ferroflow.inputs": "ferroflow.engine.inputs",
    "ferroflow.workflow": "ferroflow.engine.workflow",
    "ferroflow.dag": "ferroflow.engine.dag",
    "ferroflow.flow": "ferroflow.engine.builder",
    "ferroflow.visualize": "ferroflow.engine.visualize",
    "ferroflow.executors.attempts": "ferroflow.engine.attempts",
    "ferroflow.cache": "ferroflow.store.cache",
    "ferroflow.state": "ferroflow.store.state",
    "ferroflow.flowfile": "ferroflow.flowfiles.model",
    "ferroflow.flowexec": "ferroflow.flowfiles.execute",
    "ferroflow.scripts": "ferroflow.flowfiles.scripts",
    "ferroflow.project": "ferroflow.flowfiles.project",
    "ferroflow.targets": "ferroflow.flowfiles.targets",
    "ferroflow.schedule": ("ferroflow.scheduling.schedules", "ferroflow.scheduling.table"),
    "ferroflow.daemon": "ferroflow.scheduling.daemon",
    "ferroflow.demo": "ferroflow.cli.demo_project",
}


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_path_warns_and_re_exports_the_new_module(old: str, new: str | tuple[str, ...]) -> None:
    homes = (new,) if isinstance(new, str) else new
    sys.modules.pop(old, None)
    parent, _, leaf = old.rpartition(".")
    vars(sys.modules[parent]).pop(leaf, None)
    with pytest.warns(DeprecationWarning, match=rf"^{old} is deprecated: import from {' or '.join(homes)} instead$"):
        module = importlib.import_module(old)
    for home in homes:
        target = importlib.import_module(home)
        names = list(target.__all__)
        assert names
        for name in names:
            assert getattr(module, name) is getattr(target, name), name
        # Names outside ``__all__`` resolve too (old code may have reached for them).
        private = [n for n in vars(target) if n.startswith("_") and not n.startswith("__")]
        assert all(
            getattr(module, n) is getattr(target, n)
            for n in private
            if n not in vars(importlib.import_module(homes[0])) or home == homes[0]
        )


def test_the_packages_keep_the_names_of_the_old_modules() -> None:
    import ferroflow.reports
    import ferroflow.store

    assert {"Store", "open_store", "DEFAULT_STORE", "RunDetail", "RunSummary", "TaskSummary"} <= set(
        ferroflow.store.__all__
    )
    assert {"PipelineReport", "StepReport", "pipeline_step", "load_report"} <= set(ferroflow.reports.__all__)
    from ferroflow.store import run_report

    for name in ("build_run_report", "report_from_rows"):
        with pytest.warns(DeprecationWarning, match=rf"ferroflow\.reports\.{name} is deprecated"):
            assert getattr(ferroflow.reports, name) is getattr(run_report, name)
    assert ferroflow.store.Store.__module__ == "ferroflow.store.store"


def test_the_warning_points_at_the_importing_line() -> None:
    code = "import ferroflow\nimport ferroflow.tasks\n"
    done = subprocess.run(
        [sys.executable, "-W", "default::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "<string>:2: DeprecationWarning: ferroflow.tasks is deprecated" in done.stderr


def test_the_table_of_old_paths_is_the_one_tested_here() -> None:
    from ferroflow import _moved

    assert _moved.MOVED == MOVED


def test_an_old_path_is_also_an_attribute_of_the_package() -> None:
    import ferroflow
    from ferroflow.engine import workflow

    sys.modules.pop("ferroflow.workflow", None)
    vars(ferroflow).pop("workflow", None)
    with pytest.warns(DeprecationWarning, match=r"ferroflow\.workflow is deprecated"):
        old = ferroflow.workflow  # type: ignore[attr-defined]
    assert old.Workflow is workflow.Workflow
    with pytest.raises(AttributeError):
        ferroflow.engine_tasks  # type: ignore[attr-defined]  # noqa: B018
