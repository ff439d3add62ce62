"""Module paths from before the package layout, kept for one release.

``import ferroflow.tasks`` (or any old path in :data:`MOVED`) still works: the
module it gives re-exports its new home (every name, public or not) and warns once
with a ``DeprecationWarning`` that names the new path. The old paths have no files
of their own; :func:`install` (called by ``import ferroflow``) adds a finder for them
to ``sys.meta_path``. Pickles that name an old path (results stored before the
move) load through the same finder.

Example:
    >>> import importlib, sys, warnings
    >>> sys.modules.pop("ferroflow.retries", None) and None
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     old = importlib.import_module("ferroflow.retries")
    >>> str(caught[0].message)
    'ferroflow.retries is deprecated: import from ferroflow.engine.retries instead'
    >>> from ferroflow.engine.retries import RetryPolicy
    >>> old.RetryPolicy is RetryPolicy
    True
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

__all__ = ["MOVED", "install"]

#: Old module path -> the module it moved to (or the modules it was split into).
MOVED: dict[str, str | tuple[str, ...]] = {
    "ferroflow.tasks": "ferroflow.engine.tasks",
    "ferroflow.retries": "ferroflow.engine.retries",
    "ferroflow.inputs": "ferroflow.engine.inputs",
    "ferroflow.workflow": "ferroflow.engine.workflow",
    "ferroflow.dag": "ferroflow.engine.dag",
    "ferroflow.flow": "ferroflow.engine.builder",
    "ferroflow.visualize": "ferroflow.engine.visualize",
    "ferroflow.executors.attempts": "ferroflow.engine.attempts",
    "ferroflow.cache": "ferroflow.store.cache",
    "ferroflow.state": "ferroflow.store.state",
    "ferroflow.flowfile": "ferroflow.flowfiles.model",
    "ferroflow.flowexec": "ferroflow.flowfiles.execute",
    "ferroflow.scripts": "ferroflow.flowfiles.scripts",
    "ferroflow.project": "ferroflow.flowfiles.project",
    "ferroflow.targets": "ferroflow.flowfiles.targets",
    "ferroflow.schedule": ("ferroflow.scheduling.schedules", "ferroflow.scheduling.table"),
    "ferroflow.daemon": "ferroflow.scheduling.daemon",
    "ferroflow.demo": "ferroflow.cli.demo_project",
}


def _stacklevel() -> int:
    """The ``stacklevel`` that points the warning at the line that imported the old path."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if "importlib" in name and "_bootstrap" in name:  # skipped by ``warnings`` too
            frame = frame.f_back  # type: ignore[assignment]
            continue
        if name != __file__ and not name.endswith(("importlib/__init__.py", "pickle.py")):
            return level
        level += 1
        frame = frame.f_back  # type: ignore[assignment]
    return level


class _Loader:
    # Plain classes (not importlib.abc's): importing importlib.abc would load
    # importlib.resources on every ``import ferroflow``.

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        old = module.__name__
        moved = MOVED[old]
        homes = (moved,) if isinstance(moved, str) else moved
        names: list[str] = []
        for home in reversed(homes):  # the first home wins a name both define
            target = importlib.import_module(home)
            module.__dict__.update({k: v for k, v in vars(target).items() if not k.startswith("__")})
            names += getattr(target, "__all__", ())
        new = " or ".join(homes)
        module.__doc__ = f"Deprecated: moved to {new}."
        module.__all__ = sorted(set(names))  # type: ignore[attr-defined]
        warnings.warn(f"{old} is deprecated: import from {new} instead", DeprecationWarning, stacklevel=_stacklevel())


class _Finder:
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, cast("Loader", _LOADER))


_LOADER = _Loader()
_FINDER = _Finder()


def install() -> None:
    """Put the finder of the old paths on ``sys.meta_path`` (once)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)
