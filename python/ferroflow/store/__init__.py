"""The run store: run history, task results, the result cache, resume.

The store itself is :mod:`ferroflow.store.store`; next to it live its SQLite plumbing
(``sqlite``), schema (``schema``), records (``records``), the run recorder
(``recorder``), cache keys (``cache``) and the ``StateManager`` (``state``). The names
below are importable from ``ferroflow.store`` as before.
"""

from __future__ import annotations

from .store import (
    DEFAULT_STORE,
    SCHEMA_VERSION,
    RunDetail,
    RunRecorder,
    RunSummary,
    Store,
    TaskSummary,
    default_store_path,
    open_store,
)

__all__ = [
    "DEFAULT_STORE",
    "SCHEMA_VERSION",
    "RunDetail",
    "RunRecorder",
    "RunSummary",
    "Store",
    "TaskSummary",
    "default_store_path",
    "open_store",
]
