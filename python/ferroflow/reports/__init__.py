"""Structured run reports: a batch of files, each a list of steps, as JSON a UI can render.

The models live in :mod:`ferroflow.reports.models` and the context managers that fill a
report as code runs in :mod:`ferroflow.reports.context`. The automatic report of a
workflow run is built from run records, so it lives with them, in
:mod:`ferroflow.store.run_report`; ``build_run_report`` and ``report_from_rows`` are
still importable from here for one release (with a ``DeprecationWarning``).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from .context import bind_pipeline, current_pipeline, pipeline_file, pipeline_step
from .models import (
    REPORT_VERSION,
    Check,
    FileReport,
    PipelineReport,
    ReportStatus,
    Review,
    StepReport,
    dump_report,
    load_report,
)

__all__ = [
    "REPORT_VERSION",
    "Check",
    "FileReport",
    "PipelineReport",
    "ReportStatus",
    "Review",
    "StepReport",
    "bind_pipeline",
    "current_pipeline",
    "dump_report",
    "load_report",
    "pipeline_file",
    "pipeline_step",
]

_MOVED_NAMES = {"build_run_report", "report_from_rows"}


def __getattr__(name: str) -> Any:
    if name not in _MOVED_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"ferroflow.reports.{name} is deprecated: import it from ferroflow.store.run_report instead",
        DeprecationWarning,
        stacklevel=2,
    )
    # By name: the store's layer sits above this one (docs/architecture.md).
    return getattr(importlib.import_module("ferroflow.store.run_report"), name)
