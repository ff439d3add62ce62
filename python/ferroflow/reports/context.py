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


def _save(report: PipelineReport | None, override: str | os.PathLike[str] | None) -> None:
    """Save after a failure when there is somewhere to save to; the failure matters more than a save error."""
    if report is None or (override is None and report.output_path is None):
        return
    try:
        report.save(override)
    except StoreError:
        pass


def _banner(report: PipelineReport | None, stage: str | None, percent: float | None, message: str | None) -> None:
    if report is not None and (stage is not None or percent is not None or message is not None):
        report.set_progress(stage=stage, percent=percent, message=message)


@contextmanager
def pipeline_step(
    report: PipelineReport | FileReport | None,
    id: str,
    *,
    label: str | None = None,
    banner_stage: str | None = None,
    banner_percent: float | None = None,
    banner_message: str | None = None,
    set_stage_on_enter: bool = False,
    raise_on_exception: bool = False,
    save_on_exception: bool = True,
    output_path_override: str | os.PathLike[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Iterator[StepReport]:
    """Run a block as one step of ``report`` (or of the bound file / pipeline when ``None``).

    The step starts on entry. On a clean exit it ends as ``SUCCESS`` unless a
    check failed or an error was recorded (then ``FAILED``); if the body
    already called ``succeed``/``fail``/``skip``, that stands. An exception
    fails the step with its message (the traceback goes in
    ``metadata["traceback"]``).

    The banner is the pipeline report's ``stage`` / ``percent`` / ``message``.
    With ``set_stage_on_enter`` it is set on entry (the stage defaulting to the
    step's id); otherwise the ``banner_*`` values given are set when the step
    ends.

    Args:
        report: Where the step goes; ``None`` for the file of the enclosing
            :func:`pipeline_file`, else the :func:`bind_pipeline` report, else
            nowhere (the step is still yielded and timed).
        id: The step's id.
        label: Display label (defaults to ``id``).
        banner_stage: The report's stage to show for this step.
        banner_percent: The report's percent to show for this step.
        banner_message: The report's message to show for this step.
        set_stage_on_enter: Set the banner on entry rather than on exit.
        raise_on_exception: Re-raise an ``Exception`` after recording it.
        save_on_exception: Save the pipeline report when the block raises (when
            it has an ``output_path`` or ``output_path_override`` is given).
        output_path_override: Where to save instead of the report's ``output_path``.
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
    pipeline = target if isinstance(target, PipelineReport) else _PIPELINE.get()
    step = StepReport(id=id, label=label or id, metadata=dict(metadata or {}))
    if target is not None:
        target.append_step(step)
    if set_stage_on_enter:
        _banner(pipeline, banner_stage or id, banner_percent, banner_message)
    step.begin()
    try:
        yield step
    except Exception as exc:
        step.metadata["traceback"] = _trace(exc)
        step.fail(describe_error(exc))
        if save_on_exception:
            _save(pipeline, output_path_override)
        if raise_on_exception:
            raise
    except BaseException as exc:
        step.fail(f"interrupted: {describe_error(exc)}")
        if save_on_exception:
            _save(pipeline, output_path_override)
        raise
    else:
        step.end()
    finally:
        if not set_stage_on_enter:
            _banner(pipeline, banner_stage, banner_percent, banner_message)


@contextmanager
def pipeline_file(
    report: PipelineReport | None,
    *,
    file_id: str | None = None,
    path: str | os.PathLike[str] | None = None,
    name: str | None = None,
    size_bytes: int | None = None,
    mime_type: str | None = None,
    metadata: dict[str, Any] | None = None,
    set_stage_on_enter: bool = False,
    banner_stage: str | None = None,
    banner_percent_on_exit: float | None = None,
    banner_message_on_exit: str | None = None,
    raise_on_exception: bool = False,
    save_on_exception: bool = True,
    output_path_override: str | os.PathLike[str] | None = None,
) -> Iterator[FileReport]:
    """Process one file as a unit of ``report`` (or of the bound pipeline when ``None``).

    Steps opened with ``pipeline_step(None, ...)`` inside the block go to this
    file. An exception is recorded on the file (which is then ``FAILED``),
    the report is saved (to ``output_path_override`` or its ``output_path``)
    when ``save_on_exception`` is true, and execution continues after the
    block unless ``raise_on_exception``.

    The banner is the report's ``stage`` / ``percent`` / ``message``: with
    ``set_stage_on_enter`` the stage is set on entry (to ``banner_stage``, else
    the file's name); on exit ``banner_percent_on_exit`` and
    ``banner_message_on_exit`` are set when given.

    Args:
        report: The batch; ``None`` for the bound one (or none at all).
        file_id: The file's id (default: its path, else a random id).
        path: The file's path; its size and MIME type are filled in when it exists.
        name: Display name (default: the path's base name).
        size_bytes: The file's size (default: read from ``path``).
        mime_type: The file's MIME type (default: guessed from ``path``).
        metadata: Initial file metadata.
        set_stage_on_enter: Set the report's stage on entry.
        banner_stage: The stage to set on entry (default: the file's name).
        banner_percent_on_exit: The report's percent to set on exit.
        banner_message_on_exit: The report's message to set on exit.
        raise_on_exception: Re-raise an ``Exception`` after recording it.
        save_on_exception: Save the report when the block raises.
        output_path_override: Where to save instead of the report's ``output_path``.

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
        size_bytes=size_bytes,
        mime_type=mime_type,
        metadata=dict(metadata or {}),
        started_at=utc_now(),
    )
    if text_path is not None:
        if size_bytes is None:
            try:
                file.size_bytes = os.stat(text_path).st_size
            except OSError:
                pass
        if mime_type is None:
            file.mime_type = mimetypes.guess_type(text_path)[0]
    if target is not None:
        target.append_file(file)
        if set_stage_on_enter:
            target.set_progress(stage=banner_stage or file.name or file.file_id)
    token = _FILE.set(file)
    save_to = target if save_on_exception else None
    try:
        yield file
    except Exception as exc:
        _record_failure(file, exc, save_to, output_path_override)
        if raise_on_exception:
            raise
    except BaseException as exc:
        _record_failure(file, exc, save_to, output_path_override, interrupted=True)
        raise
    finally:
        _FILE.reset(token)
        file.finished_at = utc_now()
        _banner(target, None, banner_percent_on_exit, banner_message_on_exit)


def _record_failure(
    file: FileReport,
    exc: BaseException,
    save_to: PipelineReport | None,
    override: str | os.PathLike[str] | None,
    *,
    interrupted: bool = False,
) -> None:
    file.metadata["traceback"] = _trace(exc)
    file.error(f"interrupted: {describe_error(exc)}" if interrupted else describe_error(exc))
    for step in file.steps:
        if not step.status.is_final:
            step.fail(f"interrupted: {describe_error(exc)}" if interrupted else describe_error(exc))
    if save_to is not None:
        file.finished_at = utc_now()
        _save(save_to, override)
