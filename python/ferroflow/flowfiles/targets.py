"""What ``ferroflow run TARGET`` can run, found and loaded.

A target is, in this order of precedence:

1. a flow file (a path ending in ``.json``, ``.yaml``, ``.yml`` or ``.toml``);
2. a Python file (``pipeline.py`` or ``pipeline.py:attr``);
3. a flow name in the project's flows folder;
4. a module, optionally with an attribute (``mypkg.flows:nightly``).

A Python target may name (or hold exactly one module-level) ``Workflow``,
``DAG`` or ``Flow``; a module that registers watch handlers is a watch target.
Importing user code adds its folder (or the working folder for modules) to
``sys.path``.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "flows").mkdir(), (folder / "flows" / "hi.json").write_text('{"tasks": [{"id": "a", "command": "true"}]}')
    >>> resolve_target("hi", Project(flows_dir=folder / "flows")).kind
    'flow'
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..context import LOADING_TARGET
from ..errors import FerroflowError, FlowFileError
from ..safetext import describe_error
from .model import FLOW_SUFFIXES, display_path, suggest
from .project import Project, Target

__all__ = [
    "PythonTarget",
    "Target",
    "check_schedulable",
    "load_python_target",
    "resolve_target",
    "run_scheduled",
]

_MODULE_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*(:[A-Za-z_][\w.]*)?$")


def resolve_target(spec: str, project: Project) -> Target:
    """Decide what ``spec`` names (see the module docstring).

    Raises:
        FlowFileError: Nothing matches; lists the flows that exist.
    """
    path_part, _, attr = spec.partition(":") if spec.count(":") == 1 and not os.path.exists(spec) else (spec, "", "")
    path = Path(path_part)
    if path.suffix.lower() in FLOW_SUFFIXES:
        if not path.is_file():
            raise FlowFileError(f"{spec}: no such flow file")
        return Target("file", spec, path=path)
    if path.suffix == ".py":
        if not path.is_file():
            raise FlowFileError(f"{path_part}: no such Python file")
        return Target("python", spec, path=path, attr=attr or None)
    found = project.find_flow(spec)
    if found is not None:
        return Target("flow", spec, path=found)
    if _MODULE_RE.match(spec) and _module_exists(spec.split(":")[0]):
        module, _, attr = spec.partition(":")
        return Target("python", spec, module=module, attr=attr or None)
    names = sorted({*project.flow_files(), *project.declared_names().values()})
    known = ", ".join(names) if names else f"none: {display_path(project.flows_dir)} holds no flow files"
    raise FlowFileError(
        f'unknown flow or target "{spec}"{suggest(spec, names)}; flows in {display_path(project.flows_dir)}: {known}. '
        "A target is a flow name, a flow file, a .py file or a module[:attr]"
    )


def _module_exists(name: str) -> bool:
    _add_path(Path.cwd())
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    # A plain folder (a namespace package, such as ./flows) holds no code to run;
    # the user most likely meant a flow, so it must not shadow the "unknown flow" message.
    return spec is not None and spec.origin is not None


_PATH_LOCK = threading.Lock()


def _add_path(folder: Path) -> None:
    entry = str(folder.resolve())
    with _PATH_LOCK:
        if entry not in sys.path:
            sys.path.insert(0, entry)


@dataclass(slots=True)
class PythonTarget:
    """A loaded Python target.

    Attributes:
        runnable: The ``Workflow``/``DAG``/``Flow`` to run, if any.
        watch_app: The ``WatchApp`` to run when handlers were registered.
        name: Display name of the runnable.
    """

    runnable: Any = None
    watch_app: Any = None
    name: str = ""


def _runnable_types() -> tuple[type, ...]:
    from ..engine.builder import Flow
    from ..engine.dag import DAG
    from ..engine.workflow import Workflow

    return (Workflow, DAG, Flow)


def _import_user_code(target: Target) -> Any:
    """Import the module of a Python target, turning its errors into one clear line."""
    try:
        if target.path is not None:
            path = target.path.resolve()
            _add_path(path.parent)
            name = path.stem
            taken = name in sys.modules and getattr(sys.modules[name], "__file__", None) != str(path)
            by_value = taken or not name.isidentifier()
            if by_value:
                # No import by its own name can find this file again (my-flow.py, or a name
                # already taken such as json.py): use a private name, and let worker
                # processes receive its functions by value instead of by reference.
                name = "ferroflow_target_" + "".join(c if c.isalnum() else "_" for c in path.stem)
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise FlowFileError(f"{target.path}: cannot import this file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            if by_value:
                import cloudpickle

                cloudpickle.register_pickle_by_value(module)
            spec.loader.exec_module(module)
            return module
        _add_path(Path.cwd())
        assert target.module is not None
        return importlib.import_module(target.module)
    except FerroflowError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - user code: any error is reported, with where
        frames = traceback.extract_tb(exc.__traceback__)
        where = next(
            (f"{display_path(Path(f.filename))}:{f.lineno}" for f in reversed(frames) if "ferroflow" not in f.filename),
            "",
        )
        at = f" (at {where})" if where else ""
        raise FlowFileError(f"cannot import {target.spec}: {describe_error(exc)}{at}") from None


def load_python_target(target: Target) -> PythonTarget:
    """Import a Python target and find what to run (a workflow or the watch handlers).

    Raises:
        FlowFileError: Import failed, the attribute is missing or not runnable,
            or there is no single module-level workflow (the candidates are listed).
    """
    watch = _watch_module()
    if watch is not None:
        watch.reset_default_app()
    token = LOADING_TARGET.set(target.spec)
    try:
        module = _import_user_code(target)
    finally:
        LOADING_TARGET.reset(token)
    kinds = _runnable_types()
    if target.attr:
        obj: Any = module
        for part in target.attr.split("."):
            if not hasattr(obj, part):
                raise FlowFileError(f"{target.spec}: {type(obj).__name__} has no attribute {part!r}")
            obj = getattr(obj, part)
        if watch is not None and isinstance(obj, watch.WatchApp):
            return PythonTarget(watch_app=obj, name=target.attr)
        if not isinstance(obj, kinds):
            raise FlowFileError(f"{target.spec} is a {type(obj).__name__}, not a Workflow, DAG, Flow or WatchApp")
        return PythonTarget(runnable=obj, name=target.attr)
    found: dict[int, tuple[str, Any]] = {}
    for name, value in vars(module).items():
        if not name.startswith("_") and isinstance(value, kinds):
            found.setdefault(id(value), (name, value))
    if watch is not None and watch.default_app().handlers:
        return PythonTarget(watch_app=watch.default_app(), name=target.spec)
    if len(found) == 1:
        name, value = next(iter(found.values()))
        return PythonTarget(runnable=value, name=name)
    if not found:
        raise FlowFileError(f"{target.spec} defines no Workflow, DAG or Flow at module level and no watch handlers")
    names = sorted(n for n, _ in found.values())
    raise FlowFileError(
        f"{target.spec} defines several workflows ({', '.join(names)}); pick one with {target.spec}:{names[0]}"
    )


def _watch_module() -> Any:
    try:
        from .. import watch
    except ImportError:
        return None
    return watch


def as_workflow(runnable: Any) -> Any:
    """The ``Workflow`` behind a ``Workflow``, ``DAG`` or ``Flow``."""
    from ..engine.workflow import Workflow

    if isinstance(runnable, Workflow):
        return runnable
    for attr in ("workflow", "to_workflow"):
        value = getattr(runnable, attr, None)
        if callable(value):
            value = value()
        if isinstance(value, Workflow):
            return value
    raise FerroflowError(f"cannot run a {type(runnable).__name__}")


def check_schedulable(target: Target, project: Project, params: dict[str, Any]) -> None:
    """Load ``target`` as a scheduled run would, so no schedule stores one that cannot run.

    Raises:
        FlowFileError: An invalid flow file, a missing placeholder, a Python target
            that does not import, holds no single workflow, or only watches.
    """
    if target.kind in ("flow", "file"):
        workflow = project.load(target)
        workflow.flow.check(workflow.flow.merged_params(params))
        return
    if load_python_target(target).runnable is None:
        raise FlowFileError(f"{target.spec} registers watch handlers; only a workflow can be scheduled")


def run_scheduled(schedule: Any, store: Any, cancel: threading.Event | None = None) -> tuple[str | None, str]:
    """Run a schedule's target once (in the scheduler's child process); returns ``(run_id, status)``."""
    workdir = Path(schedule.workdir)
    os.chdir(workdir)
    project = Project(
        flows_dir=workdir / schedule.flows_dir,
        tasks_dir=workdir / schedule.tasks_dir,
        output_dir=workdir / schedule.output_dir,
        store=store,
    )
    target = resolve_target(schedule.target, project)
    if target.kind in ("flow", "file"):
        workflow = project.load(target)
        if cancel is not None:
            workflow.flow.cancel = cancel
        result = workflow.run(params=schedule.params, store=store, raise_on_failure=False)
    else:
        loaded = load_python_target(target)
        if loaded.runnable is None:
            raise FlowFileError(f"{schedule.target} is a watch target; it cannot be scheduled")
        result = as_workflow(loaded.runnable).run(params=schedule.params or None, store=store, raise_on_failure=False)
    return result.run_id, result.status
