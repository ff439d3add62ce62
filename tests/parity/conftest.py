"""Running a ported example as its users would: a real process, its output read as it comes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


class Process:
    """A child process whose stdout and stderr lines are collected by threads."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: object, into: list[str]) -> None:
        into.extend(stream)  # type: ignore[call-overload]

    def text(self) -> str:
        """Everything printed so far, stdout then stderr."""
        return "".join(self.out) + "".join(self.err)

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        """Wait until ``needle`` was printed; fail with the output after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None or needle in self.text(), f"exited {self.proc.returncode}:\n{self.text()}"
            assert time.monotonic() < deadline, f"{needle!r} not printed within {timeout}s:\n{self.text()}"
            time.sleep(0.02)

    def interrupt(self, timeout: float = 20.0) -> int:
        """Ctrl+C; the exit code."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout)
        return code

    def close(self) -> None:
        """Kill the process if it still runs, and close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for thread in self._threads:
            thread.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[object]:
    """``spawn("python", "script.py")`` / ``spawn("ferroflow", ...)``: a :class:`Process` in ``tmp_path``."""
    started: list[Process] = []

    def start(program: str, *args: str) -> Process:
        head = [sys.executable] if program == "python" else [sys.executable, "-m", "ferroflow"]
        process = Process([*head, *args], tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
