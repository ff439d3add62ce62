"""What a watch handler receives: :class:`Change` and :class:`FileEvent`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Change", "FileEvent"]


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


@dataclass(frozen=True, slots=True)
class FileEvent:
    """One debounced change of one file, as a handler receives it.

    Attributes:
        change: What happened.
        path: Absolute path of the file (under the resolved root).
        root: The watched root, resolved to an absolute path.
        pattern: The glob of the handler that matched, or ``None`` when the
            handler has no pattern.

    Example:
        >>> e = FileEvent(Change.added, "/data/inbox/a.csv", "/data/inbox", "*.csv")
        >>> e.is_created, e.is_deleted, e.name
        (True, False, 'a.csv')
    """

    change: Change
    path: str
    root: str
    pattern: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.change, Change):
            object.__setattr__(self, "change", Change(self.change))

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
        return self.path.rsplit("/", 1)[-1]

    @property
    def relative_path(self) -> str:
        """The path relative to the root, with ``/`` separators."""
        prefix = self.root.rstrip("/") + "/"
        return self.path.removeprefix(prefix)
