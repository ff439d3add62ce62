"""Logging: the ``ferroflow`` logger, two extra levels, JSON lines, Rich on a terminal, task capture.

Library code logs to ``ferroflow.*`` loggers and never configures the root
logger. Importing ferroflow only registers the level names ``SUCCESS`` (25)
and ``SYSTEM`` (22) and attaches the task log capture to the ``ferroflow``
logger: while a task runs (``ferroflow.context.current_task()``), every record
of a ``ferroflow.*`` logger that passes the level filters is formatted and
appended to that task's ``TaskContext.logs``, and ends up in the run report.
The ``ferroflow.task`` logger (:func:`get_task_logger`) lets task code log at
``INFO`` by default; :func:`configure_logging` puts it under the chosen level.

Example:
    >>> import io, json
    >>> buf = io.StringIO()
    >>> _ = configure_logging(LogLevel.INFO, json_output=True, stream=buf)
    >>> get_task_logger().log(LogLevel.SUCCESS, "loaded %d rows", 3, extra={"table": "users"})
    >>> line = json.loads(buf.getvalue())
    >>> line["level"], line["message"], line["table"]
    ('SUCCESS', 'loaded 3 rows', 'users')
    >>> reset_logging()
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import IO, Any

from .context import current_task
from .safetext import json_default, safe_repr, safe_str

__all__ = [
    "IsoFormatter",
    "JsonFormatter",
    "LogLevel",
    "SafeFormatter",
    "TaskLogCapture",
    "configure_logging",
    "console_log_handler",
    "get_logger",
    "get_task_logger",
    "iso_timestamp",
    "log_theme",
    "reset_logging",
    "rich_log_handler",
]

ROOT_LOGGER = "ferroflow"
TASK_LOGGER = "ferroflow.task"


class LogLevel(IntEnum):
    """Log levels: the standard ones (same numbers as :mod:`logging`) plus ``SYSTEM`` and ``SUCCESS``.

    Both extra levels sit between ``INFO`` and ``WARNING``, so they show at the
    default ``INFO`` level.

    Example:
        >>> LogLevel.SUCCESS > LogLevel.SYSTEM > LogLevel.INFO
        True
        >>> logging.getLevelName(LogLevel.SUCCESS)
        'SUCCESS'
    """

    NOTSET = logging.NOTSET
    DEBUG = logging.DEBUG
    INFO = logging.INFO
    SYSTEM = 22
    SUCCESS = 25
    WARNING = logging.WARNING
    ERROR = logging.ERROR
    CRITICAL = logging.CRITICAL

    @classmethod
    def parse(cls, value: str | int) -> LogLevel:
        """``"info"``, ``"SUCCESS"``, ``20`` ... -> a level; ``ValueError`` naming the choices otherwise."""
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.strip().upper()]
        except KeyError:
            choices = ", ".join(m.name.lower() for m in cls if m is not cls.NOTSET)
            raise ValueError(f"unknown log level {value!r}; choose one of {choices}") from None


logging.addLevelName(LogLevel.SYSTEM, "SYSTEM")
logging.addLevelName(LogLevel.SUCCESS, "SUCCESS")

# ANSI escape sequences (colours, cursor moves) never belong in a JSON line.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
# The attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("n", 0, "p", 0, "m", None, None)).keys() | {"message", "asctime", "taskName"}
)


def _strip_markup(text: str, record: logging.LogRecord) -> str:
    text = _ANSI.sub("", text)
    if getattr(record, "markup", False):
        from rich.markup import render

        text = render(text).plain
    return text


def _record_message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, or the message and its arguments shown apart when formatting them raises."""
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - an argument's __str__ may raise anything; the line is kept
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        return f"{safe_str(record.msg)} (arguments: {', '.join(safe_repr(a) for a in args)})"


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {safe_str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return safe_str(value)


def iso_timestamp(created: float) -> str:
    """An epoch time as ISO 8601 in the local zone, to the millisecond (``2024-06-01T09:30:00.125+02:00``).

    Example:
        >>> iso_timestamp(0.0).endswith(datetime.fromtimestamp(0.0).astimezone().strftime("%z")[:3] + ":00")
        True
    """
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class IsoFormatter(logging.Formatter):
    """``logging.Formatter`` whose ``%(asctime)s`` is ISO 8601 with the zone (never ambiguous).

    Example:
        >>> rec = logging.LogRecord("ferroflow", logging.INFO, __file__, 1, "hi", None, None)
        >>> line = IsoFormatter("%(asctime)s %(message)s").format(rec)
        >>> line[4], line[10], line.endswith(" hi")
        ('-', 'T', True)
    """

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time as :func:`iso_timestamp` (``datefmt`` is ignored)."""
        return iso_timestamp(record.created)


class SafeFormatter(IsoFormatter):
    """An :class:`IsoFormatter` that never loses a line to an argument whose ``__str__`` raises.

    Example:
        >>> class Bad:
        ...     def __str__(self):
        ...         raise ValueError
        ...     __repr__ = __str__
        >>> rec = logging.LogRecord("ferroflow", logging.INFO, __file__, 1, "got %s", (Bad(),), None)
        >>> SafeFormatter("%(message)s").format(rec)
        'got %s (arguments: <unprintable Bad object>)'
    """

    def format(self, record: logging.LogRecord) -> str:
        """Like :meth:`logging.Formatter.format`, computing the message safely first."""
        try:
            return super().format(record)
        except Exception:  # noqa: BLE001 - getMessage raised inside the base class: retry with a safe message
            record.msg, record.args = _record_message(record), None
            return super().format(record)


_PLAIN_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


def log_theme() -> Any:
    """The Rich theme of log levels (``SUCCESS`` green, ``SYSTEM`` cyan) for a console that shows logs."""
    from rich.theme import Theme

    return Theme({"logging.level.success": "bold green", "logging.level.system": "cyan"})


def rich_log_handler(console: Any) -> logging.Handler:
    """A Rich log handler printing on ``console`` (share it with a progress bar: no overwriting),
    with ISO 8601 times."""
    from rich.logging import RichHandler
    from rich.text import Text

    handler = RichHandler(
        console=console,
        show_path=False,
        rich_tracebacks=True,
        omit_repeated_times=False,
        log_time_format=lambda moment: Text(moment.astimezone().isoformat(timespec="milliseconds")),
    )
    handler.setFormatter(SafeFormatter("%(message)s"))
    return handler


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``timestamp``, ``level``, ``logger``, ``message``, extras at the top level.

    Also ``exception`` (the formatted traceback) when the record has one, and
    ``run_id`` / ``task`` when logged from inside a task. Terminal markup and
    ANSI colour codes are stripped from the message.

    Example:
        >>> rec = logging.LogRecord("ferroflow", logging.INFO, __file__, 1, "hi %s", ("\\x1b[1mbob\\x1b[0m",), None)
        >>> rec.user = "bob"
        >>> json.loads(JsonFormatter().format(rec))["message"]
        'hi bob'
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single JSON line."""
        data: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _strip_markup(_record_message(record), record),
        }
        ctx = current_task()
        if ctx is not None:
            data["run_id"] = ctx.run_id
            data["task"] = ctx.task
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in data and key != "markup" and not key.startswith("_"):
                data[key] = _json_safe(value)
        if record.exc_info and record.exc_info[0] is not None:
            data["exception"] = _ANSI.sub("", self.formatException(record.exc_info))
        elif record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False, default=json_default)


