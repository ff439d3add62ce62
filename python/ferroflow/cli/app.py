"""The ``ferroflow`` command: global options and the wiring of every command group.

Exit codes: 0 ok, 1 a run failed, 2 usage or validation error, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
import typer.main

# Typer ships its own copy of Click; its usage errors derive from this class.
from typer._click.exceptions import ClickException

from .. import __version__
from . import dashboard, demo, logs, run, runs, schedule, scheduler
from ._argv import hoist_global_options
from ._help import FlagGroup
from ._output import EXIT_INTERRUPTED, CliState, Output, user_errors

__all__ = ["app", "main"]

app = typer.Typer(
    cls=FlagGroup,
    name="ferroflow",
    help="Zero-infrastructure workflow orchestration: flows, Python DAGs, file watching, schedules.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ferroflow {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    flows_dir: Annotated[Path, typer.Option("--flows-dir", "-f", help="Folder of flow files.")] = Path("flows"),
    tasks_dir: Annotated[Path, typer.Option("--tasks-dir", "-t", help="Folder of the scripts flows run.")] = Path(
        "tasks"
    ),
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Folder for task logs and dry-run scripts.")
    ] = Path("ferroflow_output"),
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            "--config-dir",
            help="Store folder (default $FERROFLOW_HOME or ./.ferroflow); --config-dir is the same.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", "-l", help="debug, info, success, warning, error.")] = "info",
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help="Also write logs to a file in this folder.")] = None,
    json_logs: Annotated[bool, typer.Option("--json-logs", help="Logs and output as JSON lines.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Zero-infrastructure workflow orchestration."""
    from ..log import LogLevel, configure_logging

    output = Output(json_mode=json_logs)
    try:
        level = LogLevel.parse(log_level)
    except (ValueError, KeyError):
        output.error(f'unknown --log-level "{log_level}": use debug, info, success, warning or error')
        raise typer.Exit(2) from None
    if home is not None:
        # Child processes (script tasks, the scheduler) see the same store.
        os.environ["FERROFLOW_HOME"] = str(home.resolve())
    log_file = None
    if log_dir is not None:
        log_file = log_dir / "ferroflow.log"
    with user_errors(output):
        configure_logging(
            level, use_colors=True, json_output=json_logs, stream=sys.stderr, log_file=log_file, console=output.err
        )
    ctx.obj = CliState(
        flows_dir=flows_dir,
        tasks_dir=tasks_dir,
        output_dir=output_dir,
        home=home.resolve() if home is not None else None,
        log_level=log_level,
        log_dir=log_dir,
        json_logs=json_logs,
        output=output,
    )


run.register(app)
runs.register(app)
logs.register(app)
schedule.register(app)
scheduler.register(app)
demo.register(app)
dashboard.register(app)


def main() -> None:
    """Console entry point (``ferroflow``).

    The global options are also accepted after the command
    (``ferroflow run handlers.py --log-level DEBUG --json-logs``).
    """
    command = typer.main.get_command(app)
    args = hoist_global_options(command, sys.argv[1:])
    if "--json-logs" not in args:
        command.main(args=args, prog_name="ferroflow")
        return
    # Usage errors are raised before the root callback has seen --json-logs;
    # report them as JSON lines too.
    try:
        code = command.main(args=args, prog_name="ferroflow", standalone_mode=False)
    except ClickException as exc:
        Output(json_mode=True).error(exc.format_message())
        code = exc.exit_code
    except typer.Abort:
        Output(json_mode=True).error("interrupted")
        code = EXIT_INTERRUPTED
    sys.exit(code if isinstance(code, int) else 0)
