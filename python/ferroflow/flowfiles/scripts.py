"""Script and command tasks: subprocesses without a shell, logged to files, killed as a tree.

A flow file's task becomes a :class:`CommandSpec` (argv, env, working folder).
:func:`run_command` starts it in its own session (so it leads a fresh process
group), points its stdout and stderr straight at two log files (the child
writes them itself, so no amount of output can fill a pipe and deadlock), and
waits. On timeout or cancel the whole group gets ``SIGTERM``, then after a
grace period ``SIGKILL``: no grandchild survives.

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

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ScriptFailedError, TaskTimeoutError

__all__ = [
    "CommandOutcome",
    "CommandSpec",
    "ScriptFailedError",
    "fill_placeholders",
    "kill_process_group",
    "placeholder_names",
    "read_tail",
    "run_command",
    "split_command",
]

_TAIL_BYTES = 4096
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


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

    def summary(self) -> dict[str, object]:
        """A JSON-able summary for results and reports."""
        return {
            "exit_code": self.exit_code,
            "duration_seconds": round(self.duration_seconds, 3),
            "stdout_log": str(self.stdout_path),
            "stderr_log": str(self.stderr_path),
            "stdout_bytes": self.stdout_bytes,
            "stderr_bytes": self.stderr_bytes,
            "stdout_tail": self.stdout_tail,
            "stderr_tail": self.stderr_tail,
        }


def fill_placeholders(text: str, values: Mapping[str, object], *, quote: bool = False) -> str:
    """Replace ``{name}`` with ``values[name]``; ``{{`` and ``}}`` are literal braces.

    Args:
        text: The template.
        values: Placeholder values (converted with ``str``).
        quote: Quote each value with ``shlex.quote`` (for shell command lines).

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
        value = values[name]
        rendered = value if isinstance(value, str) else _render_scalar(value)
        return shlex.quote(rendered) if quote else rendered

    return _PLACEHOLDER.sub(replace, text)


def placeholder_names(text: str) -> list[str]:
    """The placeholder names used in ``text``."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1)]


def _render_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
) -> CommandOutcome:
    """Run one process to the end, its output streamed to two log files.

    Args:
        spec: What to run.
        stdout_path: File receiving stdout (created with its folder; truncated).
        stderr_path: File receiving stderr.
        timeout: Seconds before the process tree is stopped (``None``: no limit).
        cancel: When set, the process tree is stopped.
        grace: Seconds between ``SIGTERM`` and ``SIGKILL`` when stopping.
        name: Used in error messages.

    Returns:
        The outcome; a non-zero ``exit_code`` is not an exception here.

    Raises:
        TaskTimeoutError: The timeout stopped it (after the whole tree is gone).
        FileNotFoundError: The program does not exist.
        PermissionError: The program is not executable.
    """
    started = time.monotonic()
    proc = _start(spec, stdout_path, stderr_path)
    stopped = _wait(proc, None if timeout is None else started + timeout, cancel, grace)
    if stopped is None and _group_alive(proc.pid, proc):
        # The leader is done; a grandchild left behind in its group would hold
        # on to resources after the task "finished", so stop it too.
        kill_process_group(proc.pid, grace=grace, leader=proc)
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
    )
    if outcome.timed_out:
        raise TaskTimeoutError(f"task {name!r} timed out after {timeout:g}s; its process tree was stopped")
    return outcome


def _start(spec: CommandSpec, stdout_path: Path, stderr_path: Path) -> subprocess.Popen[bytes]:
    """Start ``spec`` in a new session, its output going straight to the two files."""
    stdout_path.parent.mkdir(parents=True, exist_ok=True)
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(spec.env)
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        return subprocess.Popen(
            spec.popen_args(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=str(spec.cwd) if spec.cwd is not None else None,
            env=env,
            start_new_session=True,
            close_fds=True,
        )


def _wait(
    proc: subprocess.Popen[bytes], deadline: float | None, cancel: threading.Event | None, grace: float
) -> str | None:
    """Wait for ``proc``; on the deadline or a cancel stop its group and say which (``None``: it exited)."""
    while True:
        try:
            proc.wait(timeout=0.05)
            return None
        except subprocess.TimeoutExpired:
            pass
        reason = None
        if cancel is not None and cancel.is_set():
            reason = "cancel"
        elif deadline is not None and time.monotonic() >= deadline:
            reason = "timeout"
        if reason is not None:
            kill_process_group(proc.pid, grace=grace, leader=proc)
            return reason


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
