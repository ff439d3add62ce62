"""``ferroflow run``, ``list`` and ``graph``."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import FerroflowError, FlowFileError
from ..flowfiles.model import display_path, suggest
from ..flowfiles.params import parse_params
from ..flowfiles.project import DryRun, FlowWorkflow, Project
from ..flowfiles.targets import Target, as_workflow, load_python_target, resolve_target
from ..trigger import started_by
from ._output import EXIT_FAILED, EXIT_INTERRUPTED, CliState, Output, fail, state, user_errors
from .interrupts import interrupt_handling
from .progress import RunProgress, print_run_summary

if TYPE_CHECKING:
    from ..watch.app import WatchApp

__all__ = ["EXECUTORS", "list_flow_rows", "register"]

EXECUTORS = ("thread", "sequential", "process", "async", "dask")


def register(app: typer.Typer) -> None:
    """Add ``run``, ``list`` and ``graph`` to ``app``."""
    app.command("run")(run)
    app.command("list")(list_flows)
    app.command("graph")(graph)


def run(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A flow name, a flow file, a .py file or a module[:attr].")],
    params: Annotated[
        str | None, typer.Option("--params", "-p", help="Run params: a JSON object, or a JSON file (path or @path).")
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", "-e", help="thread, sequential, process, async or dask.")
    ] = "thread",
    max_workers: Annotated[
        int | None, typer.Option("--max-workers", "-w", min=1, help="Parallel tasks / handlers.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and write the bash script; run nothing.")
    ] = False,
    resume: Annotated[str | None, typer.Option("--resume", help="Reuse the completed tasks of this run id.")] = None,
    resume_last: Annotated[bool, typer.Option("--resume-last", help="Resume the last failed run.")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="After a failure, start nothing new.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Also write the run report (JSON) here.")] = None,
    debounce: Annotated[float, typer.Option("--debounce", min=0.0, help="Watch: seconds to coalesce events.")] = 1.6,
    no_recursive: Annotated[
        bool, typer.Option("--no-recursive", help="Watch: only the roots, not sub-folders.")
    ] = False,
    stop_timeout: Annotated[
        float | None,
        typer.Option(
            "--stop-timeout",
            min=0.0,
            help="Watch: seconds running handlers get to finish on Ctrl+C / SIGTERM (default 5).",
        ),
    ] = None,
    dashboard: Annotated[bool, typer.Option("--dashboard", help="Also serve the web dashboard.")] = False,
    dashboard_port: Annotated[int, typer.Option("--dashboard-port", min=1, max=65535, help="Dashboard port.")] = 8765,
    dask_address: Annotated[
        str | None,
        typer.Option(
            "--dask-address",
            help="With --executor dask: the scheduler (tcp://host:8786); default $FERROFLOW_DASK_ADDRESS, "
            "else a local cluster.",
        ),
    ] = None,
) -> None:
    """Run a flow, a Python workflow, or watch the handlers a Python file registers."""
    st = state(ctx)
    out = st.output
    with user_errors(out), contextlib.ExitStack() as stack:
        if resume is not None and resume_last:
            fail(out, "--resume and --resume-last cannot be used together")
        if executor not in EXECUTORS:
            fail(out, f'unknown --executor "{executor}": use {", ".join(EXECUTORS)}')
        if dask_address is not None and executor != "dask":
            fail(out, "--dask-address needs --executor dask")
        values = parse_params(params)
        resolved = resolve_target(target, st.project())
        stack.enter_context(started_by(_trigger_kind(), target=target, **_where(st)))
        run_kwargs: dict[str, Any] = {
            "executor": _executor(executor, dask_address),
            "max_workers": max_workers,
            "params": values,
            "fail_fast": fail_fast,
            "resume": resume if resume is not None else (True if resume_last else None),
            "store": st.store(),
            "report_path": report,
            "raise_on_failure": False,
        }
        loaded = None if resolved.kind in ("flow", "file") else load_python_target(resolved)
        if dashboard and not dry_run:
            from ..watch import WatchApp
            from .dashboard import start_dashboard

            watch_app = loaded.watch_app if loaded is not None and loaded.watch_app is not None else WatchApp()
            server = start_dashboard(out, watch_app, run_kwargs["store"], port=dashboard_port, project=st.project())
            stack.callback(server.stop)
            out.line(f"dashboard on {server.url}")
        if loaded is None:
            _run_flow(st, resolved, run_kwargs, dry_run)
            return
        if loaded.watch_app is not None:
            if dry_run:
                _print_handlers(out, loaded.watch_app)
                return
            _watch(
                out,
                loaded.watch_app,
                debounce=debounce,
                max_workers=max_workers,
                recursive=not no_recursive,
                stop_timeout=stop_timeout,
            )
            return
        workflow = as_workflow(loaded.runnable)
        if dry_run:
            _print_plan(out, workflow)
            out.line("dry run: Python workflows have no script form; nothing ran")
            return
        _run_workflow(out, workflow, run_kwargs)


def _trigger_kind() -> str:
    """``cli``, or ``dashboard`` for a run the dashboard started (it says so in the environment)."""
    said = os.environ.pop("FERROFLOW_TRIGGER", "")
    return said if said == "dashboard" else "cli"


def _where(st: CliState) -> dict[str, str]:
    """Where a run of the CLI started: what running it again needs."""
    return {
        "cwd": os.getcwd(),
        "flows_dir": str(st.flows_dir.resolve()),
        "tasks_dir": str(st.tasks_dir.resolve()),
        "output_dir": str(st.output_dir.resolve()),
    }


def _executor(name: str, dask_address: str | None) -> Any:
    """The executor for ``--executor`` (an object for dask, so a missing extra fails here)."""
    if name != "dask":
        return name
    from ..executors.dask import DaskExecutor

    return DaskExecutor(address=dask_address)


def _run_flow(st: CliState, target: Target, run_kwargs: dict[str, Any], dry_run: bool) -> None:
    out = st.output
    workflow = st.project().load(target)
    _warn_unknown_params(out, workflow, run_kwargs["params"])
    if dry_run:
        _print_dry_run(out, workflow.dry_run(run_kwargs["params"]))
        return
    _run_workflow(out, workflow, run_kwargs, log_dir=workflow.flow.output_dir / "logs" / workflow.name)


def _warn_unknown_params(out: Output, workflow: FlowWorkflow, params: dict[str, Any]) -> None:
    """A ``--params`` name the flow neither declares nor uses is most likely a typo."""
    known = sorted(workflow.flow.param_names())
    for name in sorted(set(params) - set(known)):
        out.warn(
            f'param "{name}" is not used by flow {workflow.name}{suggest(name, known)}; '
            "tasks only see it in FERROFLOW_PARAMS"
        )


def _preflight(workflow: Any, run_kwargs: dict[str, Any]) -> None:
    """Fail on bad placeholders, folders or ``--resume`` before anything runs.

    ``--resume-last`` becomes the concrete run id, so the run resumes the run checked here.
    """
    if isinstance(workflow, FlowWorkflow):
        workflow.flow.check(workflow.flow.merged_params(run_kwargs["params"]))
        workflow.flow.output_dir.mkdir(parents=True, exist_ok=True)
    if (report := run_kwargs["report_path"]) is not None:
        if Path(report).is_dir():
            raise FerroflowError(
                f"--report {report} is a folder; give a file name such as {Path(report) / 'report.json'}"
            )
        Path(report).parent.mkdir(parents=True, exist_ok=True)
    if run_kwargs["resume"] is not None:
        run_kwargs["resume"], _ = run_kwargs["store"].resume_results(run_kwargs["resume"], workflow.name)


def _run_workflow(out: Output, workflow: Any, run_kwargs: dict[str, Any], log_dir: Path | None = None) -> Any:
    _preflight(workflow, run_kwargs)
    total = len(workflow.get_all_tasks())

    def stop_scripts() -> None:
        # Script process trees stop at once; the engine waits for running Python tasks.
        if isinstance(workflow, FlowWorkflow):
            workflow.flow.cancel.set()

    with interrupt_handling(out, stop_scripts), RunProgress(out, workflow.name, total) as progress:
        result = workflow.run(progress=progress, **run_kwargs)
    print_run_summary(out, result, str(log_dir / result.run_id) if log_dir is not None else None)
    if report_path := run_kwargs.get("report_path"):
        out.line(f"report: {report_path}")
    if result.status != "completed":
        raise typer.Exit(EXIT_FAILED)
    return result


def _print_dry_run(out: Output, dry: DryRun) -> None:
    if out.json_mode:
        plan = [[{"task": t, "depends_on": deps, "command": cmd} for t, deps, cmd in layer] for layer in dry.plan]
        out.json("dry_run", flow=dry.flow, params=dry.params, plan=plan, script=str(dry.script_path))
        return
    out.print(f"[bold]plan of {escape(dry.flow)}[/] (params: {escape(str(dry.params or {}))})", highlight=False)
    for n, layer in enumerate(dry.plan, start=1):
        out.line(f"  stage {n}:")
        for task_id, deps, cmd in layer:
            after = f" (after {', '.join(deps)})" if deps else ""
            out.line(f"    {task_id}{after}: {cmd}")
    out.line(f"bash script: {dry.script_path}")
    out.line("dry run: nothing ran")


def _print_plan(out: Output, workflow: Any) -> None:
    layers = [[t.name for t in layer] for layer in workflow.get_execution_plan()]
    if out.json_mode:
        out.json("plan", workflow=workflow.name, layers=layers)
        return
    out.print(f"[bold]plan of {escape(workflow.name)}[/]", highlight=False)
    for n, layer in enumerate(layers, start=1):
        out.line(f"  stage {n}: {', '.join(layer)}")


# ---------------------------------------------------------------- watch


def handler_rows(app: WatchApp) -> list[dict[str, Any]]:
    """The registered handlers as plain rows (handler, root, events, pattern, priority)."""
    rows = []
    for h in sorted(app.handlers, key=lambda h: -int(getattr(h, "priority", 0))):
        events = getattr(h, "events", [])
        names = [getattr(e, "name", str(e)) for e in events] if events else ["any"]
        pattern = getattr(h, "pattern", None)
        rows.append(
            {
                "handler": getattr(h, "name", repr(h)),
                "root": str(getattr(h, "root", "")),
                "events": ", ".join(names),
                "pattern": ", ".join(pattern) if isinstance(pattern, list | tuple) else (pattern or "*"),
                "priority": int(getattr(h, "priority", 0)),
            }
        )
    return rows


def _print_handlers(out: Output, app: WatchApp) -> None:
    rows = handler_rows(app)
    if out.json_mode:
        out.json("handlers", handlers=rows)
        return
    table = Table(title="watch handlers")
    for column in ("handler", "root", "events", "pattern", "priority"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("handler", "root", "events", "pattern", "priority")))
    out.print(table)


def _configure_watch(app: WatchApp, **options: Any) -> None:
    """Apply the command-line watch options to an app built by the user's module."""
    for name, value in options.items():
        if value is not None and hasattr(app, name):
            setattr(app, name, value)


