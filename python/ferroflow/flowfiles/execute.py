"""How a validated flow file turns into processes, a plan and a bash script.

:class:`FlowDefinition` joins a :class:`~ferroflow.flowfiles.model.FlowSpec` with the
folders it runs against (tasks, working folder, output). It builds each task's
:class:`~ferroflow.flowfiles.scripts.CommandSpec` for a run, runs one task
(:class:`ScriptTaskRunner`, the function the engine calls) and writes the
``--dry-run`` bash script that does what the run would.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "hi.json").write_text('{"tasks": [{"id": "hi", "command": ["echo", "{who}"]}], "params": {"who": "you"}}')
    >>> flow = FlowDefinition.load(folder / "hi.json", output_dir=folder / "out")
    >>> values = flow.values(flow.merged_params({}), run_id="r1", tmp_dir=Path("/tmp/x"))
    >>> flow.command_for(flow.spec.tasks[0], values).argv
    ['echo', 'you']
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..context import current_task
from ..errors import TaskCancelledError
from ..processes import ProcessTree, process_start_time
from ..safetext import json_default
from .model import FlowSpec, TaskSpec, check_placeholders, parse_flow_file, resolve_tasks_dir, script_path
from .params import check_params
from .scripts import (
    PLACEHOLDER,
    CommandSpec,
    ScriptFailedError,
    fill_placeholders,
    fill_shell_placeholders,
    render_value,
    run_command,
    split_command,
)

__all__ = ["BUILTIN_PLACEHOLDERS", "FlowDefinition", "ScriptTaskRunner", "default_output_dir"]

logger = logging.getLogger("ferroflow.flow")

#: Placeholders every task can use besides the flow's params.
BUILTIN_PLACEHOLDERS = ("TMP_DIR", "OUTPUT_DIR", "FERROFLOW_RUN_ID", "FERROFLOW_FLOW")
_PYTHON_NAMES = {"python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}"}
_SENTINEL = "<<ferroflow {}>>"


def default_output_dir() -> Path:
    """``$FERROFLOW_OUTPUT_DIR`` or ``./ferroflow_output``."""
    return Path(os.environ.get("FERROFLOW_OUTPUT_DIR", "ferroflow_output"))


@dataclass(slots=True)
class FlowDefinition:
    """A validated flow plus the folders it runs against.

    Attributes:
        spec: The validated flow file.
        file: The flow file (absolute).
        tasks_dir: Where ``script`` names are found.
        base_dir: Working folder of tasks without ``workdir`` (the folder the
            flow was loaded from, i.e. where ``ferroflow`` started).
        output_dir: Receives the per-task logs and the dry-run script.
    """

    spec: FlowSpec
    file: Path
    tasks_dir: Path
    base_dir: Path
    output_dir: Path
    cancel: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def __reduce__(self) -> tuple[type[FlowDefinition], tuple[FlowSpec, Path, Path, Path, Path]]:
        # The cancel event stays in this process; a worker process gets its own.
        return (FlowDefinition, (self.spec, self.file, self.tasks_dir, self.base_dir, self.output_dir))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        tasks_dir: str | os.PathLike[str] | None = None,
        output_dir: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> FlowDefinition:
        """Parse and validate a flow file (see :func:`~ferroflow.flowfiles.model.parse_flow_file`)."""
        file = Path(path)
        spec = parse_flow_file(file, tasks_dir)
        return cls(
            spec=spec,
            file=file.resolve(),
            tasks_dir=resolve_tasks_dir(file, tasks_dir),
            base_dir=Path(base_dir).resolve() if base_dir is not None else Path.cwd().resolve(),
            output_dir=Path(output_dir if output_dir is not None else default_output_dir()).resolve(),
        )

    @property
    def name(self) -> str:
        """The flow's name."""
        return self.spec.name

    def merged_params(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """File defaults overridden by ``params``."""
        merged: dict[str, Any] = dict(self.spec.params)
        merged.update(params or {})
        return merged

    def param_names(self) -> set[str]:
        """The params the file declares or its placeholders use."""
        from .model import template_texts
        from .scripts import placeholder_names

        used = {name for task in self.spec.tasks for text in template_texts(task) for name in placeholder_names(text)}
        return (used | set(self.spec.params)) - set(BUILTIN_PLACEHOLDERS)

    def check(self, params: dict[str, Any]) -> None:
        """Fail before anything runs when a param is refused or a placeholder has no value.

        Raises:
            FerroflowError: A param value is refused (see :func:`~ferroflow.flowfiles.params.check_params`).
            FlowFileError: A placeholder has no value.
        """
        check_params(params)
        available = dict.fromkeys([*params, *BUILTIN_PLACEHOLDERS], "")
        check_placeholders(self.spec, self.file, available)

    def values(self, params: dict[str, Any], *, run_id: str, tmp_dir: Path) -> dict[str, Any]:
        """Placeholder values for one run (params plus the built-ins)."""
        values = dict(params)
        values.update(
            TMP_DIR=str(tmp_dir),
            OUTPUT_DIR=str(self.output_dir),
            FERROFLOW_RUN_ID=run_id,
            FERROFLOW_FLOW=self.name,
        )
        return values

    def command_for(self, task: TaskSpec, values: dict[str, Any]) -> CommandSpec:
        """The process of one task with its placeholders filled.

        Non-shell commands are argument lists, so a value can never become a
        command. In ``"shell": true`` commands no value is pasted into the
        line: each placeholder reads an environment variable, whatever the
        quoting around it (see :func:`~ferroflow.flowfiles.scripts.fill_shell_placeholders`).

        Raises:
            FlowFileError: The task's script lies outside the tasks folder without
                ``allow_outside_tasks_dir``.
        """
        args = [fill_placeholders(word, values) for word in _args_words(task)]
        env = {key: fill_placeholders(render_value(value), values) for key, value in task.env.items()}
        workdir = (
            (self.base_dir / fill_placeholders(task.workdir, values)).resolve()
            if task.workdir is not None
            else self.base_dir
        )
        if task.script is not None:
            script = script_path(self.tasks_dir, task)
            argv = [sys.executable, str(script), *args] if script.suffix == ".py" else [str(script), *args]
            return CommandSpec(argv=argv, env=env, cwd=workdir)
        assert task.command is not None
        if task.shell:
            if isinstance(task.command, str):
                line, value_env = fill_shell_placeholders(task.command, values)
            else:
                # Each list word is one shell word: its text is quoted, its placeholders read variables.
                parts = [fill_shell_placeholders(_quote_template(word), values) for word in task.command]
                line = " ".join(part for part, _ in parts)
                value_env = {k: v for _, part_env in parts for k, v in part_env.items()}
            if args:
                line = " ".join([line, *(shlex.quote(a) for a in args)])
            return CommandSpec(argv=[line], env={**value_env, **env}, cwd=workdir, shell=True)
        words = split_command(task.command)
        argv = [fill_placeholders(word, values) for word in words]
        if argv and argv[0] in _PYTHON_NAMES:
            argv[0] = sys.executable
        return CommandSpec(argv=[*argv, *args], env=env, cwd=workdir)

    def task_env(self, task: TaskSpec, params: dict[str, Any], *, run_id: str, tmp_dir: Path) -> dict[str, str]:
        """The ``TMP_DIR`` and ``FERROFLOW_*`` variables a task sees."""
        return {
            "TMP_DIR": str(tmp_dir),
            "FERROFLOW_RUN_ID": run_id,
            "FERROFLOW_FLOW": self.name,
            "FERROFLOW_TASK": task.id,
            "FERROFLOW_PARAMS": json.dumps(params, default=json_default, sort_keys=True),
            "FERROFLOW_OUTPUT_DIR": str(self.output_dir),
        }

    def log_paths(self, run_id: str, task_id: str, attempt: int) -> tuple[Path, Path]:
        """The stdout and stderr log files of one attempt."""
        folder = self.output_dir / "logs" / self.name / run_id
        suffix = "" if attempt <= 1 else f".{attempt}"
        return folder / f"{task_id}{suffix}.stdout.log", folder / f"{task_id}{suffix}.stderr.log"

    def layers(self) -> list[list[str]]:
        """Task ids in dependency layers (each after the previous one)."""
        from .._core import Graph

        graph = Graph()
        graph.extend([t.id for t in self.spec.tasks], [(d, t.id) for t in self.spec.tasks for d in t.depends_on])
        return graph.layers()

    def bash_script(self, params: dict[str, Any]) -> str:
        """A bash script doing what a run would, one task at a time in plan order.

        Every word is quoted with ``shlex.quote``; the script stops at the
        first failure (``set -euo pipefail``), retries like the run, applies
        timeouts with ``timeout`` and removes its ``TMP_DIR`` at the end.
        """
        # TMP_DIR's stand-in is absolute like the real folder, so a "workdir": "{TMP_DIR}" is not
        # joined to the base folder.
        sentinels = {"TMP_DIR": "/" + _SENTINEL.format("TMP_DIR"), "FERROFLOW_RUN_ID": _SENTINEL.format("RUN_ID")}
        values = dict(params)
        values.update(
            TMP_DIR=sentinels["TMP_DIR"],
            OUTPUT_DIR=str(self.output_dir),
            FERROFLOW_RUN_ID=sentinels["FERROFLOW_RUN_ID"],
            FERROFLOW_FLOW=self.name,
        )
        lines = [
            "#!/usr/bin/env bash",
            f"# Flow {self.name!r} from {self.file}: what `ferroflow run` would do, one task at a time.",
            "set -euo pipefail",
            "",
            f"export FERROFLOW_FLOW={shlex.quote(self.name)}",
            'export FERROFLOW_RUN_ID="dry-run-$(date +%Y%m%dT%H%M%S)-$$"',
            f"export FERROFLOW_PARAMS={shlex.quote(json.dumps(params, default=json_default, sort_keys=True))}",
            f"export FERROFLOW_OUTPUT_DIR={shlex.quote(str(self.output_dir))}",
            f'TMP_DIR="$(mktemp -d -t {shlex.quote("ferroflow-" + self.name + ".XXXXXX")})"',
            "export TMP_DIR",
            "trap 'rm -rf \"$TMP_DIR\"' EXIT",
            "",
            *_BASH_RETRY,
        ]
        order = [task_id for layer in self.layers() for task_id in layer]
        for n, task_id in enumerate(order, start=1):
            task = self.spec.task(task_id)
            cmd = self.command_for(task, values)
            after = ", ".join(task.depends_on) or "-"
            words = [
                "env",
                f"FERROFLOW_TASK={shlex.quote(task.id)}",
                *(f"{k}={_quote(v, sentinels)}" for k, v in cmd.env.items()),
            ]
            if task.timeout is not None:
                words += ["timeout", "--kill-after=3", f"{task.timeout:g}"]
            words += [_quote(w, sentinels) for w in cmd.popen_args()]
            if task.retries:
                words = ["ff_retry", str(task.retries), f"{task.retry_delay:g}", *words]
            lines += [
                "",
                f"# [{n}/{len(order)}] {task.id} (after: {after})"
                + (f" - {_one_line(task.description)}" if task.description else ""),
                f"(cd {_quote(str(cmd.cwd or self.base_dir), sentinels)} && {' '.join(words)})",
            ]
        lines.append("")
        return "\n".join(lines)


#: The dry-run script's retry helper, mirroring a task's ``retries`` and ``retry_delay``.
_BASH_RETRY = (
    "# ff_retry RETRIES DELAY CMD...: run CMD, retrying like the flow's retries",
    "ff_retry() {",
    '  local retries="$1" delay="$2" attempt=0',
    "  shift 2",
    '  until "$@"; do',
    "    attempt=$((attempt + 1))",
    '    if [ "$attempt" -gt "$retries" ]; then return 1; fi',
    '    sleep "$delay"',
    "  done",
    "}",
)


def _quote(word: str, sentinels: dict[str, str]) -> str:
    quoted = shlex.quote(word)
    for name, sentinel in sentinels.items():
        # The sentinel holds a space, so shlex.quote always single-quotes the word.
        quoted = quoted.replace(sentinel, f"'\"${name}\"'")
    return re.sub(r"^''(?=.)|(?<=.)''$", "", quoted)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quote_template(word: str) -> str:
    """``word`` as one single-quoted shell word, its placeholders and ``{{``/``}}`` left as they are."""
    pieces: list[str] = []
    pos = 0
    for match in PLACEHOLDER.finditer(word):
        pieces += [_single_quoted(word[pos : match.start()]), match.group(0)]
        pos = match.end()
    pieces.append(_single_quoted(word[pos:]))
    return "".join(pieces) or "''"


def _single_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'" if text else ""


def _args_words(task: TaskSpec) -> list[str]:
    if isinstance(task.args, list):
        return [render_value(a) for a in task.args]
    words: list[str] = []
    for key, value in task.args.items():
        flag = key if key.startswith("-") else f"--{key}"
        if value is None or value is False:
            continue
        if value is True:
            words.append(flag)
        else:
            words += [flag, render_value(value)]
    return words


class ScriptTaskRunner:
    """The function the engine runs for one script/command task.

    It reads the run id and params from the task context, fills the
    placeholders, runs the process (logs to files), records a summary in the
    task's captured logs and returns it; a non-zero exit raises
    :class:`~ferroflow.flowfiles.scripts.ScriptFailedError`.
    """

    def __init__(self, flow: FlowDefinition, task: TaskSpec, tmp_holder: dict[str, Any]) -> None:
        self.flow = flow
        self.task = task
        self.tmp_holder = tmp_holder
        self.__name__ = task.id
        self.__qualname__ = task.id
        self.__doc__ = task.description

    def __getstate__(self) -> dict[str, Any]:
        # A worker process gets the store as its path and opens it there.
        state = dict(self.__dict__)
        holder = dict(self.tmp_holder)
        store = holder.get("store")
        if store is not None and not isinstance(store, str | os.PathLike):
            holder["store"] = store.path
        state["tmp_holder"] = holder
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __call__(self) -> dict[str, object]:
        ctx = current_task()
        run_id = ctx.run_id if ctx is not None else "adhoc"
        attempt = ctx.attempt if ctx is not None else 1
        params = self.flow.merged_params(ctx.params if ctx is not None else None)
        tmp_dir = self._tmp_dir(run_id)
        cmd = self.flow.command_for(self.task, self.flow.values(params, run_id=run_id, tmp_dir=tmp_dir))
        cmd.env = {**self.flow.task_env(self.task, params, run_id=run_id, tmp_dir=tmp_dir), **cmd.env}
        stdout_path, stderr_path = self.flow.log_paths(run_id, self.task.id, attempt)
        logger.debug("task %s: %s", self.task.id, " ".join(shlex.quote(w) for w in cmd.popen_args()))
        started = time.monotonic()
        outcome = run_command(
            cmd,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
            timeout=self.task.timeout,
            cancel=self.flow.cancel,
            name=self.task.id,
            on_start=lambda tree: self._record(run_id, tmp_dir, tree),
        )
        summary = outcome.summary()
        if ctx is not None:
            ctx.logs.append(
                f"exit {outcome.exit_code} after {time.monotonic() - started:.2f}s; "
                f"stdout {outcome.stdout_bytes} B -> {stdout_path}; stderr {outcome.stderr_bytes} B -> {stderr_path}"
            )
            if outcome.stdout_tail:
                ctx.logs.append("stdout (tail):\n" + outcome.stdout_tail)
            if outcome.stderr_tail:
                ctx.logs.append("stderr (tail):\n" + outcome.stderr_tail)
        if outcome.cancelled:
            raise TaskCancelledError(
                f"task {self.task.id!r} was stopped by a cancel of the run ({outcome.tree_state()})"
            )
        if outcome.exit_code != 0:
            raise ScriptFailedError(self.task.id, outcome.exit_code, outcome.stderr_tail[-1500:], str(stderr_path))
        return summary

    def _record(self, run_id: str, tmp_dir: Path, tree: ProcessTree) -> None:
        """Record the started process in the run's store, so that a resume can stop it if the run dies."""
        store = self.tmp_holder.get("store")
        if store is None or tree.leader is None:
            return
        from ..store.leftovers import RunProcess
        from ..store.store import open_store

        store = open_store(store)
        assert store is not None

        self.tmp_holder.setdefault("run_ids", set()).add(run_id)
        process = RunProcess(tree.token, tree.leader, process_start_time(tree.leader), str(tmp_dir))
        store.record_process(run_id, self.task.id, process)

    def _tmp_dir(self, run_id: str) -> Path:
        folder = self.tmp_holder.get("path")
        if folder is None:
            # Called outside FlowWorkflow.run (e.g. task() in a test): a private folder.
            import tempfile

            folder = Path(tempfile.mkdtemp(prefix=f"ferroflow-{self.flow.name}-{run_id}-"))
            self.tmp_holder["path"] = folder
        return folder
