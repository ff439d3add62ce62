"""Fixtures for the watch tests: a fast-debouncing app stopped after each test, and an event recorder."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ferroflow.watch import Change, FileEvent, WatchApp, reset_default_app


class Recorder:
    """A handler that records the events it gets (thread-safe)."""

    def __init__(self, name: str = "recorder") -> None:
        self.__name__ = self.__qualname__ = name
        self.events: list[FileEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: FileEvent) -> None:
        with self._lock:
            self.events.append(event)

    def names(self) -> list[tuple[Change, str]]:
        """``(change, path relative to the root)`` of each event, without the marker files of :func:`settle`."""
        with self._lock:
            return [(e.change, e.relative_path) for e in self.events if not e.name.endswith(".marker")]

    def wait_for(self, n: int, timeout: float = 20.0) -> list[FileEvent]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.events) >= n:
                    return list(self.events)
            assert time.monotonic() < deadline, (
                f"{len(self.events)} of {n} events within {timeout}s: {self.events[:10]}"
            )
            time.sleep(0.01)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    d = tmp_path / "inbox"
    d.mkdir()
    return d.resolve()


@pytest.fixture
def app() -> Iterator[WatchApp]:
    a = WatchApp(name="test", debounce=0.1, max_workers=4)
    yield a
    a.stop(timeout=30)


@pytest.fixture(autouse=True)
def _fresh_default_app() -> Iterator[None]:
    reset_default_app()
    yield
    reset_default_app()


def settle(app: WatchApp, root: Path, suffix: str = ".marker") -> None:
    """Write a marker file seen by a catch-all handler already registered as ``app._marker``; wait for it.

    Every change made before the marker was handled by the time this returns.
    """
    rec: Recorder = app._marker_recorder  # type: ignore[attr-defined]
    before = len(rec.events)
    (root / f"zz{time.monotonic_ns()}{suffix}").write_text("m")
    rec.wait_for(before + 1)
    deadline = time.monotonic() + 20
    while app.stats["pending"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def with_marker(app: WatchApp, root: Path, suffix: str = ".marker") -> None:
    """Register the catch-all marker handler used by :func:`settle` (lowest priority)."""
    rec = Recorder("marker")
    app._marker_recorder = rec  # type: ignore[attr-defined]
    app.add_handler(rec, root, [Change.added], pattern=f"zz*{suffix}", priority=-1000)
