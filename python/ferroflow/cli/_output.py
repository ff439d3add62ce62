"""Shared CLI state and output: global options, Rich consoles, JSON lines, error handling."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import FerroflowError, WorkflowError
from ..safetext import safe_str

__all__ = ["CliState", "Output", "fail", "iso_time", "state", "user_errors", "when"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _json_value(value: object) -> object:
    """Times as ISO 8601 (as everywhere else in the JSON output); anything else as text."""
    return value.isoformat() if isinstance(value, datetime) else safe_str(value)


class Output:
    """Where commands print: Rich consoles, or JSON lines with ``--json-logs``."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        from ..log import log_theme

        self.out = Console(highlight=False, soft_wrap=False)
        # Log lines and the progress bar share this console, so they never write over each other.
        self.err = Console(stderr=True, highlight=False, theme=log_theme())
        for console in (self.out, self.err):
            if not console.is_terminal:
                console.width = max(console.width, 160)
        self._lock = threading.Lock()

    @property
    def is_tty(self) -> bool:
        """Whether stdout is a terminal (progress bars, live screens)."""
        return self.out.is_terminal and not self.json_mode

    @property
    def live(self) -> bool:
        """Whether stderr is a terminal a progress bar can draw on (with the log lines)."""
        return bool(self.err.is_terminal) and not self.json_mode

    def json(self, event: str, **data: Any) -> None:
        """One JSON object on stdout."""
        line = json.dumps({"event": event, **data}, default=_json_value, sort_keys=False)
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Rich print to stdout (ignored in JSON mode; emit :meth:`json` instead)."""
        if not self.json_mode:
            with self._lock:
                self.out.print(*objects, **kwargs)

    def line(self, text: str) -> None:
        """A plain line on stdout (no markup), thread-safe."""
        if not self.json_mode:
            with self._lock:
                sys.stdout.write(text + "\n")
                sys.stdout.flush()

    def warn(self, message: str) -> None:
        """A warning on stderr (JSON in JSON mode); the command goes on."""
        if self.json_mode:
            sys.stderr.write(json.dumps({"event": "warning", "level": "WARNING", "message": message}) + "\n")
            sys.stderr.flush()
        else:
            self.err.print(f"[bold yellow]warning:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)

    def error(self, message: str) -> None:
        """An error message on stderr (JSON in JSON mode)."""
        if self.json_mode:
            sys.stderr.write(json.dumps({"event": "error", "level": "ERROR", "message": message}) + "\n")
            sys.stderr.flush()
        else:
            # The message is text, not markup: "pip install 'ferroflow[dask]'" keeps its brackets.
            self.err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


@dataclass(slots=True)
class CliState:
    """The global options."""

    flows_dir: Path
    tasks_dir: Path
    output_dir: Path
    home: Path | None
    log_level: str
    log_dir: Path | None
    json_logs: bool
    output: Output

    def project(self) -> Any:
        """A :class:`~ferroflow.flowfiles.project.Project` for these folders."""
        from ..flowfiles.project import Project

        return Project(self.flows_dir, self.tasks_dir, self.output_dir)

    def store(self) -> Any:
        """The store (``--home`` / ``$FERROFLOW_HOME`` / ``./.ferroflow``)."""
        from ..store.store import DEFAULT_STORE, open_store

        store = open_store(self.home if self.home is not None else DEFAULT_STORE)
        assert store is not None
        return store

    def store_file(self) -> Path:
        """The store's database file (not opened, not created)."""
        from ..store.store import DEFAULT_STORE, store_path

        path = store_path(self.home if self.home is not None else DEFAULT_STORE)
        assert path is not None
        return path

    def existing_store(self) -> Any:
        """The store opened for reading if its database exists, else None: read-only commands create nothing."""
        from ..store.store import DEFAULT_STORE, open_store

        if not self.store_file().exists():
            return None
        return open_store(self.home if self.home is not None else DEFAULT_STORE, readonly=True)


def default_state() -> CliState:
    """Options when a command runs without the root callback (e.g. in tests)."""
    home = os.environ.get("FERROFLOW_HOME")
    return CliState(
        flows_dir=Path("flows"),
        tasks_dir=Path("tasks"),
        output_dir=Path("ferroflow_output"),
        home=Path(home) if home else None,
        log_level="info",
        log_dir=None,
        json_logs=False,
        output=Output(),
    )


def state(ctx: typer.Context) -> CliState:
    """The global options of this invocation."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = default_state()
    return root.obj


def when(stamp: float | None, seconds: bool = True) -> str:
    """An epoch time as local ``YYYY-MM-DD HH:MM[:SS]``, or ``-``."""
    if not stamp:
        return "-"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def iso_time(stamp: float | None) -> str | None:
    """An epoch time as aware ISO 8601 in the local zone (``None`` stays ``None``)."""
    return datetime.fromtimestamp(stamp).astimezone().isoformat() if stamp is not None else None


def fail(output: Output, message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one clear message and exit with ``code``."""
    output.error(message)
    raise typer.Exit(code)


@contextmanager
def user_errors(output: Output) -> Iterator[None]:
    """Turn ferroflow's errors into one message and an exit code (never a traceback).

    ``WorkflowError`` (a run failed) exits 1; any other ferroflow error and bad
    files exit 2; Ctrl+C exits 130.
    """
    try:
        yield
    except WorkflowError as exc:
        fail(output, safe_str(exc).splitlines()[0], EXIT_FAILED)
    except FerroflowError as exc:
        fail(output, safe_str(exc), EXIT_USAGE)
    except FileExistsError as exc:
        fail(output, f"cannot create the folder {exc.filename}: a file of that name is in the way", EXIT_USAGE)
    except OSError as exc:
        # An unwritable place, a missing path, a file where a folder should be...
        fail(output, f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        output.error("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
