"""``@on_created``, ``@on_modified``, ``@on_deleted``, ``@on_any``.

Each registers the decorated function on an app (the default app unless
``app=`` is given) and returns the function unchanged, so it can still be
called directly in tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict, TypeVar, Unpack

from .app import WatchApp, default_app
from .events import Change

__all__ = ["AddedHandlerOptions", "HandlerOptions", "on_any", "on_created", "on_deleted", "on_modified"]

F = TypeVar("F", bound=Callable[..., Any])
Root = str | os.PathLike[str]
Pattern = str | Sequence[str] | None


class HandlerOptions(TypedDict, total=False):
    """The options of a handler decorator (see :func:`on_created` for what each does)."""

    process_existing: bool
    priority: int
    recursive: bool | None
    ignore: str | Sequence[str] | None
    app: WatchApp | None


class AddedHandlerOptions(HandlerOptions, total=False):
    """:class:`HandlerOptions` of the decorators that see added files (``stable_for`` too)."""

    stable_for: float | None


def _register(
    decorator: str, events: list[Change], root: Root, pattern: Pattern, options: Mapping[str, Any]
) -> Callable[[F], F]:
    allowed = AddedHandlerOptions.__annotations__ if Change.added in events else HandlerOptions.__annotations__
    for key in options:
        if key not in allowed:
            raise TypeError(f"{decorator}() got an unexpected keyword argument {key!r}")
    app = options.get("app")

    def decorate(fn: F) -> F:
        (app or default_app()).add_handler(
            fn,
            root,
            events,
            pattern,
            options.get("process_existing", False),
            options.get("priority", 0),
            recursive=options.get("recursive"),
            ignore=options.get("ignore"),
            stable_for=options.get("stable_for"),
        )
        return fn

    return decorate


def on_created(
    root: Root,
    pattern: Pattern = None,
    **options: Unpack[AddedHandlerOptions],
) -> Callable[[F], F]:
    """Call the decorated function when a matching file is added under ``root``.

    Args:
        root: The folder to watch.
        pattern: A glob or list of globs: ``*.txt`` matches the file name at
            any depth; patterns with ``/`` or ``**`` match the path relative to
            the root (``**/`` matches zero or more folders).
        process_existing: Also report each existing matching file at start.
        priority: Higher runs first among the handlers of one event.
        recursive: Include sub-folders (default: the app's setting, True).
        ignore: Extra globs to ignore, on top of ``.git/``, ``__pycache__/``,
            ``node_modules/`` and editor swap/backup files.
        stable_for: Deliver a new file only once it stopped changing for this
            many seconds (one event with the final content for a slow copy).
        app: The app to register on (default: :func:`default_app`).

    Returns:
        A decorator that registers the function and returns it unchanged.

    Example:
        >>> import tempfile
        >>> from ferroflow.watch import WatchApp, FileEvent
        >>> app = WatchApp()
        >>> @on_created(tempfile.gettempdir(), pattern="*.csv", app=app)
        ... def load(event: FileEvent) -> None:
        ...     print(event.path)
        >>> [h.name.rsplit(".", 1)[-1] for h in app.handlers], app.handlers[0].events
        (['load'], [<Change.added: 1>])
    """
    return _register("on_created", [Change.added], root, pattern, options)


def on_modified(
    root: Root,
    pattern: Pattern = None,
    **options: Unpack[HandlerOptions],
) -> Callable[[F], F]:
    """Call the decorated function when a matching file under ``root`` changes.

    An editor's atomic save (write a temp file, rename it over the target)
    is one modification of the target. Arguments as for :func:`on_created`;
    with ``process_existing`` the handler is also called once per existing
    matching file at start (with ``Change.added``).

    Example:
        >>> import tempfile
        >>> from ferroflow.watch import WatchApp
        >>> app = WatchApp()
        >>> @on_modified(tempfile.gettempdir(), priority=5, app=app)
        ... def reload(event): ...
        >>> app.handlers[0].events, app.handlers[0].priority
        ([<Change.modified: 2>], 5)
    """
    return _register("on_modified", [Change.modified], root, pattern, options)


def on_deleted(
    root: Root,
    pattern: Pattern = None,
    **options: Unpack[HandlerOptions],
) -> Callable[[F], F]:
    """Call the decorated function when a matching file under ``root`` disappears.

    A rename away counts as a deletion; removing a folder reports each file
    that was in it. Arguments as for :func:`on_created`.

    Example:
        >>> import tempfile
        >>> from ferroflow.watch import WatchApp
        >>> app = WatchApp()
        >>> @on_deleted(tempfile.gettempdir(), pattern=["*.log", "logs/**"], app=app)
        ... def forget(event): ...
        >>> app.handlers[0].pattern
        ['*.log', 'logs/**']
    """
    return _register("on_deleted", [Change.deleted], root, pattern, options)


def on_any(
    root: Root,
    pattern: Pattern = None,
    **options: Unpack[AddedHandlerOptions],
) -> Callable[[F], F]:
    """Call the decorated function for every change of a matching file under ``root``.

    Arguments as for :func:`on_created` (``stable_for`` holds added files only).

    Example:
        >>> import tempfile
        >>> from ferroflow.watch import WatchApp
        >>> app = WatchApp()
        >>> @on_any(tempfile.gettempdir(), recursive=False, app=app)
        ... async def audit(event): ...
        >>> len(app.handlers[0].events), app.handlers[0].is_async
        (3, True)
    """
    return _register("on_any", [Change.added, Change.modified, Change.deleted], root, pattern, options)
