"""Projects: a flows folder, a tasks folder and an output folder; and ``load_flow``.

:func:`load_flow` turns a flow file into a :class:`FlowWorkflow`, a
``Workflow`` whose tasks run scripts and commands (see :mod:`ferroflow.flowfiles.model`
and :mod:`ferroflow.flowfiles.execute`). Its ``run()`` merges params (file defaults,
then the given ones), checks every placeholder, creates the run's ``TMP_DIR``
(a fresh folder in the system temp dir, shared by the run's tasks) and removes
it at the end. Independent tasks run in parallel (``max_workers``).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "flows").mkdir()
    >>> _ = (root / "flows" / "hello.json").write_text(
    ...     '{"params": {"who": "world"}, "tasks": [{"id": "greet", "command": ["echo", "hello {who}"]}]}')
    >>> project = Project(root / "flows", root / "tasks", root / "out", store=None)
    >>> project.list_flows()
    ['hello']
    >>> result = project.run_flow("hello", params={"who": "you"})
    >>> result.status, result["greet"]["stdout_tail"]
    ('completed', 'hello you')
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.plan import RunOptions
from ..engine.tasks import Task, registry
from ..engine.workflow import Workflow
from ..errors import FerroflowError, FlowFileError
from ..results import RunResult, TaskRecord
from ..store.store import DEFAULT_STORE, Store, open_store
from .execute import FlowDefinition, ScriptTaskRunner, default_output_dir
from .model import FLOW_SUFFIXES, display_path, suggest
from .positions import SyntaxProblem, parse_with_positions

__all__ = ["DryRun", "FlowWorkflow", "Project", "Target", "load_flow"]

logger = logging.getLogger("ferroflow.flow")


@dataclass(slots=True)
class Target:
    """A resolved target.

    Attributes:
        kind: ``"flow"`` (by name), ``"file"`` (a flow file) or ``"python"``.
        spec: The text as given.
        path: The flow file or Python file, when there is one.
        module: ``module`` of a ``module[:attr]`` target.
        attr: The attribute, if named.
    """

    kind: str
    spec: str
    path: Path | None = None
    module: str | None = None
    attr: str | None = None

    @property
    def schedule_target(self) -> str:
        """How a schedule stores this target (absolute paths for files)."""
        if self.kind == "flow":
            return self.spec
        if self.path is not None:
            return str(self.path.resolve()) + (f":{self.attr}" if self.attr else "")
        return self.spec


class FlowWorkflow(Workflow):
    """A ``Workflow`` built from a flow file; each task runs a script or command.

    Attributes:
        flow: The validated flow and its folders.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> file = Path(tempfile.mkdtemp()) / "one.toml"
        >>> _ = file.write_text('[[tasks]]\\nid = "hi"\\ncommand = ["echo", "hi"]\\n')
        >>> workflow = load_flow(file, output_dir=file.parent / "out")
        >>> workflow.run(store=None)["hi"]["exit_code"]
        0
    """

    def __init__(self, flow: FlowDefinition) -> None:
        super().__init__(flow.name)
        self.flow = flow
        self.description = flow.spec.description
        self._tmp: dict[str, Any] = {}
        self._run_lock = threading.Lock()
        for task_id in (t for layer in flow.layers() for t in layer):
            spec = flow.spec.task(task_id)
            runner = ScriptTaskRunner(flow, spec, self._tmp)
            task = Task(
                fn=runner,
                name=spec.id,
                retries=spec.retries,
                delay=spec.retry_delay,
                backoff=1.0,
                jitter=0.0,
                description=spec.description,
            )
            # Flow-file tasks belong to this workflow only, not to the default DAG registry.
            registry.unregister(task)
            self.add_task(task, depends_on=list(spec.depends_on))

    def _run(self, options: RunOptions) -> RunResult:
        """Run the flow with the keywords of ``Workflow.run``; placeholders are checked first.

        ``params`` override the file's defaults. Runs of one ``FlowWorkflow``
        object happen one at a time (they share the object's ``TMP_DIR`` slot);
        load the file again for concurrent runs. An interrupted run stops every
        script process tree it started.

        Raises:
            FlowFileError: A placeholder has no value (nothing ran).
            WorkflowError: A task failed (unless ``raise_on_failure=False``).
        """
        merged = self.flow.merged_params(dict(options.params or {}))
        self.flow.check(merged)
        options.params = merged
        if self.flow.cancel.is_set():
            self.flow.cancel = threading.Event()  # an earlier run was cancelled; this one starts afresh
        try:
            with self._run_lock:
                tmp_dir = Path(tempfile.mkdtemp(prefix=f"ferroflow-{self.flow.name}-"))
                store = open_store(options.store)
                self._tmp.update(path=tmp_dir, store=store, run_ids=set())
                try:
                    result = super()._run(options)
                    self._tmp["run_ids"].add(result.run_id)  # also when the tasks ran in worker processes
                    return result
                finally:
                    self._end_run(tmp_dir, store)
        except BaseException:
            # Failed or interrupted (Ctrl+C, SIGTERM): no script process tree may outlive the run.
            self.flow.cancel.set()
            raise

    def _end_run(self, tmp_dir: Path, store: Store | None) -> None:
        """Remove the ``TMP_DIR``; every script tree has stopped, so forget the processes recorded."""
        run_ids: set[str] = self._tmp.pop("run_ids", set())
        self._tmp.pop("path", None)
        self._tmp.pop("store", None)
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if store is not None:
            for run_id in run_ids:
                try:
                    store.forget_processes(run_id)
                except FerroflowError as exc:  # the run's outcome matters more than this bookkeeping
                    logger.warning("run %s: could not forget its processes in the store: %s", run_id, exc)

    def dry_run(self, params: dict[str, Any] | None = None) -> DryRun:
        """Write the equivalent bash script to the output folder; run nothing."""
        merged = self.flow.merged_params(params)
        self.flow.check(merged)
        script = self.flow.bash_script(merged)
        path = self.flow.output_dir / f"{self.flow.name}.dry-run.sh"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".sh.tmp")
        tmp.write_text(script, encoding="utf-8")
        tmp.chmod(0o755)
        os.replace(tmp, path)
        layers = [[self.flow.spec.task(t) for t in layer] for layer in self.flow.layers()]
        values = self.flow.values(merged, run_id="$FERROFLOW_RUN_ID", tmp_dir=Path("$TMP_DIR"))
        plan = [[(t.id, t.depends_on, self.flow.command_for(t, values).as_bash()) for t in layer] for layer in layers]
        return DryRun(flow=self.flow.name, params=merged, plan=plan, script_path=path, script=script)


@dataclass(slots=True)
class DryRun:
    """What ``--dry-run`` produced.

    Attributes:
        flow: The flow's name.
        params: The merged params.
        plan: Layers of ``(task id, depends_on, command as bash)``.
        script_path: The bash script written.
        script: Its text.
    """

    flow: str
    params: dict[str, Any]
    plan: list[list[tuple[str, list[str], str]]]
    script_path: Path
    script: str


def load_flow(
    path: str | os.PathLike[str],
    *,
    tasks_dir: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
) -> FlowWorkflow:
    """Validate a flow file and build its workflow.

    Args:
        path: The flow file (``.json``, ``.yaml``/``.yml``, ``.toml``).
        tasks_dir: Folder of the scripts (default: ``./tasks``, then ``tasks/``
            next to the flows folder, then the flow file's folder).
        output_dir: Folder for task logs and dry-run scripts (default ``./ferroflow_output``).

    Returns:
        A ``Workflow``; tasks run in the current working folder unless they set ``workdir``.

    Raises:
        FlowFileError: Every problem of the file, one ``file:line:col path: message`` per line.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> file = Path(tempfile.mkdtemp()) / "two.yaml"
        >>> _ = file.write_text("tasks:\\n  - {id: a, command: 'true'}\\n  - {id: b, command: 'true', depends_on: [a]}\\n")
        >>> [[t.name for t in layer] for layer in load_flow(file).get_execution_plan()]
        [['a'], ['b']]
    """
    return FlowWorkflow(FlowDefinition.load(path, tasks_dir=tasks_dir, output_dir=output_dir))


class Project:
    """A folder layout for flow files.

    Args:
        flows_dir: Folder of the flow files (``NAME.json``/``.yaml``/``.yml``/``.toml``).
        tasks_dir: Folder of the scripts the flows name.
        output_dir: Folder for task logs and dry-run scripts.
        store: Where runs are recorded (default: the default store; ``None``: nowhere).

    Example:
        >>> Project().flows_dir.name
        'flows'
    """

    def __init__(
        self,
        flows_dir: str | os.PathLike[str] = "flows",
        tasks_dir: str | os.PathLike[str] = "tasks",
        output_dir: str | os.PathLike[str] | None = None,
        *,
        store: Any = DEFAULT_STORE,
    ) -> None:
        self.flows_dir = Path(flows_dir)
        self.tasks_dir = Path(tasks_dir)
        self.output_dir = Path(output_dir) if output_dir is not None else default_output_dir()
        self.store = store

    def flow_files(self) -> dict[str, Path]:
        """Flow name (the file name without suffix) to file, sorted by name.

        When two files share a name (``daily.json`` and ``daily.yaml``) the first
        in name order is listed; :meth:`flow_path` refuses the ambiguous name.
        """
        return {name: paths[0] for name, paths in self._files_by_name().items()}

    def ambiguous(self, name: str) -> list[Path]:
        """The files defining flow ``name`` when there is more than one, else ``[]``."""
        paths = self._files_by_name().get(name, [])
        return paths if len(paths) > 1 else []

    def _files_by_name(self) -> dict[str, list[Path]]:
        if not self.flows_dir.is_dir():
            return {}
        files = sorted(p for p in self.flows_dir.iterdir() if p.suffix.lower() in FLOW_SUFFIXES and p.is_file())
        out: dict[str, list[Path]] = {}
        for path in files:
            out.setdefault(path.stem, []).append(path)
        return out

    def declared_names(self) -> dict[Path, str]:
        """The ``name`` each flow file declares, where it differs from its file name.

        A file that cannot be read or parsed declares nothing here (its problem is
        reported when it is loaded).
        """
        out: dict[Path, str] = {}
        for paths in self._files_by_name().values():
            for path in paths:
                name = _declared_name(path)
                if name is not None and name != path.stem:
                    out[path] = name
        return out

    def candidates(self, name: str) -> list[Path]:
        """Every flow file that ``name`` may mean: by file name, or by the ``name`` it declares."""
        found = list(self._files_by_name().get(name, []))
        found += [path for path, declared in self.declared_names().items() if declared == name and path not in found]
        return found

    def find_flow(self, name: str) -> Path | None:
        """The flow file ``name`` means (its file name or its declared ``name``), if any.

        Raises:
            FlowFileError: More than one file answers to ``name``.
        """
        self.check_unique(name)
        found = self.candidates(name)
        return found[0] if found else None

    def check_unique(self, name: str) -> None:
        """Refuse a flow name two files answer to (by file name or declared ``name``).

        Raises:
            FlowFileError: Naming both files.
        """
        paths = self.candidates(name)
        if len(paths) > 1:
            declared = self.declared_names()
            shown = " and ".join(
                display_path(p) + (f' (which declares "name": "{declared[p]}")' if p in declared else "") for p in paths
            )
            raise FlowFileError(
                f'flow "{name}" is defined twice ({shown}); rename or remove one, or run the file by its path'
            )

    def list_flows(self) -> list[str]:
        """The names of the flows in the flows folder, sorted."""
        return list(self.flow_files())

    def flow_path(self, name: str) -> Path:
        """The file of flow ``name``.

        Raises:
            FlowFileError: No such flow; the message lists the ones that exist.
        """
        found = self.find_flow(name)
        if found is not None:
            return found
        names = sorted({*self.flow_files(), *self.declared_names().values()})
        known = ", ".join(names) if names else "none"
        raise FlowFileError(
            f'no flow named "{name}" in {display_path(self.flows_dir)}{suggest(name, names)}; available: {known}'
        )

    def load_flow(self, name_or_path: str | os.PathLike[str]) -> FlowWorkflow:
        """Load a flow by name (or a flow file path) with this project's folders."""
        text = str(name_or_path)
        path = Path(text) if Path(text).suffix.lower() in FLOW_SUFFIXES else self.flow_path(text)
        return load_flow(path, tasks_dir=self.tasks_dir, output_dir=self.output_dir)

    def load(self, target: Target) -> FlowWorkflow:
        """Load a resolved flow target (by name or file)."""
        assert target.path is not None
        return load_flow(target.path, tasks_dir=self.tasks_dir, output_dir=self.output_dir)

    def run_flow(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        dry_run: bool = False,
        *,
        max_workers: int | None = None,
        executor: str = "thread",
        resume: str | bool | None = None,
        raise_on_failure: bool = True,
        progress: Callable[[TaskRecord], object] | None = None,
    ) -> RunResult | DryRun:
        """Run a flow by name (or write its dry-run script).

        Returns:
            The ``RunResult``, or a :class:`DryRun` with ``dry_run=True``.

        Raises:
            FlowFileError: Unknown flow or invalid file (nothing ran).
            WorkflowError: A task failed (unless ``raise_on_failure=False``).
        """
        workflow = self.load_flow(name)
        if dry_run:
            return workflow.dry_run(params)
        return workflow.run(
            executor=executor,
            max_workers=max_workers,
            params=params,
            resume=resume,
            store=self.store,
            raise_on_failure=raise_on_failure,
            progress=progress,
        )


def _declared_name(path: Path) -> str | None:
    """The ``name`` a flow file declares, read without validating the rest; None if none or unreadable."""
    try:
        data, _ = parse_with_positions(path.read_text(encoding="utf-8"), FLOW_SUFFIXES[path.suffix.lower()])
    except (OSError, UnicodeDecodeError, SyntaxProblem, ModuleNotFoundError, RecursionError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None
