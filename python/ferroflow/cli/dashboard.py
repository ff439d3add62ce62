"""``ferroflow dashboard``: serve the web dashboard over the store (docs/dashboard.md)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._output import Output, fail, state, user_errors

if TYPE_CHECKING:
    from ..dashboard import DashboardServer
    from ..watch import WatchApp

__all__ = ["register", "start_dashboard"]


def register(app: typer.Typer) -> None:
    """Add ``dashboard`` to ``app``."""
    app.command("dashboard")(dashboard)


def start_dashboard(
    out: Output,
    watch_app: WatchApp,
    store: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    open_browser: bool = False,
    project: Any = None,
) -> DashboardServer:
    """Check the bind, then serve in the background; exits 2 on a refused bind or a port in use."""
    from ..dashboard import serve_dashboard
    from ..errors import FerroflowError

    try:
        return serve_dashboard(
            watch_app,
            host=host,
            port=port,
            token=token,
            store=store,
            open_browser=open_browser,
            project=project,
        )
    except FerroflowError as exc:
        fail(out, str(exc))


def dashboard(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to bind (another than loopback needs --token).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8765,
    token: Annotated[
        str | None, typer.Option("--token", envvar="FERROFLOW_DASHBOARD_TOKEN", help="Require this token.")
    ] = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the dashboard in a browser.")] = False,
) -> None:
    """Serve the dashboard: runs, tasks, logs, reports and schedules of the store, live."""
    from ..store import DEFAULT_STORE
    from ..watch import WatchApp

    st = state(ctx)
    out = st.output
    with user_errors(out):
        server = start_dashboard(
            out,
            WatchApp(name="dashboard", store=None),
            st.home if st.home is not None else DEFAULT_STORE,
            host=host,
            port=port,
            token=token,
            open_browser=open_browser,
            project=st.project(),
        )
        out.line(f"dashboard on {server.url}  (Ctrl+C to stop)")
        done = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            done.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not done.wait(0.5):
            pass
        server.stop()
