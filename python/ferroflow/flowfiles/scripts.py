"""Script and command tasks: subprocesses without a shell, logged to files, killed as a tree.

A flow file's task becomes a :class:`CommandSpec` (argv, env, working folder).
:func:`run_command` starts it in its own session (so it leads a fresh process
group), points its stdout and stderr straight at two log files (the child
writes them itself, so no amount of output can fill a pipe and deadlock), and
waits. On timeout or cancel its whole process tree gets ``SIGTERM``, then
after a grace period ``SIGKILL``: no grandchild survives, even one that left
the process group (see :class:`~ferroflow.processes.ProcessTree`); where one
could not be stopped, the outcome and the message say so.

Nothing here goes through a shell unless a task asks for ``"shell": true``;
arguments are passed as a list, so a crafted argument is only ever an
argument.

Example:
    >>> import sys, tempfile
    >>> from pathlib import Path
    >>> logs = Path(tempfile.mkdtemp())
    >>> spec = CommandSpec(argv=[sys.executable, "-c", "print('hi')"])
    >>> outcome = run_command(spec, stdout_path=logs / "out.log", stderr_path=logs / "err.log")
    >>> outcome.exit_code, outcome.stdout_tail
    (0, 'hi')
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ScriptFailedError, TaskTimeoutError
from ..processes import DIE_WITH_PARENT, ProcessInfo, ProcessTree, describe, spawn
from ..safetext import json_default

logger = logging.getLogger("ferroflow.flow")

__all__ = [
    "PLACEHOLDER",
    "CommandOutcome",
    "CommandSpec",
    "ScriptFailedError",
    "fill_placeholders",
    "fill_shell_placeholders",
    "kill_process_group",
    "placeholder_names",
    "read_tail",
    "render_value",
    "run_command",
    "split_command",
    "value_variable",
]

_TAIL_BYTES = 4096
#: A ``{name}`` placeholder (its name in group 1), or the literal braces ``{{`` and ``}}``.
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(slots=True)
class CommandSpec:
    """One process to start.

    Attributes:
        argv: Program and arguments (with ``shell`` a one-element list: the shell command line).
        env: Variables added to (and overriding) the inherited environment.
        cwd: Working folder (``None``: the current one).
        shell: Run ``argv[0]`` with ``/bin/sh -c``.
    """

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    shell: bool = False

    def popen_args(self) -> list[str]:
        """The argument list handed to the OS (``/bin/sh -c LINE`` for shell commands)."""
        if self.shell:
            return ["/bin/sh", "-c", self.argv[0]]
        return list(self.argv)

    def as_bash(self) -> str:
        """The same command as one line of bash, every word quoted with ``shlex.quote``.

        Example:
            >>> CommandSpec(argv=["echo", "a b; rm -rf /"]).as_bash()
            "echo 'a b; rm -rf /'"
        """
        words = self.popen_args()
        line = " ".join(shlex.quote(w) for w in words)
        if self.env:
            assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
            line = f"env {assigns} {line}"
        return line


@dataclass(slots=True)
class CommandOutcome:
    """What happened to one process.

    Attributes:
        exit_code: Exit code; negative when a signal ended it.
        duration_seconds: Wall time.
        stdout_path: The stdout log file.
        stderr_path: The stderr log file.
        stdout_bytes: Size of the stdout log.
        stderr_bytes: Size of the stderr log.
        stdout_tail: The last lines of stdout (at most 4 KiB, stripped).
        stderr_tail: The last lines of stderr (at most 4 KiB, stripped).
        timed_out: The timeout stopped it.
        cancelled: A cancel request stopped it.
        left_running: Pids of the tree that could not be stopped (empty: the whole tree is gone).
    """

    exit_code: int
    duration_seconds: float
    stdout_path: Path
    stderr_path: Path
    stdout_bytes: int
    stderr_bytes: int
    stdout_tail: str
    stderr_tail: str
    timed_out: bool = False
    cancelled: bool = False
    left_running: list[int] = field(default_factory=list)

    def tree_state(self) -> str:
        """What became of the process tree, for messages: stopped, or which pids could not be."""
        if not self.left_running:
            return "its process tree was stopped"
        pids = ", ".join(str(p) for p in self.left_running)
        return f"{len(self.left_running)} process(es) of its tree could not be stopped (pid {pids})"

    def summary(self) -> dict[str, object]:
        """A JSON-able summary for results and reports."""
        summary: dict[str, object] = {
            "exit_code": self.exit_code,
            "duration_seconds": round(self.duration_seconds, 3),
            "stdout_log": str(self.stdout_path),
            "stderr_log": str(self.stderr_path),
            "stdout_bytes": self.stdout_bytes,
            "stderr_bytes": self.stderr_bytes,
            "stdout_tail": self.stdout_tail,
            "stderr_tail": self.stderr_tail,
        }
        if self.left_running:
            summary["left_running"] = list(self.left_running)
        return summary


def fill_placeholders(text: str, values: Mapping[str, object]) -> str:
    """Replace ``{name}`` with ``values[name]``; ``{{`` and ``}}`` are literal braces.

    For argument lists, environment values and folders: no shell ever reads
    the result. Shell command lines go through :func:`fill_shell_placeholders`.

    Args:
        text: The template.
        values: Placeholder values (rendered with :func:`render_value`).

    Raises:
        KeyError: A placeholder has no value (the key is its name).

    Example:
        >>> fill_placeholders("--day={date} {{x}}", {"date": "2024-01-02"})
        '--day=2024-01-02 {x}'
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name not in values:
            raise KeyError(name)
        return render_value(values[name])

    return PLACEHOLDER.sub(replace, text)


