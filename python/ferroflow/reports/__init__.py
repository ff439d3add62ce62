"""Structured run reports: a batch of files, each a list of steps, as JSON a UI can render.

The models live in :mod:`ferroflow.reports.models`, the context managers that fill a
report as code runs in :mod:`ferroflow.reports.context`, and the automatic report of a
workflow run in :mod:`ferroflow.reports.run_report`. The names below are importable
from ``ferroflow.reports`` as before.
"""

from __future__ import annotations

from .models import (
    REPORT_VERSION,
    Check,
    FileReport,
    PipelineReport,
    ReportStatus,
    Review,
    StepReport,
    bind_pipeline,
    build_run_report,
    current_pipeline,
    dump_report,
    load_report,
    pipeline_file,
    pipeline_step,
    report_from_rows,
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
    "build_run_report",
    "current_pipeline",
    "dump_report",
    "load_report",
    "pipeline_file",
    "pipeline_step",
    "report_from_rows",
]
