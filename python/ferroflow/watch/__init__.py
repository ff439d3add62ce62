"""Watch folders and run handlers on debounced file events.

>>> from ferroflow import FileEvent, on_created, run
>>> @on_created("inbox", pattern="*.csv", process_existing=True)   # doctest: +SKIP
... def load(event: FileEvent) -> None: ...
>>> run()                                                         # doctest: +SKIP

Patterns: ``*.txt`` matches the file name at any depth; a pattern with ``/``
or ``**`` matches the path relative to the root, and ``**/`` matches zero or
more folders (``**/*.json`` also matches ``a.json`` in the root); ``*`` never
crosses ``/``. VCS folders (``.git``), caches (``__pycache__``,
``node_modules``, ...) and editor swap/backup files are ignored, and ignored
folders cost no OS watch.

Within one debounce window, per path: created + modified → added; created +
deleted → nothing; deleted + created → modified; many modified → one; a
rename is a deletion plus an addition. When the OS event queue overflows the
roots are rescanned and the differences reported, so no change is lost.
"""

from __future__ import annotations

from .app import RegisteredHandler, WatchApp, WatchHandlerError, default_app, reset_default_app, run
from .decorators import on_any, on_created, on_deleted, on_modified
from .events import AsyncHandler, Change, FileEvent, Handler, SyncHandler

__all__ = [
    "AsyncHandler",
    "Change",
    "FileEvent",
    "Handler",
    "RegisteredHandler",
    "SyncHandler",
    "WatchApp",
    "WatchHandlerError",
    "default_app",
    "on_any",
    "on_created",
    "on_deleted",
    "on_modified",
    "reset_default_app",
    "run",
]
