"""Shared fixtures: every test gets its own store home and working directory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point FERROFLOW_HOME at a fresh folder and run the test from tmp_path, so
    that no test reads or writes the developer's own store or folders."""
    home = tmp_path / "ferroflow-home"
    monkeypatch.setenv("FERROFLOW_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    yield home


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Wait until ``predicate()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        time.sleep(interval)