class TaskLogCapture(logging.Handler):
    """Appends each record logged while a task runs to that task's ``TaskContext.logs``.

    Installed once on the ``ferroflow`` logger at import; outside a task it does nothing.
    """

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Capture ``record`` into the running task's context, if any."""
        ctx = current_task()
        if ctx is None:
            return
        try:
            line = _ANSI.sub("", self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break the task; handleError reports it
            self.handleError(record)
            return
        ctx.logs.append(line)


_CAPTURE = TaskLogCapture()
_INSTALLED: list[logging.Handler] = []


def _install_capture() -> None:
    root = logging.getLogger(ROOT_LOGGER)
    if not any(isinstance(h, TaskLogCapture) for h in root.handlers):
        root.addHandler(_CAPTURE)
    task_logger = logging.getLogger(TASK_LOGGER)
    if task_logger.level == logging.NOTSET:
        task_logger.setLevel(logging.INFO)


_install_capture()


def get_logger(name: str | None = None) -> logging.Logger:
    """The ``ferroflow`` logger, or its child ``ferroflow.<name>``."""
    return logging.getLogger(ROOT_LOGGER if not name else f"{ROOT_LOGGER}.{name}")


def get_task_logger() -> logging.Logger:
    """The logger for task code (``ferroflow.task``); its lines land in the task's report step.

    Example:
        >>> get_task_logger().name
        'ferroflow.task'
    """
    return logging.getLogger(TASK_LOGGER)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _console_handler(stream: IO[str], use_colors: bool, json_output: bool, console: Any) -> logging.Handler:
    if json_output:
        handler: logging.Handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        return handler
    if console is not None and _is_tty(stream):
        # The console a progress bar draws on: lines print above the bar (Rich honours NO_COLOR).
        return rich_log_handler(console)
    if use_colors and _is_tty(stream) and not os.environ.get("NO_COLOR"):
        from rich.console import Console

        return rich_log_handler(Console(file=stream, theme=log_theme()))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter(_PLAIN_FORMAT))
    return handler


