"""``ferroflow logs RUN_ID [TASK] [--follow]``: a run's captured log lines and script output."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import StoreError
from ..safetext import safe_str
from ._output import Output, state, user_errors

if TYPE_CHECKING:
    from ..store.records import RunDetail, RunSummary
    from ..store.store import Store

__all__ = ["log_folder", "logs", "register"]

POLL_SECONDS = 0.3
_LOG_FILE = re.compile(r"^(?P<task>.+?)(?:\.(?P<attempt>\d+))?\.(?P<stream>stdout|stderr)\.log$")


def register(app: typer.Typer) -> None:
    """Add ``logs`` to ``app``."""
    app.command("logs")(logs)


def log_folder(run: RunSummary, default_output_dir: Path) -> Path:
    """Where a flow file run's script tasks wrote their stdout and stderr log files."""
    detail = run.trigger.get("detail") if isinstance(run.trigger, dict) else None
    recorded = detail.get("output_dir") if isinstance(detail, dict) else None
    base = Path(recorded) if recorded else default_output_dir
    return base / "logs" / run.workflow / run.run_id


@dataclass(slots=True)
class _Reader:
    """What has been printed so far: store lines per task, bytes per log file."""

    out: Output
    folder: Path
    only: str | None
    prefix: bool
    store_lines: dict[str, int] = field(default_factory=dict)
    file_offsets: dict[Path, int] = field(default_factory=dict)

    def emit(self, task: str, source: str, line: str) -> None:
        if self.out.json_mode:
            self.out.json("log", task=task, source=source, line=line)
        elif self.prefix:
            self.out.line(f"{task} | {line}")
        else:
            self.out.line(line)

    def pass_once(self, detail: RunDetail, final: bool) -> None:
        """Print what is new in the store rows and the log files (``final``: also an unfinished last line)."""
        names = [t.name for t in detail.tasks if self.only is None or t.name == self.only]
        files = self._files(set(names))
        for t in detail.tasks:
            if t.name not in names:
                continue
            seen = self.store_lines.get(t.name, 0)
            for entry in t.logs[seen:]:
                for line in safe_str(entry).splitlines() or [""]:
                    self.emit(t.name, "log", line)
            self.store_lines[t.name] = max(seen, len(t.logs))
            for path, source in files.get(t.name, []):
                self._read_file(t.name, path, source, final)

    def _files(self, names: set[str]) -> dict[str, list[tuple[Path, str]]]:
        found: dict[str, list[tuple[Path, str, int]]] = {}
        try:
            entries = sorted(self.folder.iterdir())
        except OSError:
            return {}
        for path in entries:
            m = _LOG_FILE.match(path.name)
            if m is None or m["task"] not in names:
                continue
            attempt = int(m["attempt"] or 1)
            source = m["stream"] if attempt == 1 else f"{m['stream']} (attempt {attempt})"
            found.setdefault(m["task"], []).append((path, source, attempt))
        return {k: [(p, s) for p, s, _ in sorted(v, key=lambda x: (x[2], x[1]))] for k, v in found.items()}

    def _read_file(self, task: str, path: Path, source: str, final: bool) -> None:
        start = self.file_offsets.get(path, 0)
        try:
            with path.open("rb") as fh:
                fh.seek(start)
                data = fh.read()
        except OSError:
            return
        if not final:
            cut = data.rfind(b"\n")
            data = data[: cut + 1] if cut >= 0 else b""
        if not data:
            return
        self.file_offsets[path] = start + len(data)
        for line in data.decode("utf-8", errors="replace").splitlines():
            self.emit(task, source, line)


def logs(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run (an id or a unique prefix).")],
    task: Annotated[
        str | None, typer.Argument(help="Only this task (default: every task, prefixed by its name).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing new lines until the run is no longer running.")
    ] = False,
) -> None:
    """Print a run's captured log lines and printed output, and its script tasks' log files."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        store = st.existing_store()
        if store is None:
            raise StoreError(f"no run {run_id!r}: no runs recorded yet (no store at {st.store_file()})")
        detail = store.get_run(run_id, every_task=True)
        if task is not None and task not in {t.name for t in detail.tasks}:
            known = ", ".join(t.name for t in detail.tasks) or "none"
            raise StoreError(f"run {detail.run.run_id} has no task {task!r} (its tasks: {known})")
        reader = _Reader(out, log_folder(detail.run, st.output_dir.resolve()), task, prefix=task is None)
        _follow(store, reader, detail, follow)


def _follow(store: Store, reader: _Reader, detail: RunDetail, follow: bool) -> None:
    """Print once, or (``follow``) again every :data:`POLL_SECONDS` until the run stops running."""
    while follow and detail.run.status == "running":
        reader.pass_once(detail, final=False)
        time.sleep(POLL_SECONDS)
        detail = store.get_run(detail.run.run_id, every_task=True)
    reader.pass_once(detail, final=True)
