"""``ferroflow demo``: the showcase."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._output import EXIT_FAILED, state, user_errors

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Create the demo project here (default: a new temp folder).")
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the dashboard serving the demo's runs until Ctrl+C.")
    ] = False,
) -> None:
    """The showcase: a small project, a flow run, a Python DAG, file events, history, a report and the dashboard."""
    from .demo_project import run_demo

    st = state(ctx)
    with user_errors(st.output):
        ok = run_demo(st.output, directory, home=st.home, serve=serve)
    if not ok:
        raise typer.Exit(EXIT_FAILED)