def console_log_handler() -> logging.Handler | None:
    """The terminal handler :func:`configure_logging` installed (not the log file's), if any."""
    for handler in _INSTALLED:
        if not isinstance(handler, logging.FileHandler):
            return handler
    return None


def configure_logging(
    level: LogLevel | int | str = LogLevel.INFO,
    use_colors: bool = True,
    json_output: bool = False,
    *,
    stream: IO[str] | None = None,
    log_file: str | os.PathLike[str] | None = None,
    console: Any = None,
) -> logging.Logger:
    """Send ``ferroflow`` logs to the terminal (and a file), at ``level``.

    Configures the ``ferroflow`` logger only (never the root logger) and
    replaces what an earlier call installed. On a TTY with ``use_colors``,
    output is coloured by Rich; ``json_output`` writes one JSON object per line
    instead. ``log_file`` adds a file with the same format (JSON if
    ``json_output``, else plain text).

    Args:
        level: A :class:`LogLevel`, a number, or a name such as ``"debug"``.
        use_colors: Colour output when the stream is a terminal.
        json_output: Emit JSON lines (see :class:`JsonFormatter`).
        stream: Where to write (default: ``sys.stderr``).
        log_file: Also append to this file (its directory is created).
        console: On a terminal, print through this Rich ``Console`` (the one a progress
            bar draws on, so log lines and the bar never write over each other; it is
            uncoloured when its own settings or ``NO_COLOR`` say so).

    Returns:
        The ``ferroflow`` logger.

    Example:
        >>> import io
        >>> buf = io.StringIO()
        >>> log = configure_logging("warning", stream=buf)
        >>> log.info("hidden"); log.warning("shown")
        >>> "shown" in buf.getvalue(), "hidden" in buf.getvalue()
        (True, False)
        >>> reset_logging()
    """
    lvl = LogLevel.parse(level) if isinstance(level, str) else LogLevel(int(level))
    logger = logging.getLogger(ROOT_LOGGER)
    reset_logging()
    handlers = [_console_handler(stream if stream is not None else sys.stderr, use_colors, json_output, console)]
    if log_file is not None:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter() if json_output else SafeFormatter(_PLAIN_FORMAT))
        handlers.append(file_handler)
    for handler in handlers:
        handler.setLevel(lvl)
        logger.addHandler(handler)
        _INSTALLED.append(handler)
    logger.setLevel(lvl)
    logger.propagate = False
    logging.getLogger(TASK_LOGGER).setLevel(logging.NOTSET)
    return logger


def reset_logging() -> None:
    """Undo :func:`configure_logging`: remove its handlers and restore the import-time state."""
    logger = logging.getLogger(ROOT_LOGGER)
    while _INSTALLED:
        handler = _INSTALLED.pop()
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    logging.getLogger(TASK_LOGGER).setLevel(logging.INFO)
    _install_capture()
