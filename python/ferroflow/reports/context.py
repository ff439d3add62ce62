"""Context managers that fill a report as code runs: ``pipeline_step``, ``pipeline_file``, ``bind_pipeline``.

The unit is timed and finalized even when the body raises. By default an
exception is recorded on the unit and execution continues after the ``with``
block (``raise_on_exception=True`` re-raises it); ``KeyboardInterrupt``,
``SystemExit`` and other non-``Exception`` errors are recorded and always
re-raised. Nothing is written to disk unless the report has an ``output_path``.

The bound report and file live in context variables, so each thread and each
asyncio task sees its own.
"""

from __future__ import annotations

import mimetypes
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..errors import StoreError
from ..safetext import describe_error
from .models import FileReport, PipelineReport, StepReport, utc_now

__all__ = ["bind_pipeline", "current_pipeline", "pipeline_file", "pipeline_step"]

_PIPELINE: ContextVar[PipelineReport | None] = ContextVar("ferroflow_pipeline", default=None)
_FILE: ContextVar[FileReport | None] = ContextVar("ferroflow_pipeline_file", default=None)


def current_pipeline() -> PipelineReport | None:
    """The report bound by the innermost :func:`bind_pipeline` in this thread / task."""
    return _PIPELINE.get()


@contextmanager
def bind_pipeline(report: PipelineReport) -> Iterator[PipelineReport]:
    """Make ``report`` the default for ``pipeline_step(None, ...)`` and ``pipeline_file(None, ...)``.

    The binding is a context variable: other threads and other asyncio tasks
    are not affected, and it is undone when the block ends.

    Example:
        >>> report = PipelineReport(batch_id="b")
        >>> with bind_pipeline(report):
        ...     with pipeline_step(None, "extract") as step:
        ...         _ = step.note("3 rows")
        >>> report.steps[0].label, report.steps[0].status.value
        ('extract', 'SUCCESS')
        >>> current_pipeline() is None
        True
    """
    token = _PIPELINE.set(report)
    try:
        yield report
    finally:
        _PIPELINE.reset(token)


def _trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


@contextmanager
def pipeline_step(
    report: PipelineReport | FileReport | None,
    name: str,
    label: str | None = None,
    *,
    raise_on_exception: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Iterator[StepReport]:
    """Run a block as one step of ``report`` (or of the bound file / pipeline when ``None``).

    The step starts on entry. On a clean exit it ends as ``SUCCESS`` unless a
    check failed or an error was recorded (then ``FAILED``); if the body
    already called ``succeed``/``fail``/``skip``, that stands. An exception
    fails the step with its message (the traceback goes in
    ``metadata["traceback"]``).

    Args:
        report: Where the step goes; ``None`` for the file of the enclosing
            :func:`pipeline_file`, else the :func:`bind_pipeline` report, else
            nowhere (the step is still yielded and timed).
        name: The step's id.
        label: Display label (defaults to ``name``).
        raise_on_exception: Re-raise an ``Exception`` after recording it.
        metadata: Initial step metadata.

    Example:
        >>> report = PipelineReport(batch_id="b")
        >>> with pipeline_step(report, "parse", label="Parse input") as step:
        ...     raise ValueError("bad row 3")
        >>> report.steps[0].status.value, report.steps[0].errors
        ('FAILED', ['ValueError: bad row 3'])
    """
    target: PipelineReport | FileReport | None = report
    if target is None:
        target = _FILE.get() or _PIPELINE.get()
    step = StepReport(id=name, label=label or name, metadata=dict(metadata or {}))
    if target is not None:
        target.append_step(step)
    step.begin()
    try:
        yield step
    except Exception as exc:
        step.metadata["traceback"] = _trace(exc)
        step.fail(describe_error(exc))
        if raise_on_exception:
            raise
    except BaseException as exc:
        step.fail(f"interrupted: {describe_error(exc)}")
        raise
    else:
        step.end()


@contextmanager
def pipeline_file(
    report: PipelineReport | None,
    file_id: str | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    raise_on_exception: bool = False,
    save_on_exception: bool = True,
    set_stage_on_enter: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Iterator[FileReport]:
    """Process one file as a unit of ``report`` (or of the bound pipeline when ``None``).

    Steps opened with ``pipeline_step(None, ...)`` inside the block go to this
    file. An exception is recorded on the file (which is then ``FAILED``),
    the report is saved when it has an ``output_path`` and
    ``save_on_exception`` is true, and execution continues after the block
    unless ``raise_on_exception``.

    Args:
        report: The batch; ``None`` for the bound one (or none at all).
        file_id: The file's id (default: its path, else a random id).
        path: The file's path; its size and MIME type are filled in when it exists.
        name: Display name (default: the path's base name).
        raise_on_exception: Re-raise an ``Exception`` after recording it.
        save_on_exception: Save the report when the block raises.
        set_stage_on_enter: Set the report's ``stage`` on entry.
        metadata: Initial file metadata.

    Example:
        >>> report = PipelineReport(batch_id="b", kind="inbox")
        >>> with pipeline_file(report, path="inbox/a.txt") as f:
        ...     with pipeline_step(None, "read"):
        ...         pass
        ...     with pipeline_step(None, "classify"):
        ...         raise RuntimeError("unknown layout")
        >>> f.status.value, [s.status.value for s in f.steps]
        ('FAILED', ['SUCCESS', 'FAILED'])
    """
    target = report if report is not None else _PIPELINE.get()
    text_path = os.fspath(path) if path is not None else None
    file = FileReport(
        file_id=file_id or text_path or FileReport.model_fields["file_id"].get_default(call_default_factory=True),
        path=text_path,
        name=name,
        metadata=dict(metadata or {}),
        started_at=utc_now(),
    )
    if text_path is not None:
        try:
            file.size_bytes = os.stat(text_path).st_size
        except OSError:
            pass
        file.mime_type = mimetypes.guess_type(text_path)[0]
    if target is not None:
        target.append_file(file)
        if set_stage_on_enter is not None:
            target.set_progress(stage=set_stage_on_enter)
    token = _FILE.set(file)
    try:
        yield file
    except Exception as exc:
        _record_failure(file, exc, target if save_on_exception else None)
        if raise_on_exception:
            raise
    except BaseException as exc:
        _record_failure(file, exc, target if save_on_exception else None, interrupted=True)
        raise
    finally:
        _FILE.reset(token)
        file.finished_at = utc_now()


def _record_failure(
    file: FileReport, exc: BaseException, save_to: PipelineReport | None, *, interrupted: bool = False
) -> None:
    file.metadata["traceback"] = _trace(exc)
    file.error(f"interrupted: {describe_error(exc)}" if interrupted else describe_error(exc))
    for step in file.steps:
        if not step.status.is_final:
            step.fail(f"interrupted: {describe_error(exc)}" if interrupted else describe_error(exc))
    if save_to is not None and save_to.output_path is not None:
        file.finished_at = utc_now()
        try:
            save_to.save()
        except StoreError:
            # The original exception matters more; the report stays in memory.
            pass