def render_value(value: object) -> str:
    """A parameter value as the text a command receives.

    Strings are kept as they are, booleans become ``true`` / ``false``,
    ``None`` becomes ``null``, lists and mappings become JSON; other
    values use ``str``.

    Example:
        >>> [render_value(v) for v in ("a b", 3, True, None, {"k": [1, 2]})]
        ['a b', '3', 'true', 'null', '{"k": [1, 2]}']
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=json_default)
    return str(value)


def value_variable(name: str) -> str:
    """The environment variable holding placeholder ``name`` in a shell command."""
    return f"FERROFLOW_VALUE_{name}"


def fill_shell_placeholders(line: str, values: Mapping[str, object]) -> tuple[str, dict[str, str]]:
    """Fill the placeholders of a ``/bin/sh`` command line without letting a value become code.

    No value is pasted into the line. Each ``{name}`` becomes a reference to
    the environment variable ``FERROFLOW_VALUE_name``, written for the quoting
    context the placeholder sits in: bare (``"${V}"``), inside ``'...'``
    (the quotes are closed around ``"${V}"``), inside ``"..."`` (``${V}``),
    inside ``$(...)`` and backquotes. The shell expands a
    variable once and never parses its value, so quotes, ``;``, ``$(...)``
    or newlines in a value stay text. (A program that itself runs its
    arguments as code, such as ``sh -c`` or ``eval``, is given the value as
    text; it can read ``$FERROFLOW_VALUE_name`` from its environment instead.)

    Returns:
        The command line and the variables to add to the command's environment.

    Raises:
        KeyError: A placeholder has no value (the key is its name).

    Example:
        >>> line, env = fill_shell_placeholders("echo {p} '{p}'", {"p": "a; rm -rf /"})
        >>> print(line)
        echo "${FERROFLOW_VALUE_p}" ''"${FERROFLOW_VALUE_p}"''
        >>> env
        {'FERROFLOW_VALUE_p': 'a; rm -rf /'}
    """
    out: list[str] = []
    env: dict[str, str] = {}
    quoting = _ShellQuoting()
    pos = 0
    for match in PLACEHOLDER.finditer(line):
        quoting.feed(line[pos : match.start()], out)
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            quoting.feed(token[0], out)
            continue
        name = match.group(1)
        if name not in values:
            raise KeyError(name)
        variable = value_variable(name)
        env[variable] = render_value(values[name])
        out.append(quoting.reference(variable))
    quoting.feed(line[pos:], out)
    return "".join(out), env


#: Characters after which a ``#`` starts a shell comment.
_WORD_BREAKS = frozenset(" \t\n;&|()")


class _ShellQuoting:
    """Follows the quoting context of a POSIX shell line, one character at a time.

    Contexts: ``N`` bare (also inside ``$(...)``, ``(...)`` and backquotes,
    which start a new bare context), ``S`` single quotes, ``D`` double
    quotes (POSIX ``sh``: ``$'...'`` is ``$`` and single quotes); ``#``
    comments are skipped. Only what changes
    the context is tracked; the rest is copied as it is.
    """

    def __init__(self) -> None:
        self.stack: list[str] = ["N"]
        self.escaped = False
        self.comment = False
        self.prev = " "

    def feed(self, text: str, out: list[str]) -> None:
        """Copy ``text`` to ``out`` and follow the context changes in it."""
        out.append(text)
        i = 0
        while i < len(text):
            ch = text[i]
            if self.comment:
                self.comment = ch != "\n"
            elif self.escaped:
                self.escaped = False
            elif self.stack[-1] == "S":
                if ch == "'":
                    self.stack.pop()
            elif ch == "\\":
                self.escaped = True
            else:
                i += self._step(ch, text[i + 1 : i + 2])
            self.prev = text[i]
            i += 1

    def _step(self, ch: str, nxt: str) -> int:
        """Follow one unescaped character outside single quotes; return how many more it consumed."""
        top = self.stack[-1]
        if ch == "$" and nxt == "(":
            self.stack.append("P")
            return 1
        if ch == "`":
            if top == "B":
                self.stack.pop()
            else:
                self.stack.append("B")
        elif top == "D":
            if ch == '"':
                self.stack.pop()
        elif ch == "#" and self.prev in _WORD_BREAKS:
            self.comment = True
        elif ch in "'\"(":
            self.stack.append({"'": "S", '"': "D", "(": "P"}[ch])
        elif ch == ")" and top == "P":
            self.stack.pop()
        return 0

    def reference(self, variable: str) -> str:
        """The text that expands ``variable`` once, as one word part, in the current context."""
        top = self.stack[-1]
        escaped, self.escaped = self.escaped, False
        self.prev = "}"
        if top == "S":
            return f"'\"${{{variable}}}\"'"
        if top == "D":
            # After a backslash, a second one makes the pair a literal backslash, as the template meant.
            return ("\\" if escaped else "") + f"${{{variable}}}"
        # After a bare backslash, a newline makes the pair a line continuation, which the shell drops.
        return ("\n" if escaped else "") + f'"${{{variable}}}"'


def placeholder_names(text: str) -> list[str]:
    """The placeholder names used in ``text``."""
    return [m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(1)]


def read_tail(path: Path, max_bytes: int = _TAIL_BYTES) -> str:
    """The last ``max_bytes`` of a text file, starting at a line boundary, stripped."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    if size > max_bytes and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return data.decode("utf-8", errors="replace").strip()


