"""A real terminal for tests: a command in a detached tmux pane, and the screen as tmux renders it.

tmux is a terminal emulator: what :meth:`Terminal.screen` returns is what a user would see,
cursor moves and line erasing applied, so a progress bar drawn over a log line shows up
as the mess it is.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["Terminal", "terminal"]


class Terminal:
    """One tmux server (its own socket) running one command in a ``width`` x ``height`` pane."""

    def __init__(self, socket: str, folder: Path) -> None:
        self.socket = socket
        self.folder = folder
        self.rc_file = folder / f".rc-{socket}"

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", os.devnull, *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout

    def start(self, argv: list[str], *, env: dict[str, str] | None = None, width: int = 140, height: int = 45) -> None:
        """Start ``argv`` in the pane (working folder ``folder``); the pane stays after it exits."""
        full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
        full_env.update({"TERM": "xterm-256color", **(env or {})})
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in full_env.items() if k.isidentifier())
        command = (
            f"cd {shlex.quote(str(self.folder))} && env -i {exports} {shlex.join(argv)}; "
            f"echo $? > {shlex.quote(str(self.rc_file))}; sleep 600"
        )
        self._tmux("new-session", "-d", "-x", str(width), "-y", str(height), "sh", "-c", command)

    def screen(self) -> str:
        """The pane's text as displayed now (plus its scrollback)."""
        return self._tmux("capture-pane", "-p", "-S", "-200")

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 60.0) -> str:
        """Wait until ``predicate(screen)`` holds; return that screen (fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            assert time.monotonic() < deadline, f"screen never matched within {timeout}s:\n{text}"
            time.sleep(0.05)

    def wait_exit(self, timeout: float = 90.0) -> int:
        """Wait for the command to end; its exit code."""
        deadline = time.monotonic() + timeout
        while not self.rc_file.exists() or not self.rc_file.read_text().strip():
            assert time.monotonic() < deadline, f"command still running after {timeout}s:\n{self.screen()}"
            time.sleep(0.05)
        return int(self.rc_file.read_text())

    def close(self) -> None:
        """Stop this test's tmux server (and the command, if still running)."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False, timeout=30)


@contextmanager
def _terminal(folder: Path) -> Iterator[Terminal]:
    term = Terminal(f"ferroflow-test-{uuid.uuid4().hex[:12]}", folder)
    try:
        yield term
    finally:
        term.close()


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    """A real terminal (tmux) whose commands run in ``tmp_path``."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed for the terminal tests (apt-get install tmux)")
    with _terminal(tmp_path) as term:
        yield term


PYTHON = sys.executable