def _watch(
    out: Output,
    app: WatchApp,
    *,
    debounce: float,
    max_workers: int | None,
    recursive: bool,
    stop_timeout: float | None = None,
) -> None:
    """Watch until SIGINT (exit 130) or SIGTERM (exit 0).

    On the signal, running handlers get the app's ``stop_timeout`` seconds to
    finish; a second signal, or the end of that time, stops at once and names
    the handlers left running (their threads do not keep the process alive).
    """
    _configure_watch(
        app,
        debounce=debounce,
        max_workers=max_workers,
        recursive=recursive,
        json_logs=out.json_mode,
        stop_timeout=stop_timeout,
    )
    _print_handlers(out, app)
    received: list[int] = []
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        app.start()
        out.line("watching; press Ctrl+C to stop")
        while not stop.wait(0.1):
            if not app.is_running:
                break
    finally:
        try:
            _stop_watching(out, app, received)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if received and received[0] == signal.SIGINT:
        raise typer.Exit(EXIT_INTERRUPTED)


def _stop_watching(out: Output, app: WatchApp, received: list[int]) -> None:
    """Stop the app within its ``stop_timeout``, or at once on a further signal; say what was left running."""
    timeout = float(getattr(app, "stop_timeout", 5.0))
    stopper = threading.Thread(target=app.stop, kwargs={"timeout": timeout}, name="ferroflow-watch-stop", daemon=True)
    seen = len(received)
    busy = [name for name, row in app.stats.get("handlers", {}).items() if row.get("running")]
    stopper.start()
    stopper.join(0.2)
    if stopper.is_alive() and busy:
        out.warn(
            f"stopping: waiting up to {timeout:g}s for running handler(s) {', '.join(busy)} "
            "(press Ctrl+C again to stop at once)"
        )
    while stopper.is_alive() and len(received) <= seen:
        stopper.join(0.1)
    running = [
        f"{name} ({row['running']} call(s), longest {row['longest_running_seconds']:g}s)"
        for name, row in app.stats.get("handlers", {}).items()
        if row.get("running")
    ]
    if running:
        how = "signalled again" if stopper.is_alive() else f"after {timeout:g}s"
        out.warn(f"stopped {how} without waiting for the handler(s) still running: {', '.join(running)}")


