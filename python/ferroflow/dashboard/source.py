"""The dashboard's way to the store: opened when it exists, refusals turned into a message.

The dashboard never creates a store (``ferroflow dashboard`` in an empty folder
shows "no store yet" and picks the store up once a run creates it), and a store
that cannot be read right now (locked by a long write, damaged, newer than this
ferroflow) makes the pages say so while everything else keeps serving.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..store import DEFAULT_STORE, Store, default_store_path, open_store

__all__ = ["StoreSource"]


class StoreSource:
    """Where the dashboard's store is, and the store itself once it can be opened.

    Args:
        spec: A :class:`Store`, a path (a ``.db`` file or a folder holding
            ``ferroflow.db``), :data:`DEFAULT_STORE`, or ``None`` for no store.
    """

    def __init__(self, spec: Any = DEFAULT_STORE) -> None:
        self._store: Store | None = spec if isinstance(spec, Store) else None
        self.disabled = spec is None
        if self._store is not None:
            self.path: Path | None = self._store.path
        elif spec is None:
            self.path = None
        elif spec is DEFAULT_STORE:
            self.path = default_store_path().absolute()
        else:
            path = Path(spec).expanduser().absolute()
            self.path = path if path.suffix == ".db" or path.is_file() else path / "ferroflow.db"

    def get(self) -> Store:
        """The store.

        Raises:
            StoreError: There is none (yet), or it cannot be opened.
        """
        if self._store is not None and not self._store.closed:
            return self._store
        if self.path is None:
            raise StoreError("this dashboard has no store")
        if not self.path.exists():
            raise StoreError(f"no store at {self.path} yet: runs recorded there will appear here")
        store = open_store(self.path)
        assert store is not None
        self._store = store
        return store

    def peek(self) -> Store | None:
        """The store if it can be used now, else ``None``."""
        try:
            return self.get()
        except StoreError:
            return None

    def run_error(self, exc: StoreError, run_id: str) -> tuple[int, str]:
        """``(status, message)`` for an error met looking up run ``run_id``: 404 for a run the
        store does not have (or an ambiguous prefix), 503 for a store that cannot be read."""
        text = str(exc)
        if text.startswith((f"no run {run_id!r}", f"run id prefix {run_id!r} is ambiguous")):
            return 404, f"unknown run id {run_id!r}" if text.startswith("no run") else text
        return 503, self.explain(exc)

    @staticmethod
    def explain(exc: BaseException) -> str:
        """What to tell the user about an error met while reading the store."""
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError | StoreError) and "locked" in text:
            return f"the store is locked by another process right now ({text}); the page retries"
        return text
