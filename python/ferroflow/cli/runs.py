"""``ferroflow runs`` (history from the store) and ``ferroflow report show``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..errors import FlowFileError, StoreError
from ..results import RUN_FIELDS, run_fields
from ..safetext import safe_str
from ._help import FlagGroup
from ._output import Output, state, user_errors, when
from .failures import failed_attempts, render_failures
from .sessions import print_sessions, show_session

if TYPE_CHECKING:
    from ..reports.models import PipelineReport, StepReport
    from ..store.records import TaskSummary
    from ..store.store import Store

__all__ = ["load_any_report", "register", "render_report"]

_STATUS_STYLE = {
    "completed": "green",
    "SUCCESS": "green",
    "failed": "red",
    "FAILED": "red",
    "running": "cyan",
    "RUNNING": "cyan",
    "skipped": "yellow",
    "SKIPPED": "yellow",
    "upstream_failed": "red",
    "cancelled": "magenta",
    "interrupted": "magenta",
}

report_app = typer.Typer(cls=FlagGroup, help="Run reports.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``runs`` and ``report`` to ``app``."""
    app.command("runs")(runs)
    app.add_typer(report_app, name="report")


def _styled(status: str) -> Text:
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def runs(
    ctx: typer.Context,
    run_id: Annotated[
        str | None,
        typer.Argument(help="Show one run's tasks (an id or a unique prefix), or list the runs of a workflow name."),
    ] = None,
    workflow: Annotated[str | None, typer.Option("--workflow", "-W", help="Only runs of this workflow.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to list.")] = 20,
    watch: Annotated[bool, typer.Option("--watch", help="Only the watch sessions.")] = False,
) -> None:
    """List recorded runs and watch sessions, or show one run (or watch session) in full.

    `ferroflow runs NAME` lists the runs of one workflow.
    """
    st = state(ctx)
    out = st.output
    with user_errors(out):
        store = st.existing_store()
        if store is None:
            if run_id is not None and not _is_workflow_name(st, run_id):
                raise StoreError(f"no run {run_id!r}: no runs recorded yet (no store at {st.store_file()})")
            if not out.json_mode:
                out.line(f"no runs recorded yet (no store at {st.store_file()})")
            return
        if run_id is not None:
            try:
                shown = _show_run_or_workflow(out, store, run_id)
            except StoreError:
                if show_session(out, store, run_id):
                    return
                raise
            if shown is not None:
                return
            workflow = run_id
        if watch:
            print_sessions(out, store, limit, empty_note=True)
            return
        _print_runs(out, store, workflow, limit)
        if workflow is None:
            print_sessions(out, store, limit)


def _print_runs(out: Output, store: Store, workflow: str | None, limit: int) -> None:
    """The runs table (JSON: one object per run)."""
    rows = store.list_runs(workflow=workflow, limit=limit)
    if out.json_mode:
        for r in rows:
            out.json(
                "run",
                run_id=r.run_id,
                workflow=r.workflow,
                status=r.status,
                started_at=r.started_at,
                duration_seconds=r.duration_seconds,
                tasks=r.task_count,
                stats=r.stats,
            )
        return
    if not rows:
        of = f" of workflow {workflow!r}" if workflow is not None else ""
        out.line(f"no runs{of} recorded yet in {store.path}")
        return
    of = f" of {workflow}" if workflow is not None else ""
    table = Table(title=f"runs{of} in {store.path}")
    for column in ("run id", "workflow", "status", "started", "duration", "tasks", "failed"):
        table.add_column(column)
    for r in rows:
        duration = f"{r.duration_seconds:.2f}s" if r.duration_seconds is not None else "-"
        failed = str(r.stats.get("failed", "-")) if r.stats else "-"
        table.add_row(r.run_id, r.workflow, _styled(r.status), when(r.started_at), duration, str(r.task_count), failed)
    out.print(table)


def _is_workflow_name(st: Any, name: str) -> bool:
    """Whether ``name`` reads as a workflow name rather than a run id (it names a flow file)."""
    try:
        return st.project().find_flow(name) is not None
    except FlowFileError:  # a name two flow files answer to still is a name
        return True


def _show_run_or_workflow(out: Output, store: Store, name: str) -> bool | None:
    """Show run ``name`` (exact id first); None when ``name`` is a workflow with runs instead.

    Raises:
        StoreError: ``name`` is neither a run id (or unique prefix) nor a workflow with runs.
    """
    try:
        detail = store.get_run(name)
    except StoreError:
        if store.list_runs(workflow=name, limit=1):
            return None
        raise
    if detail.run.run_id != name and store.list_runs(workflow=name, limit=1):
        return None  # a workflow name wins over a run-id prefix
    _show_run(out, store, detail.run.run_id)
    return True