def kill_process_group(pgid: int, grace: float = 3.0, leader: subprocess.Popen[bytes] | None = None) -> None:
    """Stop a whole process group: ``SIGTERM``, wait up to ``grace`` seconds, then ``SIGKILL``.

    Args:
        pgid: The process group id (the leader's pid when started with ``start_new_session``).
        grace: Seconds the group gets to exit after ``SIGTERM``.
        leader: The group leader's ``Popen``, reaped so it does not linger as a zombie.
    """
    if not _signal_group(pgid, signal.SIGTERM):
        _reap(leader)
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(leader)
        if not _group_alive(pgid, leader):
            return
        time.sleep(0.02)
    _signal_group(pgid, signal.SIGKILL)
    if leader is not None:
        try:
            leader.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            pass


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _reap(leader: subprocess.Popen[bytes] | None) -> None:
    if leader is not None:
        leader.poll()


def _group_alive(pgid: int, leader: subprocess.Popen[bytes] | None) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # A group whose only member is our reaped leader is gone; members that are
    # zombies waiting for their parent still count until they are reaped.
    return True if leader is None or leader.returncode is None else _any_live_member(pgid)


def _any_live_member(pgid: int) -> bool:
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which sits in parentheses and may hold spaces).
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def run_command(
    spec: CommandSpec,
    *,
    stdout_path: Path,
    stderr_path: Path,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
    grace: float = 3.0,
    name: str = "command",
    on_start: Callable[[ProcessTree], None] | None = None,
) -> CommandOutcome:
    """Run one process to the end, its output streamed to two log files.

    The process and everything it starts form one :class:`~ferroflow.processes.ProcessTree`:
    on timeout or cancel, and when the process ends while some of its
    descendants still run, the whole tree is stopped, including descendants
    that left the process group or whose parent exited (on Linux; elsewhere the
    process group only).

    Args:
        spec: What to run.
        stdout_path: File receiving stdout (created with its folder; truncated).
        stderr_path: File receiving stderr.
        timeout: Seconds before the process tree is stopped (``None``: no limit).
        cancel: When set, the process tree is stopped.
        grace: Seconds between ``SIGTERM`` and ``SIGKILL`` when stopping.
        name: Used in error messages.
        on_start: Called with the process's tree (its ``leader`` and ``token`` set) once it runs.

    Returns:
        The outcome; a non-zero ``exit_code`` is not an exception here.

    Raises:
        TaskTimeoutError: The timeout stopped it (the message says whether the whole tree is gone).
        FileNotFoundError: The program does not exist.
        PermissionError: The program is not executable.
    """
    started = time.monotonic()
    tree = ProcessTree()
    proc = _start(spec, stdout_path, stderr_path, tree)
    tree.watch(proc.pid)
    try:
        if on_start is not None:
            on_start(tree)
        stopped, left = _wait(proc, None if timeout is None else started + timeout, cancel, grace, tree)
        if stopped is None and tree.alive():
            # The leader is done; a descendant left behind would hold on to
            # resources after the task "finished", so stop it too.
            left = tree.stop(grace=grace, leader=proc)
    except BaseException:
        tree.stop(grace=grace, leader=proc)  # nothing may run on unwatched
        raise
    finally:
        tree.close()
    outcome = CommandOutcome(
        exit_code=proc.returncode if proc.returncode is not None else -int(signal.SIGKILL),
        duration_seconds=time.monotonic() - started,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        stdout_bytes=_size(stdout_path),
        stderr_bytes=_size(stderr_path),
        stdout_tail=read_tail(stdout_path),
        stderr_tail=read_tail(stderr_path),
        timed_out=stopped == "timeout",
        cancelled=stopped == "cancel",
        left_running=[p.pid for p in left],
    )
    if left:
        logger.warning("%s: %d process(es) of its tree could not be stopped: %s", name, len(left), describe(left))
    if outcome.timed_out:
        raise TaskTimeoutError(f"task {name!r} timed out after {timeout:g}s; {outcome.tree_state()}")
    return outcome


