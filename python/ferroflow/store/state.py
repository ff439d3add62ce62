"""``StateManager``: key/value state with TTL and metadata, in memory, a JSON file or SQLite.

The backend follows ``storage_path``: none -> memory (this process only); a
path ending in ``.json`` -> a JSON file, rewritten atomically (temp file,
fsync, rename) under an exclusive lock on ``<file>.lock`` beside it, so readers
never see half a file and concurrent processes never lose each other's writes
(every write rewrites the whole file: meant for small state); any other path -> an
SQLite file (WAL, one connection per thread). Every backend is thread-safe;
the file backends are also process-safe.

Atomic calls: each of ``set``, ``delete``, ``clear``, ``cleanup_expired``,
``update`` and ``incr`` is one atomic step, in every backend and across
processes for the file backends. A ``get`` followed by a ``set`` is two steps:
another writer can come in between, so a read-modify-write must use
:meth:`StateManager.update` (or :meth:`StateManager.incr` for counters), which
reads, computes and writes under the backend's write lock (the JSON file's
``flock``, SQLite's ``BEGIN IMMEDIATE``). A JSON file's writer killed half-way
leaves a temporary file beside it; opening the state removes such leftovers.

JSON file layout (``{"version": 1, "entries": {...}}``), one entry per key::

    {"value": <JSON>, "created_at": float, "updated_at": float,
     "expires_at": float | null, "metadata": {...}}

SQLite schema::

    state  key TEXT PK, value BLOB (pickle), metadata TEXT (JSON),
           created_at REAL, updated_at REAL, expires_at REAL (NULL = never)

Values must be JSON-serializable for a ``.json`` file; memory and SQLite take
anything picklable.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

from ..errors import StoreError
from ..safetext import json_default
from .recorder import decode_value, encode_value
from .sqlite import SQLiteDB, describe_error

__all__ = ["StateEntry", "StateManager"]

_MISSING = object()


@dataclass(slots=True)
class StateEntry:
    """One stored value with its bookkeeping."""

    value: Any
    created_at: float
    updated_at: float
    expires_at: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def live(self, now: float) -> bool:
        """Whether the entry has not expired at ``now``."""
        return self.expires_at is None or self.expires_at > now


#: ``fn(old entry or None, now) -> new entry``: the step :meth:`StateManager.update` runs atomically.
_Change = Callable[[StateEntry | None, float], StateEntry]


class _Backend(Protocol):
    def put(self, key: str, value: Any, expires_at: float | None, metadata: dict[str, Any] | None) -> None: ...
    def change(self, key: str, fn: _Change) -> StateEntry: ...
    def entry(self, key: str) -> StateEntry | None: ...
    def delete(self, key: str) -> bool: ...
    def clear(self) -> None: ...
    def entries(self) -> dict[str, StateEntry]: ...
    def purge(self, now: float) -> int: ...


# ---------------------------------------------------------------- memory


class _MemoryBackend:
    def __init__(self) -> None:
        self._data: dict[str, StateEntry] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: Any, expires_at: float | None, metadata: dict[str, Any] | None) -> None:
        now = time.time()
        with self._lock:
            old = self._data.get(key)
            created = old.created_at if old is not None and old.live(now) else now
            self._data[key] = StateEntry(value, created, now, expires_at, dict(metadata or {}))

    def change(self, key: str, fn: _Change) -> StateEntry:
        with self._lock:
            new = fn(self._data.get(key), time.time())
            self._data[key] = new
            return new

    def entry(self, key: str) -> StateEntry | None:
        with self._lock:
            return self._data.get(key)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._data.pop(key, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def entries(self) -> dict[str, StateEntry]:
        with self._lock:
            return dict(self._data)

    def purge(self, now: float) -> int:
        with self._lock:
            dead = [k for k, e in self._data.items() if not e.live(now)]
            for k in dead:
                del self._data[k]
            return len(dead)


# ---------------------------------------------------------------- JSON file


def _check_json(key: str, value: Any, metadata: dict[str, Any] | None) -> None:
    try:
        json.dumps(value)
        json.dumps(metadata or {})
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"state key {key!r}: a .json state file stores JSON values only ({exc}); use a non-.json path for SQLite"
        ) from exc


class _JsonBackend:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._thread_lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise describe_error(path, "create the directory of", exc) from exc
        with self._locked():
            self._remove_leftovers()
            if path.exists():
                self._load()  # fail early on a file that is not ours

    def _remove_leftovers(self) -> None:
        """Delete temporary files of writers killed in the middle of a save (we hold the lock: none is live)."""
        prefix = f".{self.path.name}."
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return
        for name in names:
            if name.startswith(prefix) and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(self.path.parent / name)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        with self._thread_lock:
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise describe_error(self.path, "lock", exc) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock

    def _load(self) -> dict[str, StateEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise describe_error(self.path, "read", exc) from exc
        if not text.strip():
            return {}
        try:
            doc = json.loads(text)
            raw = doc["entries"]
            return {
                str(k): StateEntry(
                    e["value"], e["created_at"], e["updated_at"], e.get("expires_at"), e.get("metadata") or {}
                )
                for k, e in raw.items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(
                f"state file {self.path} is not a ferroflow state file ({type(exc).__name__}: {exc}); "
                "move it away or use another path"
            ) from exc

    def _save(self, data: dict[str, StateEntry]) -> None:
        doc = {
            "version": 1,
            "entries": {
                k: {
                    "value": e.value,
                    "created_at": e.created_at,
                    "updated_at": e.updated_at,
                    "expires_at": e.expires_at,
                    "metadata": e.metadata,
                }
                for k, e in data.items()
            },
        }
        text = json.dumps(doc, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            tmp = ""
        except OSError as exc:
            raise describe_error(self.path, "write", exc) from exc
        finally:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def put(self, key: str, value: Any, expires_at: float | None, metadata: dict[str, Any] | None) -> None:
        _check_json(key, value, metadata)
        now = time.time()
        with self._locked():
            data = self._load()
            old = data.get(key)
            created = old.created_at if old is not None and old.live(now) else now
            data[key] = StateEntry(value, created, now, expires_at, dict(metadata or {}))
            self._save(data)

    def change(self, key: str, fn: _Change) -> StateEntry:
        with self._locked():
            data = self._load()
            new = fn(data.get(key), time.time())
            _check_json(key, new.value, new.metadata)
            data[key] = new
            self._save(data)
            return new

    def entry(self, key: str) -> StateEntry | None:
        with self._locked():
            return self._load().get(key)

    def delete(self, key: str) -> bool:
        with self._locked():
            data = self._load()
            if data.pop(key, None) is None:
                return False
            self._save(data)
            return True

    def clear(self) -> None:
        with self._locked():
            self._save({})

    def entries(self) -> dict[str, StateEntry]:
        with self._locked():
            return self._load()

    def purge(self, now: float) -> int:
        with self._locked():
            data = self._load()
            live = {k: e for k, e in data.items() if e.live(now)}
            if len(live) != len(data):
                self._save(live)
            return len(data) - len(live)


# ---------------------------------------------------------------- SQLite


def _create_state_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL, metadata TEXT,"
        " created_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL)"
    )


class _SQLiteBackend:
    def __init__(self, path: Path) -> None:
        self.path = path
        # NORMAL: in WAL mode a commit survives a process crash; state writes stay cheap.
        self._db = SQLiteDB(path, synchronous="NORMAL", init=_create_state_table)

    def put(self, key: str, value: Any, expires_at: float | None, metadata: dict[str, Any] | None) -> None:
        blob = encode_value(value)
        if blob is None:
            raise TypeError(f"state key {key!r}: value of type {type(value).__name__} cannot be pickled")
        meta = json.dumps(metadata or {}, default=json_default)
        now = time.time()
        self._db.run_write(
            lambda conn: conn.execute(
                "INSERT INTO state (key, value, metadata, created_at, updated_at, expires_at) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value, metadata = excluded.metadata,"
                " updated_at = excluded.updated_at, expires_at = excluded.expires_at,"
                " created_at = CASE WHEN state.expires_at IS NOT NULL AND state.expires_at <= excluded.updated_at"
                " THEN excluded.created_at ELSE state.created_at END",
                (key, blob, meta, now, now, expires_at),
            ),
            action=f"set state key {key!r} in",
        )

    def change(self, key: str, fn: _Change) -> StateEntry:
        def step(conn: sqlite3.Connection) -> StateEntry:
            cur = conn.cursor()
            cur.row_factory = sqlite3.Row
            row = cur.execute(
                "SELECT value, metadata, created_at, updated_at, expires_at FROM state WHERE key = ?", (key,)
            ).fetchone()
            new = fn(None if row is None else self._entry(row), time.time())
            blob = encode_value(new.value)
            if blob is None:
                raise TypeError(f"state key {key!r}: value of type {type(new.value).__name__} cannot be pickled")
            conn.execute(
                "INSERT OR REPLACE INTO state (key, value, metadata, created_at, updated_at, expires_at)"
                " VALUES (?,?,?,?,?,?)",
                (key, blob, json.dumps(new.metadata, default=str), new.created_at, new.updated_at, new.expires_at),
            )
            return new

        # BEGIN IMMEDIATE holds the write lock from the read to the write: no other process comes in between.
        return self._db.run_write(step, action=f"update state key {key!r} in")

    @staticmethod
    def _entry(row: sqlite3.Row) -> StateEntry:
        return StateEntry(
            decode_value(row["value"]),
            row["created_at"],
            row["updated_at"],
            row["expires_at"],
            json.loads(row["metadata"]) if row["metadata"] else {},
        )

    def entry(self, key: str) -> StateEntry | None:
        rows = self._db.query(
            "SELECT value, metadata, created_at, updated_at, expires_at FROM state WHERE key = ?", (key,)
        )
        return self._entry(rows[0]) if rows else None

    def delete(self, key: str) -> bool:
        count: int = self._db.run_write(
            lambda conn: conn.execute("DELETE FROM state WHERE key = ?", (key,)).rowcount, action="delete from"
        )
        return count > 0

    def clear(self) -> None:
        self._db.run_write(lambda conn: conn.execute("DELETE FROM state"), action="clear")

    def entries(self) -> dict[str, StateEntry]:
        rows = self._db.query("SELECT key, value, metadata, created_at, updated_at, expires_at FROM state")
        return {row["key"]: self._entry(row) for row in rows}

    def purge(self, now: float) -> int:
        count: int = self._db.run_write(
            lambda conn: (
                conn.execute("DELETE FROM state WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)).rowcount
            ),
            action="purge",
        )
        return count

    def close(self) -> None:
        self._db.close()


# ---------------------------------------------------------------- facade


class StateManager:
    """Key/value state with optional time-to-live and metadata.

    Args:
        storage_path: ``None`` for memory; a ``*.json`` path for a JSON file;
            any other path for an SQLite file.
        default_ttl: Seconds a value lives when ``set`` gets no ``ttl``
            (``None``: forever).

    Raises:
        StoreError: The file cannot be created or read, or is not a state file.

    Example:
        >>> state = StateManager()
        >>> state.set("last_file", "a.csv", metadata={"by": "watcher"})
        >>> state.get("last_file"), state.has("nope"), state.get("nope", 0)
        ('a.csv', False, 0)
        >>> state.get_metadata("last_file")
        {'by': 'watcher'}
        >>> state.delete("last_file"), state.get_all()
        (True, {})
    """

    def __init__(self, storage_path: str | os.PathLike[str] | None = None, default_ttl: float | None = None) -> None:
        self.storage_path = Path(storage_path) if storage_path is not None else None
        self.default_ttl = default_ttl
        backend: _Backend
        if self.storage_path is None:
            backend = _MemoryBackend()
        elif self.storage_path.suffix.lower() == ".json":
            backend = _JsonBackend(self.storage_path)
        else:
            backend = _SQLiteBackend(self.storage_path)
        self._backend = backend

    def __repr__(self) -> str:
        where = "memory" if self.storage_path is None else str(self.storage_path)
        return f"StateManager({where!r}, default_ttl={self.default_ttl!r})"

    def set(self, key: str, value: Any, ttl: float | None = None, metadata: dict[str, Any] | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (default: ``default_ttl``).

        Raises:
            TypeError: The value cannot be stored by this backend (not JSON for a
                ``.json`` file, not picklable for SQLite).
            StoreError: The file cannot be written.
        """
        if not isinstance(key, str):
            raise TypeError(f"state keys are str, not {type(key).__name__}")
        seconds = ttl if ttl is not None else self.default_ttl
        expires_at = None if seconds is None else time.time() + float(seconds)
        self._backend.put(key, value, expires_at, metadata)

    def update(
        self,
        key: str,
        fn: Callable[[Any], Any],
        default: Any = None,
        ttl: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Any:
        """Replace the value of ``key`` with ``fn(value)`` in one atomic step; returns the new value.

        ``fn`` gets ``default`` when the key is missing or expired. No other
        writer, thread or process, can come between the read and the write.
        The entry keeps its expiry and metadata unless ``ttl`` / ``metadata``
        are given (a new or expired entry gets ``ttl`` or ``default_ttl``).
        ``fn`` runs while the state's write lock is held: keep it short, and
        free of side effects (on SQLite it runs again if the database was
        busy when its transaction started).

        Raises:
            TypeError: As for :meth:`set`.
            StoreError: The file cannot be written.

        Example:
            >>> state = StateManager()
            >>> state.update("seen", lambda names: [*names, "a.csv"], default=[])
            ['a.csv']
        """
        if not isinstance(key, str):
            raise TypeError(f"state keys are str, not {type(key).__name__}")

        def step(old: StateEntry | None, now: float) -> StateEntry:
            live = old is not None and old.live(now)
            value = fn(old.value if live and old is not None else default)
            if ttl is not None:
                expires_at: float | None = now + float(ttl)
            elif live and old is not None:
                expires_at = old.expires_at
            else:
                expires_at = None if self.default_ttl is None else now + float(self.default_ttl)
            if metadata is not None:
                meta = dict(metadata)
            else:
                meta = dict(old.metadata) if live and old is not None else {}
            created = old.created_at if live and old is not None else now
            return StateEntry(value, created, now, expires_at, meta)

        return self._backend.change(key, step).value

    def incr(self, key: str, by: float = 1, ttl: float | None = None) -> float:
        """Add ``by`` to the number under ``key`` (missing or expired: 0) atomically; returns the new number.

        Raises:
            TypeError: The key holds something that is not a number.

        Example:
            >>> state = StateManager()
            >>> state.incr("files"), state.incr("files", 2)
            (1, 3)
        """

        def add(value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"state key {key!r} holds {type(value).__name__}, not a number: incr cannot add to it")
            return value + by

        result: float = self.update(key, add, default=0, ttl=ttl)
        return result

    def _live(self, key: str) -> StateEntry | None:
        entry = self._backend.entry(key)
        if entry is None or not entry.live(time.time()):
            return None
        return entry

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` if it is missing or expired."""
        entry = self._live(key)
        return default if entry is None else entry.value

    def has(self, key: str) -> bool:
        """Whether ``key`` holds a live (not expired) value."""
        return self._live(key) is not None

    __contains__ = has

    def get_metadata(self, key: str) -> dict[str, Any] | None:
        """The metadata stored with ``key``; ``None`` if it is missing or expired."""
        entry = self._live(key)
        return None if entry is None else dict(entry.metadata)

    def get_entry(self, key: str) -> StateEntry | None:
        """The live entry with its timestamps and metadata, if any."""
        return self._live(key)

    def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if a live value was there."""
        entry = self._backend.entry(key)
        removed = self._backend.delete(key)
        return removed and entry is not None and entry.live(time.time())

    def clear(self) -> None:
        """Remove every key."""
        self._backend.clear()

    def get_all(self) -> dict[str, Any]:
        """``{key: value}`` of every live entry."""
        now = time.time()
        return {k: e.value for k, e in self._backend.entries().items() if e.live(now)}

    def keys(self) -> list[str]:
        """The live keys, sorted."""
        return sorted(self.get_all())

    def cleanup_expired(self) -> int:
        """Drop expired entries from storage; returns how many."""
        return self._backend.purge(time.time())

    def close(self) -> None:
        """Release the SQLite connections (other backends hold none)."""
        if isinstance(self._backend, _SQLiteBackend):
            self._backend.close()

    def __len__(self) -> int:
        return len(self.get_all())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