def _show_run(out: Output, store: Store, run_id: str) -> None:
    detail = store.get_run(run_id)
    run = detail.run
    failures = failed_attempts(detail.tasks)
    if out.json_mode:
        out.json(
            "run",
            **run_fields(run, RUN_FIELDS[:-1]),
            resumed_from=run.resumed_from,
            tasks=[
                {
                    "name": t.name,
                    "status": t.status,
                    "attempts": t.attempts,
                    "duration_seconds": t.duration_seconds,
                    "error": t.error,
                    "traceback": t.traceback,
                    "failed_attempts": failures.get(t.name, []),
                    "reason": t.reason,
                    "result": t.result_json,
                }
                for t in detail.tasks
            ],
        )
        return
    resumed = f", resumed from {run.resumed_from}" if run.resumed_from else ""
    out.print(
        f"[bold]{escape(run.workflow)}[/] run {escape(run.run_id)}: ",
        _styled(run.status),
        f" (started {when(run.started_at)}{resumed})",
        sep="",
    )
    if run.params:
        out.line(f"params: {run.params}")
    table = Table()
    for column in ("task", "status", "attempts", "duration", "detail"):
        table.add_column(column, overflow="fold")
    for t in detail.tasks:
        duration = f"{t.duration_seconds:.2f}s" if t.duration_seconds is not None else "-"
        detail_text = (t.error or t.reason or ("cached" if t.cached else "resumed" if t.resumed else "")).strip()
        table.add_row(
            t.name, _styled(t.status), str(t.attempts), duration, detail_text.splitlines()[0] if detail_text else ""
        )
    out.print(table)
    shown = render_failures(detail.tasks)
    if shown is not None:
        out.print(shown)


# ---------------------------------------------------------------- report show


def load_any_report(store: Store | None, file_or_run: str) -> Any:
    """A report from a JSON file, else from the store by run id (``store`` None: no store exists).

    Raises:
        StoreError: Neither a readable report file nor a known run.
    """
    from ..reports.models import load_report

    path = Path(file_or_run)
    if path.suffix == ".json" or path.exists():
        return load_report(path)
    if store is None:
        raise StoreError(f'"{file_or_run}" is neither a report file nor a run id (no runs are recorded yet)')
    report = store.get_report(file_or_run)
    if report is None:
        raise StoreError(f'"{file_or_run}" is neither a report file nor a run id in {store.path}; see `ferroflow runs`')
    return report


def render_report(report: PipelineReport) -> Tree:
    """A Rich tree: the batch, its steps (with notes, errors, output) and files."""
    status = str(getattr(report.status, "value", report.status))
    head = Text.assemble(
        (f"{report.kind} {report.batch_id}", "bold"),
        " ",
        (status, _STATUS_STYLE.get(status, "")),
        f" {report.percent:.0f}%",
    )
    tree = Tree(head)
    if report.message:
        tree.add(Text(report.message, style="dim"))
    for step in report.steps:
        _add_step(tree, step)
    for file in report.files:
        file_status = str(getattr(file.status, "value", file.status))
        node = tree.add(
            Text.assemble(
                ("file ", "dim"), file.path or file.name or "", " ", (file_status, _STATUS_STYLE.get(file_status, ""))
            )
        )
        for step in file.steps:
            _add_step(node, step)
    for error in report.errors:
        tree.add(Text(f"error: {safe_str(error)}", style="red"))
    return tree


def _add_step(parent: Tree, step: StepReport) -> None:
    status = str(getattr(step.status, "value", step.status))
    took = f" {step.duration_ms / 1000:.2f}s" if step.duration_ms is not None else ""
    attempts = step.metadata.get("attempts") if isinstance(step.metadata, dict) else None
    extra = f" (attempts: {attempts})" if attempts and attempts > 1 else ""
    node = parent.add(Text.assemble((step.label, "bold"), " ", (status, _STATUS_STYLE.get(status, "")), took + extra))
    logs = step.metadata.get("logs") if isinstance(step.metadata, dict) else None
    for note in [*step.notes[-6:], *(logs or [])[-4:]]:
        for line in safe_str(note).splitlines()[-8:]:
            node.add(Text(line, style="dim"))
    for warning in step.warnings:
        node.add(Text(f"warning: {warning}", style="yellow"))
    for error in step.errors:
        node.add(Text(f"error: {safe_str(error).strip()}", style="red"))
    trace = step.metadata.get("traceback") if isinstance(step.metadata, dict) else None
    if trace:
        node.add(Text(safe_str(trace).rstrip(), style="dim"))


@report_app.command("show")
def report_show(
    ctx: typer.Context,
    file_or_run: Annotated[str, typer.Argument(help="A report JSON file or a run id.")],
) -> None:
    """Render a run report in the terminal."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        store = st.existing_store()
        report = load_any_report(store, file_or_run)
        tasks = _run_tasks(store, file_or_run)
        if out.json_mode:
            extra = {} if tasks is None else {"failed_attempts": failed_attempts(tasks)}
            out.json("report", report=report.model_dump(mode="json"), **extra)
            return
        out.print(render_report(report))
        shown = render_failures(tasks) if tasks is not None else None
        if shown is not None:
            out.print(shown)


def _run_tasks(store: Store | None, file_or_run: str) -> list[TaskSummary] | None:
    """The store's task rows when ``file_or_run`` named a run rather than a report file."""
    path = Path(file_or_run)
    if store is None or path.suffix == ".json" or path.exists():
        return None
    try:
        return store.get_run(file_or_run).tasks
    except StoreError:
        return None