def _start(spec: CommandSpec, stdout_path: Path, stderr_path: Path, tree: ProcessTree) -> subprocess.Popen[bytes]:
    """Start ``spec`` in a new session, marked as ``tree``'s, its output going straight to the two files."""
    stdout_path.parent.mkdir(parents=True, exist_ok=True)
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(spec.env)
    env.update(tree.environment)
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        # Started from the spawner thread with a parent-death signal: if ferroflow dies
        # (even by kill -9), the process gets SIGKILL instead of running on unnoticed.
        return spawn(
            lambda: subprocess.Popen(
                spec.popen_args(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=str(spec.cwd) if spec.cwd is not None else None,
                env=env,
                start_new_session=True,
                close_fds=True,
                preexec_fn=DIE_WITH_PARENT,  # noqa: PLW1509 - one prctl call, no lock taken in the child
            )
        )


def _wait(
    proc: subprocess.Popen[bytes],
    deadline: float | None,
    cancel: threading.Event | None,
    grace: float,
    tree: ProcessTree,
) -> tuple[str | None, list[ProcessInfo]]:
    """Wait for ``proc``; on the deadline or a cancel stop its tree and say which (``None``: it exited).

    Returns:
        Why it stopped, and the processes of the tree that could not be stopped.
    """
    while True:
        try:
            proc.wait(timeout=0.05)
            return None, []
        except subprocess.TimeoutExpired:
            pass
        reason = None
        if cancel is not None and cancel.is_set():
            reason = "cancel"
        elif deadline is not None and time.monotonic() >= deadline:
            reason = "timeout"
        if reason is not None:
            return reason, tree.stop(grace=grace, leader=proc)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def split_command(command: str | Sequence[str]) -> list[str]:
    """A command as a list: strings are split like a shell would (no shell runs).

    Example:
        >>> split_command("python -m mod 'two words'")
        ['python', '-m', 'mod', 'two words']
    """
    if isinstance(command, str):
        return shlex.split(command)
    return [str(c) for c in command]
