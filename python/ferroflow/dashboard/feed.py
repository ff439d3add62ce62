"""The live feed: watch events and store changes, numbered, in a ring the SSE clients read.

The watcher's intake thread only appends to a bounded ring and wakes the event
loop; it never waits for a client. A client that falls behind the ring gets a
``skipped`` marker saying how many events it missed and goes on from the
oldest one kept (the page then resyncs from the API).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..watch import FileEvent

__all__ = ["Feed", "StoreFollower"]


class Item(dict[str, Any]):
    """A feed item: the event's fields, and its JSON written once for every client."""

    __slots__ = ("json",)

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.json = json.dumps(fields, default=str)


class Feed:
    """Numbered events in a ring of ``capacity`` items.

    Publishing costs the same with one client or fifty: the item is serialised once, and
    each event loop holding waiting clients is woken once.
    """

    def __init__(self, capacity: int = 2000) -> None:
        self._ring: deque[Item] = deque(maxlen=capacity)
        self._seq = 0
        self._lock = threading.Lock()
        self._waiters: dict[asyncio.AbstractEventLoop, set[asyncio.Event]] = {}
        self.closed = False

    @property
    def last_id(self) -> int:
        """The id of the newest event (0 before any)."""
        return self._seq

    def publish(self, item: dict[str, Any]) -> int:
        """Add ``item`` (any thread); returns its id."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._ring.append(Item({**item, "id": seq}))
            loops = list(self._waiters)
        self._wake(loops)
        return seq

    def _wake(self, loops: list[asyncio.AbstractEventLoop]) -> None:
        for loop in loops:
            try:
                loop.call_soon_threadsafe(self._set_all, loop)
            except RuntimeError:  # the loop has closed
                with self._lock:
                    self._waiters.pop(loop, None)

    def _set_all(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            events = list(self._waiters.get(loop, ()))
        for event in events:
            event.set()

    def on_file_event(self, event: FileEvent) -> None:
        """A :meth:`WatchApp.add_listener` callback."""
        self.publish(
            {
                "type": "file",
                "change": event.change.name,
                "path": str(event.path),
                "root": str(event.root),
                "time": time.time(),
            }
        )

    def recent(self, limit: int = 100, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` items, oldest first."""
        with self._lock:
            items = [dict(item) for item in self._ring if kind is None or item.get("type") == kind]
        return items[-limit:] if limit > 0 else []

    def after(self, last: int) -> tuple[int, list[Item]]:
        """``(skipped, items)``: what came after id ``last`` (read from the newest end)."""
        with self._lock:
            if not self._ring:
                return 0, []
            newest = self._seq
            oldest = newest - len(self._ring) + 1
            skipped = max(0, oldest - last - 1)
            count = min(len(self._ring), max(0, newest - last))
            return skipped, [self._ring[-i] for i in range(count, 0, -1)]

    def close(self) -> None:
        """Wake every client so that its stream ends (shutdown is never held up)."""
        self.closed = True
        with self._lock:
            loops = list(self._waiters)
        self._wake(loops)

    async def stream(self, last: int, heartbeat: float = 15.0) -> AsyncIterator[Item | None]:
        """Items after ``last`` as they come; ``None`` is a heartbeat."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        with self._lock:
            self._waiters.setdefault(loop, set()).add(wake)
        try:
            while not self.closed:
                skipped, items = self.after(last)
                if skipped:
                    yield Item({"type": "skipped", "count": skipped, "id": last + skipped})
                for item in items:
                    last = item["id"]
                    yield item
                if self.closed:
                    break
                wake.clear()
                if self.after(last)[1]:
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), heartbeat)
                except TimeoutError:
                    yield None
        finally:
            with self._lock:
                waiting = self._waiters.get(loop)
                if waiting is not None:
                    waiting.discard(wake)
                    if not waiting:
                        del self._waiters[loop]


class StoreFollower:
    """Publishes ``{"type": "store"}`` when another process commits to the store.

    It polls SQLite's ``PRAGMA data_version`` on one read-only connection: a
    cheap integer read, never a re-read of the tables.
    """

    def __init__(self, path: Path, feed: Feed, interval: float = 0.25) -> None:
        self.path = path
        self.feed = feed
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Follow in a daemon thread."""
        self._thread = threading.Thread(target=self._follow, name="ferroflow-dashboard-store", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _follow(self) -> None:
        conn: sqlite3.Connection | None = None
        last: int | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    if not self.path.exists():
                        self._stop.wait(self.interval)
                        continue
                    conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
                version = int(conn.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:
                conn = None
                self._stop.wait(self.interval)
                continue
            if last is not None and version != last:
                self.feed.publish({"type": "store", "time": time.time()})
            last = version
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()
