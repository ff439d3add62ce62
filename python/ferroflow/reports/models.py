"""Structured run reports: a batch of files, each a list of steps, as JSON a UI can render.

Three Pydantic v2 models nest: a :class:`PipelineReport` (one batch, e.g. one
workflow run) holds :class:`StepReport` s and :class:`FileReport` s; a file
holds its own steps. Status, progress and the human-review flag roll up: a
file with a failed step is ``FAILED``, and so is its batch; a step flagged for
review flags its file and the batch. The JSON carries ``report_version`` and
reads back with ``PipelineReport.model_validate_json``.

Example:
    >>> report = PipelineReport(batch_id="b1", kind="ingest")
    >>> f = report.append_file(FileReport(file_id="f1", path="in/a.csv"))
    >>> _ = f.add_completed_step("parse", note="120 rows").add_review_step("check totals", reason="sum off by 1")
    >>> f.status, f.review.flagged, report.review.flagged
    (<ReportStatus.SUCCESS: 'SUCCESS'>, True, True)
    >>> PipelineReport.model_validate_json(report.model_dump_json()).files[0].name
    'a.csv'
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from ..errors import StoreError
from ..safetext import json_default

__all__ = [
    "REPORT_VERSION",
    "Check",
    "FileReport",
    "PipelineReport",
    "ReportStatus",
    "Review",
    "StepReport",
    "dump_report",
    "load_report",
]

#: Bumped when the JSON layout changes incompatibly.
REPORT_VERSION = 1


def utc_now() -> datetime:
    """Now, timezone-aware in UTC (the time stamps of reports)."""
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


class ReportStatus(StrEnum):
    """Status of a step, a file or a batch."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    @property
    def is_final(self) -> bool:
        """Whether the unit has ended."""
        return self in (ReportStatus.SUCCESS, ReportStatus.FAILED, ReportStatus.SKIPPED)


_FINAL = (ReportStatus.SUCCESS, ReportStatus.FAILED, ReportStatus.SKIPPED)


class Review(BaseModel):
    """A human-in-the-loop flag: someone should look at this."""

    flagged: bool = False
    reason: str | None = None


class Check(BaseModel):
    """A named pass/fail check made during a step."""

    name: str
    ok: bool
    detail: str | None = None


class _Model(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="ignore", use_enum_values=False)


class StepReport(_Model):
    """One unit of work: its status, timing, notes, warnings, errors and checks.

    Every mutator returns the step, so calls chain.

    Example:
        >>> step = StepReport(label="validate").begin()
        >>> _ = step.add_check("has header", True).add_check("no empty rows", False, "row 7")
        >>> step.end().status
        <ReportStatus.FAILED: 'FAILED'>
    """

    id: str = Field(default_factory=_new_id)
    label: str = ""
    status: ReportStatus = ReportStatus.PENDING
    percent: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    review: Review = Field(default_factory=Review)

    @model_validator(mode="after")
    def _default_label(self) -> StepReport:
        if not self.label:
            self.label = self.id
        return self

    @property
    def ok(self) -> bool:
        """No failed check and no error."""
        return not self.errors and all(c.ok for c in self.checks)

    # ---------------------------------------------------------------- lifecycle

    def begin(self) -> StepReport:
        """Mark the step running and note the start time."""
        self.status = ReportStatus.RUNNING
        if self.started_at is None:
            self.started_at = utc_now()
        return self

    start = begin

    def _finish(self, status: ReportStatus) -> StepReport:
        if self.started_at is None:
            self.started_at = utc_now()
        self.finished_at = utc_now()
        self.duration_ms = (self.finished_at - self.started_at).total_seconds() * 1000.0
        self.status = status
        self.percent = 100.0
        return self

    def succeed(self, note: str | None = None) -> StepReport:
        """End the step as ``SUCCESS``."""
        if note:
            self.notes.append(note)
        return self._finish(ReportStatus.SUCCESS)

    def fail(self, reason: str | None = None) -> StepReport:
        """End the step as ``FAILED``, recording ``reason`` as an error."""
        if reason:
            self.errors.append(reason)
        return self._finish(ReportStatus.FAILED)

    def skip(self, reason: str | None = None) -> StepReport:
        """End the step as ``SKIPPED``, recording ``reason`` as a note."""
        if reason:
            self.notes.append(reason)
        return self._finish(ReportStatus.SKIPPED)

    def end(self) -> StepReport:
        """End the step: ``SUCCESS`` if :attr:`ok`, else ``FAILED``; a no-op once ended."""
        if self.status in _FINAL:
            return self
        return self._finish(ReportStatus.SUCCESS if self.ok else ReportStatus.FAILED)

    # ---------------------------------------------------------------- content

    def note(self, message: str) -> StepReport:
        """Add a note."""
        self.notes.append(message)
        return self

    def warn(self, message: str) -> StepReport:
        """Add a warning (does not fail the step)."""
        self.warnings.append(message)
        return self

    def error(self, message: str) -> StepReport:
        """Add an error (``end()`` will then fail the step)."""
        self.errors.append(message)
        return self

    def add_check(self, name: str, ok: bool, detail: str | None = None) -> StepReport:
        """Record a check; a failed one makes ``end()`` fail the step."""
        self.checks.append(Check(name=name, ok=ok, detail=detail))
        return self

    def flag_review(self, reason: str | None = None) -> StepReport:
        """Ask for a human to look at this step."""
        self.review = Review(flagged=True, reason=reason)
        return self

    def set_progress(self, percent: float) -> StepReport:
        """Set the completion percentage (0-100)."""
        self.percent = max(0.0, min(100.0, float(percent)))
        return self


