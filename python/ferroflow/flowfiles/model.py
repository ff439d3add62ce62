"""Flow files: script pipelines declared in JSON, YAML or TOML.

A flow file names tasks that run scripts or commands (docs/guide/flow-files.md)::

    {"name": "daily", "params": {"date": "today"},
     "tasks": [
       {"id": "fetch", "script": "fetch.py", "args": {"date": "{date}"}},
       {"id": "report", "command": ["python", "-m", "mypkg.report"],
        "depends_on": ["fetch"], "env": {"MODE": "fast"}, "retries": 2, "timeout": 600}]}

The whole file is checked before anything runs: syntax, fields (Pydantic
models), duplicate ids, unknown dependencies (with a suggestion), cycles (with
their path) and missing scripts. Every problem is reported on its own line as
``file:line:col path: message``, for instance
``flows/daily.json:14:9 tasks[2].depends_on[0]: unknown task "fetc" (did you mean "fetch"?)``.

Task fields: ``id``; exactly one of ``script`` (found in the tasks folder; a
``.py`` runs with the current interpreter, anything else is executed directly)
or ``command`` (a list, or a string split like a shell would; a shell runs it
only with ``"shell": true``; a leading ``python``/``python3`` means the current
interpreter); optional ``description``, ``depends_on``, ``args`` (a list, or a
mapping turned into ``--key value``; ``true`` gives a bare ``--key``, ``false``
and ``null`` drop it), ``env``, ``retries``, ``retry_delay`` (seconds, default
1), ``timeout`` (seconds), ``workdir`` and ``allow_outside_tasks_dir`` (a
``script`` must lie inside the tasks folder unless this is ``true``).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "hello.json").write_text('{"tasks": [{"id": "hi", "command": "echo hi"}]}')
    >>> spec = parse_flow_file(folder / "hello.json")
    >>> spec.name, [t.id for t in spec.tasks]
    ('hello', ['hi'])
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .._core import Graph
from ..errors import CycleError, FlowFileError
from .positions import KEY, Path_, Positions, SyntaxProblem, parse_with_positions
from .shellops import shell_operator

__all__ = [
    "FLOW_SUFFIXES",
    "FlowSpec",
    "TaskSpec",
    "format_path",
    "parse_flow_file",
    "script_path",
]

FLOW_SUFFIXES: dict[str, str] = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}
_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"

Scalar = str | int | float | bool


def _check_scalar(value: Any, what: str) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"{what} must be a string, number or boolean, not {type(value).__name__}")


class TaskSpec(BaseModel):
    """One task of a flow file (see the module docstring for the fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200, pattern=_ID_PATTERN)
    description: str | None = None
    script: str | None = Field(default=None, min_length=1)
    command: list[str] | str | None = None
    shell: bool = False
    depends_on: list[str] = Field(default_factory=list)
    args: list[Scalar] | dict[str, Scalar | None] = Field(default_factory=list)
    env: dict[str, Scalar] = Field(default_factory=dict)
    retries: int = Field(default=0, ge=0, le=100)
    retry_delay: float = Field(default=1.0, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    workdir: str | None = Field(default=None, min_length=1)
    allow_outside_tasks_dir: bool = False

    @field_validator("args", mode="before")
    @classmethod
    def _args_shape(cls, value: Any) -> Any:
        if isinstance(value, list):
            for item in value:
                _check_scalar(item, "each argument")
            if any(item is None for item in value):
                raise ValueError("an argument in a list cannot be null")
        elif isinstance(value, dict):
            for item in value.values():
                _check_scalar(item, "each argument value")
        else:
            raise ValueError("args must be a list of arguments or a mapping of --key to value")  # noqa: TRY004 - pydantic reports ValueError only
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_shape(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("env must be a mapping of variable names to values")  # noqa: TRY004 - pydantic reports ValueError only
        for key, item in value.items():
            if item is None:
                raise ValueError(f"env variable {key!r} cannot be null")
            _check_scalar(item, f"env variable {key!r}")
        return value

    @field_validator("command", mode="before")
    @classmethod
    def _command_shape(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("command is empty")
            return value
        if isinstance(value, list):
            if not value:
                raise ValueError("command is an empty list")
            if not all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in value):
                raise ValueError("every word of a command list must be a string")
            return [str(item) for item in value]
        raise ValueError("command must be a list of words or a string")

    @model_validator(mode="after")
    def _script_or_command(self) -> TaskSpec:
        if (self.script is None) == (self.command is None):
            raise ValueError('a task needs exactly one of "script" or "command"')
        if self.shell and self.command is None:
            raise ValueError('"shell": true needs a "command" (a script never runs through a shell)')
        return self


class FlowSpec(BaseModel):
    """A whole flow file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, pattern=_ID_PATTERN)
    description: str | None = None
    version: str | None = None
    params: dict[str, Scalar | None] = Field(default_factory=dict)
    tasks: list[TaskSpec] = Field(min_length=1)
    _by_id: dict[str, TaskSpec] = PrivateAttr(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # YAML and TOML read `version: 1.0` as a number; it means the text "1.0".
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _params_shape(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("params must be a mapping of names to default values")  # noqa: TRY004 - pydantic reports ValueError only
        for key, item in value.items():
            _check_scalar(item, f"param {key!r}")
        return value

    def model_post_init(self, context: Any, /) -> None:
        """Index the tasks by id, once: :meth:`task` is a dict lookup, so loading stays linear."""
        by_id: dict[str, TaskSpec] = {}
        for t in self.tasks:
            by_id.setdefault(t.id, t)  # the first of a repeated id, as a scan would find it
        self._by_id = by_id

    def task(self, task_id: str) -> TaskSpec:
        """The task with this id (``KeyError`` if none)."""
        return self._by_id[task_id]


def format_path(loc: Path_) -> str:
    """A value path as text: ``("tasks", 2, "depends_on")`` → ``tasks[2].depends_on``.

    Example:
        >>> format_path(("tasks", 2, "depends_on", 0))
        'tasks[2].depends_on[0]'
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def display_path(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _Problems:
    """Collects problems with their positions."""

    def __init__(self, path: Path, positions: Positions, task_ids: Mapping[int, str] | None = None) -> None:
        self.shown = display_path(path)
        self.positions = positions
        self.task_ids: Mapping[int, str] = task_ids or {}
        self.items: list[tuple[tuple[int, int], str]] = []

    def where(self, loc: Path_) -> tuple[int, int]:
        loc = tuple(loc)
        while loc and loc not in self.positions:
            loc = loc[:-1]
        return self.positions.get(loc, (1, 1))

    def add(self, loc: Path_, message: str, *, at_key: bool = False) -> None:
        line, col = self.positions.get((*loc, KEY), self.where(loc)) if at_key else self.where(loc)
        self.items.append(((line, col), f"{self.shown}:{line}:{col} {format_path(loc)}{self._task(loc)}: {message}"))

    def _task(self, loc: Path_) -> str:
        """`` (task "fetch")`` for a place inside a task entry that has an id (its own id aside)."""
        if len(loc) < 2 or loc[0] != "tasks" or not isinstance(loc[1], int) or loc[2:3] == ("id",):
            return ""
        task_id = self.task_ids.get(loc[1])
        return f' (task "{task_id}")' if task_id is not None else ""

    def raise_if_any(self) -> None:
        if self.items:
            lines = [text for _, text in sorted(self.items, key=lambda item: item[0])]
            count = len(lines)
            head = f"invalid flow file {self.shown} ({count} problem{'s' if count > 1 else ''}):"
            raise FlowFileError("\n".join([head, *("  " + line for line in lines)]), lines)


def suggest(name: str, candidates: list[str]) -> str:
    """`` (did you mean "x"?)`` when a close candidate exists, else ``""``."""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _pydantic_problems(exc: ValidationError, problems: _Problems) -> None:
    field_names = {"tasks": set(TaskSpec.model_fields), "": set(FlowSpec.model_fields)}
    for err in exc.errors():
        loc: Path_ = tuple(err["loc"])
        kind = err["type"]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if kind == "missing":
            problems.add(loc[:-1], f'missing required field "{loc[-1]}"')
        elif kind == "extra_forbidden":
            known = sorted(field_names["tasks" if loc and loc[0] == "tasks" else ""])
            problems.add(loc, f'unknown field "{loc[-1]}"{suggest(str(loc[-1]), known)}', at_key=True)
        elif kind == "model_type" and loc[:1] == ("tasks",):
            problems.add(loc, 'a task is a mapping with an "id" and a "script" or "command"')
        elif kind == "string_pattern_mismatch":
            problems.add(loc, f"{err['input']!r} may only use letters, digits, '_', '-' and '.'")
        else:
            # Union members add their type name to the location; drop it.
            clean = tuple(p for p in loc if isinstance(p, int) or not ("[" in p or p in {"str", "list", "dict"}))
            problems.add(clean, msg[0].lower() + msg[1:] if msg else kind)


def parse_flow_file(path: str | os.PathLike[str], tasks_dir: str | os.PathLike[str] | None = None) -> FlowSpec:
    """Read and validate a flow file as a whole.

    Args:
        path: The flow file (``.json``, ``.yaml``/``.yml`` or ``.toml``).
        tasks_dir: The folder scripts are found in; ``None`` looks in ``./tasks``,
            then next to the flows folder, then next to the file.

    Returns:
        The validated flow; ``name`` defaults to the file name without suffix.

    Raises:
        FlowFileError: One line per problem in ``.problems``, each ``file:line:col path: message``.
    """
    file = Path(path)
    fmt = FLOW_SUFFIXES.get(file.suffix.lower())
    shown = display_path(file)
    if fmt is None:
        raise FlowFileError(f"{shown}: not a flow file (use {', '.join(FLOW_SUFFIXES)})")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowFileError(f"{shown}: no such flow file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowFileError(f"{shown}: cannot read the flow file: {exc}") from None
    try:
        data, positions = parse_with_positions(text, fmt)
    except SyntaxProblem as exc:
        line = f"{shown}:{exc.line}:{exc.col} (syntax): {exc.reason}"
        raise FlowFileError(f"invalid flow file {shown}:\n  {line}", [line]) from None
    except ModuleNotFoundError:
        raise FlowFileError(f"{shown}: YAML flow files need PyYAML: pip install 'ferroflow[yaml]'") from None
    raw = _raw_tasks(data) if isinstance(data, dict) else []
    problems = _Problems(file, positions, {task.index: task.id for task in raw if task.id is not None})
    if not isinstance(data, dict):
        problems.add((), 'a flow file holds a mapping with a "tasks" list')
        problems.raise_if_any()
    data = dict(data)
    data.setdefault("name", file.stem)
    spec: FlowSpec | None = None
    try:
        spec = FlowSpec.model_validate(data)
    except ValidationError as exc:
        _pydantic_problems(exc, problems)
    _check_graph(raw, problems)
    _check_scripts(raw, file, tasks_dir, problems)
    _check_commands(raw, problems)
    problems.raise_if_any()
    assert spec is not None
    return spec


class _RawTask:
    """The parts of one task entry the cross-checks need, read before (and
    independently of) model validation so that every problem is reported at once."""

    def __init__(self, index: int, entry: dict[str, Any]) -> None:
        self.index = index
        task_id = entry.get("id")
        self.id = task_id if isinstance(task_id, str) and task_id else None
        deps = entry.get("depends_on")
        self.depends_on = [(k, d) for k, d in enumerate(deps) if isinstance(d, str)] if isinstance(deps, list) else []
        script = entry.get("script")
        self.script = script if isinstance(script, str) and script else None
        self.allow_outside = entry.get("allow_outside_tasks_dir") is True
        command = entry.get("command")
        self.command = command if isinstance(command, str) else None
        self.shell = entry.get("shell") is True


def _raw_tasks(data: dict[str, Any]) -> list[_RawTask]:
    tasks = data.get("tasks")
    if not isinstance(tasks, list):
        return []
    return [_RawTask(n, entry) for n, entry in enumerate(tasks) if isinstance(entry, dict)]


def _check_graph(raw: list[_RawTask], problems: _Problems) -> None:
    seen: dict[str, int] = {}
    for task in raw:
        if task.id is None:
            continue
        if task.id in seen:
            first_line = problems.where(("tasks", seen[task.id], "id"))[0]
            problems.add(
                ("tasks", task.index, "id"), f'duplicate task id "{task.id}" (first defined on line {first_line})'
            )
        else:
            seen[task.id] = task.index
    ids = list(seen)
    edges: list[tuple[str, str]] = []
    deps_at: dict[tuple[str, str], tuple[int, int]] = {}
    clean = True
    for task in raw:
        for k, dep in task.depends_on:
            loc = ("tasks", task.index, "depends_on", k)
            if dep == task.id:
                problems.add(loc, f'cycle: task "{dep}" depends on itself ({dep} -> {dep})')
                clean = False
            elif dep not in seen:
                problems.add(loc, f'unknown task "{dep}"{suggest(dep, ids)}')
                clean = False
            elif task.id is not None and seen.get(task.id) == task.index:
                edges.append((dep, task.id))
                deps_at.setdefault((dep, task.id), (task.index, k))
    if not clean:
        return
    graph = Graph()
    try:
        graph.extend(ids, edges)
    except CycleError as exc:
        cycle = exc.cycle or []
        # Point at the dependency that closes the loop: the last hop of the path.
        hop = deps_at.get((cycle[-2], cycle[-1])) if len(cycle) >= 2 else None
        problems.add(("tasks", *hop[:1], "depends_on", *hop[1:]) if hop else ("tasks",), f"cycle: {' -> '.join(cycle)}")


def _check_commands(raw: list[_RawTask], problems: _Problems) -> None:
    """A ``command`` string using shell syntax must say ``"shell": true`` (it runs without a shell)."""
    for task in raw:
        if task.command is None or task.shell:
            continue
        operator = shell_operator(task.command)
        if operator is not None:
            problems.add(
                ("tasks", task.index, "command"),
                f'the command uses the shell syntax "{operator}" but runs without a shell, so it would '
                'reach the program as a plain argument: set "shell": true on the task to run it '
                "through /bin/sh, or quote it if it is meant literally",
            )


def resolve_tasks_dir(flow_file: Path, tasks_dir: str | os.PathLike[str] | None) -> Path:
    """The folder a flow's scripts are looked up in (see :func:`parse_flow_file`)."""
    if tasks_dir is not None:
        return Path(tasks_dir).resolve()
    candidates = [Path.cwd() / "tasks", flow_file.resolve().parent.parent / "tasks", flow_file.resolve().parent]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return candidates[0].resolve()


def _check_scripts(
    raw: list[_RawTask], file: Path, tasks_dir: str | os.PathLike[str] | None, problems: _Problems
) -> None:
    folder = resolve_tasks_dir(file, tasks_dir)
    for task in raw:
        if task.script is None:
            continue
        script = folder / task.script
        loc = ("tasks", task.index, "script")
        if not task.allow_outside and not _inside(script, folder):
            problems.add(loc, _outside_message(task.script, folder))
        elif not script.is_file():
            found = sorted(p.name for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
            problems.add(
                loc, f'script "{task.script}" not found in {display_path(folder)}{suggest(task.script, found)}'
            )
        elif script.suffix != ".py" and not os.access(script, os.X_OK):
            problems.add(loc, f'script "{task.script}" is not executable (chmod +x it, or use a .py script)')


def script_path(tasks_dir: Path, task: TaskSpec) -> Path:
    """Where the ``script`` of ``task`` is, refusing a path that leaves ``tasks_dir``.

    An absolute path, ``..`` or a symbolic link pointing out of the folder is
    refused unless the task sets ``"allow_outside_tasks_dir": true``.

    Raises:
        FlowFileError: The script lies outside the tasks folder.
    """
    assert task.script is not None
    script = tasks_dir / task.script
    if not task.allow_outside_tasks_dir and not _inside(script, tasks_dir):
        raise FlowFileError(f"task {task.id}: {_outside_message(task.script, tasks_dir)}")
    return script


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _outside_message(script: str, folder: Path) -> str:
    return (
        f'script "{script}" is outside the tasks folder {display_path(folder)}: '
        'move it there, or set "allow_outside_tasks_dir": true on the task to run it anyway'
    )


def check_placeholders(spec: FlowSpec, file: Path, available: Mapping[str, object]) -> None:
    """Fail when an ``{name}`` in args, env or command has no value.

    Raises:
        FlowFileError: one line per unknown placeholder, with its position.
    """
    from .scripts import placeholder_names

    missing = [
        (("tasks", n, *loc), name)
        for n, task in enumerate(spec.tasks)
        for loc, text in _templated_fields(task)
        for name in placeholder_names(text)
        if name not in available
    ]
    if not missing:
        return  # the file is read again for positions only when there is something to point at
    _, positions = parse_with_positions(file.read_text(encoding="utf-8"), FLOW_SUFFIXES[file.suffix.lower()])
    problems = _Problems(file, positions, {n: task.id for n, task in enumerate(spec.tasks)})
    names = sorted(available)
    for loc, name in missing:
        hint = suggest(name, names)
        problems.add(loc, f'no value for placeholder "{{{name}}}"{hint}: add it to "params" or pass --params')
    problems.raise_if_any()


def template_texts(task: TaskSpec) -> list[str]:
    """The texts of a task that may hold ``{name}`` placeholders (command, args, env, workdir)."""
    return [text for _, text in _templated_fields(task)]


def _templated_fields(task: TaskSpec) -> list[tuple[Path_, str]]:
    fields: list[tuple[Path_, str]] = []
    if isinstance(task.command, str):
        fields.append((("command",), task.command))
    elif task.command is not None:
        fields.extend((("command", k), word) for k, word in enumerate(task.command))
    if isinstance(task.args, list):
        fields.extend((("args", k), str(v)) for k, v in enumerate(task.args) if isinstance(v, str))
    else:
        fields.extend((("args", key), v) for key, v in task.args.items() if isinstance(v, str))
    fields.extend((("env", key), v) for key, v in task.env.items() if isinstance(v, str))
    if task.workdir is not None:
        fields.append((("workdir",), task.workdir))
    return fields