# ---------------------------------------------------------------- list / graph


def list_flow_rows(project: Project) -> list[dict[str, Any]]:
    """Every flow file of the project: name, tasks, description, file, problem (if invalid)."""
    from ..flowfiles.model import parse_flow_file

    rows = []
    declared = project.declared_names()
    for name, path in project.flow_files().items():
        row: dict[str, Any] = {
            "name": name,
            "declared_name": declared.get(path),
            "file": display_path(path),
            "tasks": None,
            "description": None,
            "problem": None,
        }
        try:
            project.check_unique(name)
            if path in declared:
                project.check_unique(declared[path])
            spec = parse_flow_file(path, project.tasks_dir)
        except FlowFileError as exc:
            row["problem"] = exc.problems[0] if exc.problems else str(exc)
        else:
            row.update(tasks=len(spec.tasks), description=spec.description)
        rows.append(row)
    return rows


def list_flows(ctx: typer.Context) -> None:
    """List the flows in the flows folder."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        project = st.project()
        rows = list_flow_rows(project)
        if out.json_mode:
            for row in rows:
                out.json("flow", **row)
            return
        if not rows:
            out.line(f"no flow files in {display_path(project.flows_dir)} (add NAME.json, .yaml or .toml)")
            return
        table = Table(title=f"flows in {display_path(project.flows_dir)}")
        for column in ("flow", "tasks", "description", "file"):
            table.add_column(column)
        for row in rows:
            tasks = str(row["tasks"]) if row["problem"] is None else "[red]invalid[/]"
            description = row["description"] or "" if row["problem"] is None else row["problem"]
            name = row["name"] if row["declared_name"] is None else f"{row['name']} (name: {row['declared_name']})"
            table.add_row(escape(name), tasks, escape(description), escape(row["file"]))
        out.print(table)


def graph(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A flow name, a flow file, a .py file or a module[:attr].")],
    format: Annotated[str, typer.Option("--format", "-F", help="ascii, mermaid or dot.")] = "ascii",
) -> None:
    """Draw a flow's or workflow's tasks and dependencies."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        if format not in ("ascii", "mermaid", "dot"):
            fail(out, f'unknown --format "{format}": use ascii, mermaid or dot')
        resolved = resolve_target(target, st.project())
        if resolved.kind in ("flow", "file"):
            workflow: Any = st.project().load(resolved)
        else:
            loaded = load_python_target(resolved)
            if loaded.runnable is None:
                raise FerroflowError(f"{target} registers watch handlers, not a workflow; nothing to draw")
            workflow = as_workflow(loaded.runnable)
        text = workflow.visualize(format=format)
        if out.json_mode:
            out.json("graph", workflow=workflow.name, format=format, text=text)
        else:
            out.line(text)