def _rollup_status(statuses: list[ReportStatus], errors: list[str]) -> ReportStatus:
    if errors or ReportStatus.FAILED in statuses:
        return ReportStatus.FAILED
    if not statuses:
        return ReportStatus.PENDING
    if all(s is ReportStatus.SKIPPED for s in statuses):
        return ReportStatus.SKIPPED
    if all(s in _FINAL for s in statuses):
        return ReportStatus.SUCCESS
    if all(s is ReportStatus.PENDING for s in statuses):
        return ReportStatus.PENDING
    return ReportStatus.RUNNING


def _rollup_review(units: Iterable[StepReport | FileReport]) -> Review:
    for unit in units:
        if unit.review.flagged:
            return Review(flagged=True, reason=unit.review.reason)
    return Review()


def _rollup_percent(percents: list[float]) -> float:
    return round(sum(percents) / len(percents), 2) if percents else 0.0


class FileReport(_Model):
    """What happened to one file: its steps, with status and progress rolled up.

    Example:
        >>> f = FileReport(file_id="1", path="inbox/scan.pdf", size_bytes=2048)
        >>> _ = f.add_completed_step("ocr").add_failed_step("classify", reason="no match")
        >>> f.name, f.status, f.percent
        ('scan.pdf', <ReportStatus.FAILED: 'FAILED'>, 100.0)
    """

    file_id: str = Field(default_factory=_new_id)
    path: str | None = None
    name: str | None = None
    size_bytes: int | None = None
    mime_type: str | None = None
    steps: list[StepReport] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @model_validator(mode="after")
    def _default_name(self) -> FileReport:
        if self.name is None and self.path:
            self.name = os.path.basename(str(self.path).rstrip("/\\"))
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> ReportStatus:
        """``FAILED`` if any step failed or the file has an error, else from the steps; a file
        finished without any step (an empty ``pipeline_file`` block) is ``SUCCESS``."""
        if not self.steps and not self.errors and self.finished_at is not None:
            return ReportStatus.SUCCESS
        return _rollup_status([s.status for s in self.steps], self.errors)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> float:
        """Mean progress of the steps (0 with no steps, 100 once finished without any)."""
        if not self.steps and self.finished_at is not None:
            return 100.0
        return _rollup_percent([s.percent for s in self.steps])

    @computed_field  # type: ignore[prop-decorator]
    @property
    def review(self) -> Review:
        """Flagged when any of its steps is."""
        return _rollup_review(self.steps)

    def append_step(self, step: StepReport) -> FileReport:
        """Add a step; returns the file."""
        self.steps.append(step)
        return self

    def add_step(self, label: str, **fields: Any) -> StepReport:
        """Add a new step (not yet started) and return it."""
        step = StepReport(label=label, **fields)
        self.steps.append(step)
        return step

    def add_completed_step(
        self, label: str, note: str | None = None, metadata: dict[str, Any] | None = None
    ) -> FileReport:
        """Add a step that succeeded; returns the file."""
        return self.append_step(StepReport(label=label, metadata=metadata or {}).succeed(note))

    def add_failed_step(
        self, label: str, reason: str | None = None, metadata: dict[str, Any] | None = None
    ) -> FileReport:
        """Add a step that failed (``reason`` becomes its error); returns the file."""
        return self.append_step(StepReport(label=label, metadata=metadata or {}).fail(reason))

    def add_skipped_step(
        self, label: str, reason: str | None = None, metadata: dict[str, Any] | None = None
    ) -> FileReport:
        """Add a step that was skipped; returns the file."""
        return self.append_step(StepReport(label=label, metadata=metadata or {}).skip(reason))

    def add_review_step(
        self,
        label: str,
        reason: str | None = None,
        mark_success: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> FileReport:
        """Add a step flagged for human review (ended as ``SUCCESS`` unless ``mark_success=False``)."""
        step = StepReport(label=label, metadata=metadata or {}).flag_review(reason)
        if mark_success:
            step.succeed()
        else:
            step.begin()
        return self.append_step(step)

    def error(self, message: str) -> FileReport:
        """Record an error on the file itself (it is then ``FAILED``)."""
        self.errors.append(message)
        return self

    def note(self, message: str) -> FileReport:
        """Add a note to the file."""
        self.notes.append(message)
        return self


class PipelineReport(_Model):
    """A batch (one run, one import, ...) with its own steps and files.

    ``percent`` is the value last given to :meth:`set_progress`, or else the
    roll-up of the steps and files. ``status`` and ``review`` always roll up.

    Example:
        >>> r = PipelineReport(batch_id="run-1", kind="etl")
        >>> _ = r.set_progress("loading", 40, "2 of 5 files")
        >>> r.append_step(StepReport(label="load").succeed()).status
        <ReportStatus.SUCCESS: 'SUCCESS'>
        >>> r.percent, r.stage
        (40.0, 'loading')
    """

    report_version: int = REPORT_VERSION
    batch_id: str = Field(default_factory=_new_id)
    kind: str = "pipeline"
    stage: str | None = None
    message: str | None = None
    progress: float | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    steps: list[StepReport] = Field(default_factory=list)
    files: list[FileReport] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    output_path: Path | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> ReportStatus:
        """``FAILED`` if anything failed; otherwise rolled up from steps and files."""
        units: list[StepReport | FileReport] = [*self.steps, *self.files]
        return _rollup_status([u.status for u in units], self.errors)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> float:
        """Explicit progress, else the mean of its steps' and files' progress."""
        if self.progress is not None:
            return self.progress
        units: list[StepReport | FileReport] = [*self.steps, *self.files]
        return _rollup_percent([u.percent for u in units])

    @computed_field  # type: ignore[prop-decorator]
    @property
    def review(self) -> Review:
        """Flagged when any step or file is."""
        return _rollup_review([*self.steps, *self.files])

    def _touch(self) -> None:
        self.updated_at = utc_now()

    def set_progress(
        self, stage: str | None = None, percent: float | None = None, message: str | None = None
    ) -> PipelineReport:
        """Set the current stage, the progress percentage and a message; returns the report."""
        if stage is not None:
            self.stage = stage
        if percent is not None:
            self.progress = max(0.0, min(100.0, float(percent)))
        if message is not None:
            self.message = message
        self._touch()
        return self

    def append_step(self, step: StepReport) -> PipelineReport:
        """Add a batch-level step; returns the report."""
        self.steps.append(step)
        self._touch()
        return self

    def append_file(self, file: FileReport) -> FileReport:
        """Add a file and return it (to add its steps)."""
        self.files.append(file)
        self._touch()
        return file

    def file(self, file_id: str) -> FileReport | None:
        """The file with this id, if any."""
        return next((f for f in self.files if f.file_id == file_id), None)

    def error(self, message: str) -> PipelineReport:
        """Record an error on the batch itself (it is then ``FAILED``)."""
        self.errors.append(message)
        self._touch()
        return self

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the report atomically to ``path`` or :attr:`output_path`.

        Raises:
            ValueError: Neither ``path`` nor ``output_path`` is set.
            StoreError: The file cannot be written (the old one stays intact).
        """
        target = path if path is not None else self.output_path
        if target is None:
            raise ValueError(f"report {self.batch_id!r} has no output_path; pass a path to save()")
        self._touch()
        return dump_report(target, self)


def dump_report(path: str | os.PathLike[str], report: BaseModel) -> Path:
    """Write ``report`` as JSON to ``path`` atomically: temp file, fsync, rename.

    Readers see the old file or the new one, never half of one.

    Returns:
        The path written.

    Raises:
        StoreError: The directory is missing or not writable, or the disk is
            full; an existing file at ``path`` is left as it was.

    Example:
        >>> import tempfile, pathlib
        >>> p = dump_report(pathlib.Path(tempfile.mkdtemp()) / "r.json", PipelineReport(batch_id="b"))
        >>> load_report(p).batch_id
        'b'
    """
    target = Path(path)
    data = report.model_dump_json(indent=2, fallback=json_default).encode()
    fd, tmp = -1, ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = ""
        _fsync_dir(target.parent)
    except OSError as exc:
        raise StoreError(f"cannot write report {target}: {exc.strerror or exc}") from exc
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return target


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def load_report(path: str | os.PathLike[str]) -> PipelineReport:
    """Read a report written by :func:`dump_report`.

    Raises:
        StoreError: The file is missing, unreadable, or not a valid report.
    """
    target = Path(path)
    try:
        text = target.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read report {target}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{target} is not a valid ferroflow report: not JSON ({exc})") from exc
    if not isinstance(data, dict) or "batch_id" not in data:
        raise StoreError(f"{target} is not a valid ferroflow report: no batch_id (write reports with dump_report)")
    try:
        return PipelineReport.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
        raise StoreError(
            f"{target} is not a valid ferroflow report: {where}: {first.get('msg')} ({exc.error_count()} error(s))"
        ) from exc
