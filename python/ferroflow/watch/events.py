"""What a watch handler receives: :class:`Change` and :class:`FileEvent`, and the handler types."""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeAlias

__all__ = ["AsyncHandler", "Change", "FileEvent", "Handler", "SyncHandler"]


class Change(IntEnum):
    """The kind of a file change.

    The values are those of ``watchfiles.Change`` (and of the Rust core's
    ``Change``, which must stay in step with this class).

    Example:
        >>> Change.added, int(Change.deleted)
        (<Change.added: 1>, 3)
        >>> Change(2).name
        'modified'
    """

    added = 1
    """The file appeared (created, moved here, or found by ``process_existing``)."""
    modified = 2
    """The file's content or metadata changed (including an editor's save-by-rename)."""
    deleted = 3
    """The file disappeared (deleted or moved away)."""


@dataclass(frozen=True, slots=True, init=False)
class FileEvent:
    """One debounced change of one file, as a handler receives it.

    Attributes:
        change: What happened.
        path: Absolute path of the file (under the resolved root), a ``pathlib.Path``.
        root: The watched root, resolved to an absolute path, a ``pathlib.Path``.
        pattern: The glob of the handler that matched, or ``None`` when the
            handler has no pattern.

    Example:
        >>> e = FileEvent(Change.added, "/data/inbox/a.csv", "/data/inbox", "*.csv")
        >>> e.is_created, e.is_deleted, e.name, e.path.suffix
        (True, False, 'a.csv', '.csv')
        >>> e.path
        PosixPath('/data/inbox/a.csv')
    """

    change: Change
    path: Path
    root: Path
    pattern: str | None

    def __init__(
        self,
        change: Change | int,
        path: str | os.PathLike[str],
        root: str | os.PathLike[str],
        pattern: str | None = None,
    ) -> None:
        """Build an event; ``path`` and ``root`` may be strings or path-likes (kept as ``Path``)."""
        setattr_ = object.__setattr__
        setattr_(self, "change", change if isinstance(change, Change) else Change(change))
        setattr_(self, "path", path if isinstance(path, Path) else Path(path))
        setattr_(self, "root", root if isinstance(root, Path) else Path(root))
        setattr_(self, "pattern", pattern)

    @property
    def is_created(self) -> bool:
        """Whether the file was added."""
        return self.change is Change.added

    @property
    def is_modified(self) -> bool:
        """Whether the file was modified."""
        return self.change is Change.modified

    @property
    def is_deleted(self) -> bool:
        """Whether the file was deleted."""
        return self.change is Change.deleted

    @property
    def name(self) -> str:
        """The file name (last path component)."""
        return self.path.name

    @property
    def relative_path(self) -> str:
        """The path relative to the root, as a string with ``/`` separators."""
        path, root = str(self.path), str(self.root)
        prefix = root.rstrip("/") + "/"
        return path.removeprefix(prefix)


SyncHandler: TypeAlias = Callable[[FileEvent], None]
"""A handler called in the app's thread pool: ``def handle(event: FileEvent) -> None``."""

AsyncHandler: TypeAlias = Callable[[FileEvent], Coroutine[Any, Any, None]]
"""A handler awaited on the app's event loop: ``async def handle(event: FileEvent) -> None``."""

Handler: TypeAlias = SyncHandler | AsyncHandler
"""Either kind of handler (what the ``on_*`` decorators and ``WatchApp.add_handler`` take)."""
