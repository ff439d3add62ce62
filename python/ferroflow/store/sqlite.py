"""SQLite plumbing shared by the run store and the SQLite ``StateManager``.

One connection per thread (and per process: a forked child opens its own), WAL
journal, a busy timeout plus a retry loop around ``BEGIN IMMEDIATE`` so that
several processes can write at once without "database is locked" ever reaching
the user. A database opened ``readonly`` is read through a read-only connection
that writes nothing beside the file (see :meth:`SQLiteDB.readonly_uri`). Every ``sqlite3`` error leaves this module as a
:class:`~ferroflow.errors.StoreError` naming the file and the operation.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from ..errors import StoreError

__all__ = ["SQLiteDB"]

T = TypeVar("T")

#: Seconds SQLite's own busy handler waits on a lock before giving up once.
_BUSY_TIMEOUT_S = 5.0
#: Total seconds we keep retrying a busy database before raising StoreError.
_RETRY_DEADLINE_S = 60.0


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def describe_error(path: Path, action: str, exc: BaseException) -> StoreError:
    """Turn a low-level error into a ``StoreError`` that says what and where."""
    text = str(exc)
    low = text.lower()
    if "not a database" in low or "malformed" in low:
        hint = "the file is not a valid SQLite database; move it away or pass another store path"
    elif "readonly" in low or "read-only" in low or isinstance(exc, PermissionError):
        hint = "the file or its directory is read-only; pass a writable store path or store=None"
    elif "unable to open" in low:
        hint = "the directory is missing or not writable; pass a writable store path or store=None"
    elif "disk" in low and ("full" in low or "i/o" in low) or isinstance(exc, OSError) and exc.errno == 28:
        hint = "the disk is full or failing; free some space and retry"
    elif "locked" in low or "busy" in low:
        hint = f"another process kept it locked for over {_RETRY_DEADLINE_S:.0f} s; retry when it is done"
    else:
        hint = "check the file and its permissions"
    return StoreError(f"cannot {action} store {path}: {text} ({hint})")


class SQLiteDB:
    """A SQLite file opened with one connection per thread.

    Args:
        path: The database file; its directory is created if missing.
        synchronous: ``FULL`` (a commit acknowledged before a crash survives
            it) or ``NORMAL`` (survives a process crash, not a power loss).
        init: Called with a fresh connection inside a write transaction the
            first time the file is opened in this process (create tables,
            migrate); it runs once per ``SQLiteDB``.
        probe: Called with the first connection before anything is written
            (not even the switch to WAL); raise to refuse the file untouched.
        readonly: Read the file without writing anything, to it or beside it;
            every write raises ``StoreError``.

    Example:
        >>> import tempfile, pathlib
        >>> db = SQLiteDB(pathlib.Path(tempfile.mkdtemp()) / "x.db")
        >>> with db.transaction() as conn:
        ...     _ = conn.execute("CREATE TABLE t (x)")
        >>> with db.read() as conn:
        ...     conn.execute("SELECT count(*) FROM t").fetchone()[0]
        0
    """

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        init: Callable[[sqlite3.Connection], None] | None = None,
        probe: Callable[[sqlite3.Connection], None] | None = None,
        readonly: bool = False,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self._synchronous = synchronous
        self._local = threading.local()
        self._lock = threading.Lock()
        self._closed = False
        self._all: list[sqlite3.Connection] = []
        self._probe = probe
        if readonly:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise describe_error(path, "create the directory of", exc) from exc
        if init is not None:
            self.run_write(init, action="initialise")

    # ------------------------------------------------------------ connections

    def readonly_uri(self) -> str:
        """The URI of a read-only connection that creates no ``-wal`` / ``-shm`` file.

        With a ``-shm`` file beside the database (a writer is or was at work),
        SQLite reads the write-ahead log through it, even where it cannot write
        it. Without one and with no log to read, the file is read as
        ``immutable`` (no locks, no shared memory): nobody writes a WAL
        database without a ``-shm``, and none can be made here.

        Raises:
            StoreError: A write-ahead log with committed data but no ``-shm``
                beside it, in a folder where none can be created.
        """
        uri = f"file:{urllib.parse.quote(str(self.path))}?mode=ro"
        wal, shm = Path(f"{self.path}-wal"), Path(f"{self.path}-shm")
        if shm.exists():
            return uri
        try:
            logged = wal.stat().st_size > 0
        except OSError:
            logged = False
        if not logged:
            return uri + "&immutable=1"
        if os.access(self.path.parent, os.W_OK):
            return uri
        raise StoreError(
            f"cannot read store {self.path}: its write-ahead log {wal.name} holds data, but there is no {shm.name} "
            f"beside it and its folder {self.path.parent} is read-only, so SQLite cannot read the log; make the "
            "folder writable for one ferroflow command (it folds the log into the store), or copy the folder "
            "somewhere writable and pass the copy with --home"
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            if self.readonly:
                conn = sqlite3.connect(
                    self.readonly_uri(),
                    uri=True,
                    timeout=_BUSY_TIMEOUT_S,
                    isolation_level=None,
                    check_same_thread=False,
                )
            else:
                conn = sqlite3.connect(
                    str(self.path), timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
        except sqlite3.Error as exc:
            raise describe_error(self.path, "open", exc) from exc
        try:
            # Reading the schema first fails cleanly on a file that is not a database, before any write.
            self._retry(lambda: conn.execute("SELECT count(*) FROM sqlite_master").fetchone())
            if self._probe is not None:
                self._probe(conn)
                self._probe = None
            if self.readonly:
                with self._lock:
                    self._all.append(conn)
                return conn
            mode = self._retry(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
            if mode is None or str(mode[0]).lower() != "wal":
                raise sqlite3.OperationalError(f"journal mode is {mode!r}, WAL is required (read-only medium?)")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, StoreError) as exc:
            conn.close()
            if isinstance(exc, StoreError):
                raise
            raise describe_error(self.path, "open", exc) from exc
        with self._lock:
            self._all.append(conn)
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, reopened after a fork)."""
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != pid:
            conn = self._connect()
            self._local.conn = conn
            self._local.pid = pid
        return conn

    def set_synchronous(self, mode: str) -> None:
        """Set ``PRAGMA synchronous`` (``FULL`` or ``NORMAL``) on this thread's connection only."""
        if mode not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {mode!r}")
        conn = self.connection()
        try:
            conn.execute(f"PRAGMA synchronous={mode}")
        except sqlite3.Error as exc:
            raise describe_error(self.path, "configure", exc) from exc

    def release(self) -> None:
        """Close this thread's connection (a thread about to end calls this; the next use reopens)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def close(self) -> None:
        """Close every connection this object opened (in this process)."""
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # ------------------------------------------------------------ retries

    def _retry(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + _RETRY_DEADLINE_S
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)

    def _check_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"store {self.path} was opened read-only; open it for writing to change it")

    def run_write(self, fn: Callable[[sqlite3.Connection], T], *, action: str = "write to") -> T:
        """Run ``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction, retried while busy.

        ``fn`` may run more than once when the database was busy, so it must
        only touch the database.
        """
        self._check_writable()
        conn = self.connection()

        def attempt() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                value = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return value

        try:
            return self._retry(attempt)
        except sqlite3.Error as exc:
            raise describe_error(self.path, action, exc) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) on this thread's connection.

        Waiting for the write lock is retried while another process holds it;
        the body runs once, and is committed on success or rolled back on an
        exception.
        """
        self._check_writable()
        conn = self.connection()
        if conn.in_transaction:
            raise StoreError(f"nested transaction on store {self.path}: finish the outer one first")
        try:
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
        except sqlite3.Error as exc:
            raise describe_error(self.path, "begin a transaction on", exc) from exc
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        try:
            self._retry(lambda: conn.execute("COMMIT"))
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise describe_error(self.path, "commit to", exc) from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection for queries; SQLite errors become ``StoreError``."""
        conn = self.connection()
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise describe_error(self.path, "read", exc) from exc
        except sqlite3.DatabaseError as exc:
            raise describe_error(self.path, "read", exc) from exc

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """Run a read query (retried while busy) and return all rows as ``sqlite3.Row``."""
        conn = self.connection()

        def attempt() -> list[sqlite3.Row]:
            cur = conn.cursor()
            cur.row_factory = sqlite3.Row
            return cur.execute(sql, params).fetchall()

        try:
            return self._retry(attempt)
        except sqlite3.Error as exc:
            raise describe_error(self.path, "read", exc) from exc
