"""Building and serving the dashboard: ``create_dashboard_app``, ``create_dashboard_routes``,
``run_with_dashboard``, ``stop_dashboard`` (docs/dashboard.md)."""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import webbrowser
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import FerroflowError
from ..flowfiles.project import Project
from ..store import DEFAULT_STORE
from ..watch import WatchApp
from ..watch.app import default_app
from .api import Dashboard, Endpoint
from .feed import StoreFollower
from .security import Guard, check_bind
from .source import StoreSource

__all__ = ["DashboardServer", "create_dashboard_app", "create_dashboard_routes", "run_with_dashboard", "stop_dashboard"]


def _dashboard(
    app: WatchApp | None, store: Any, token: str | None, allowed_hosts: list[str] | None, project: Project | None
) -> Dashboard:
    guard = Guard(token=token)
    for host in allowed_hosts or []:
        guard.allow_host(host)
    watch = app if app is not None else default_app()
    source = StoreSource(DEFAULT_STORE if store is None else store)
    dash = Dashboard(watch, source, guard, project=project if project is not None else Project())
    watch.add_listener(dash.feed.on_file_event)
    return dash


def _follower(dash: Dashboard) -> StoreFollower | None:
    path = dash.source.path
    return StoreFollower(path, dash.feed) if path is not None else None


def create_dashboard_app(
    app: WatchApp | None = None,
    *,
    store: Any = None,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    project: Project | None = None,
) -> Starlette:
    """The dashboard as a Starlette app.

    Args:
        app: The watch app to show (the default app when ``None``).
        store: The run store (a path, a :class:`~ferroflow.store.Store`; default: the default store).
            A store that does not exist yet is not created: the pages say so until a run creates it.
        token: Require this token (``?token=`` once, then a cookie; or ``Authorization: Bearer``).
        allowed_hosts: Host names accepted besides localhost (DNS rebinding protection).
        project: The flows the dashboard can start (default: ``flows/`` and ``tasks/`` of the
            working directory).

    Returns:
        A Starlette app; ``app.state.dashboard`` is its :class:`Dashboard`.
    """
    dash = _dashboard(app, store, token, allowed_hosts, project)
    follower = _follower(dash)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if follower is not None:
            follower.start()
        try:
            yield
        finally:
            dash.feed.close()
            if follower is not None:
                follower.stop()

    routes = [Route(path, endpoint, methods=[method]) for method, path, endpoint in dash.endpoints()]
    web = Starlette(routes=routes, lifespan=lifespan)
    web.state.dashboard = dash
    return web


def create_dashboard_routes(
    app: WatchApp | None = None,
    *,
    store: Any = None,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    project: Project | None = None,
) -> Any:
    """The dashboard as a FastAPI ``APIRouter`` (extra ``ferroflow[fastapi]``).

    Mounted with ``include_router(router, prefix="/x")`` every link and stream
    works under the prefix. The host app's server decides the bind; the
    router still applies the Host and Origin checks, and the token when one
    is given.
    """
    from fastapi import APIRouter

    dash = _dashboard(app, store, token, allowed_hosts, project)
    follower = _follower(dash)
    started = threading.Lock()

    router = APIRouter()
    for method, path, endpoint in dash.endpoints():

        def wrap(fn: Endpoint = endpoint) -> Endpoint:
            async def route(request: Request) -> Response:
                if follower is not None and started.acquire(blocking=False):
                    follower.start()
                return await fn(request)

            return route

        router.add_api_route(path, wrap(), methods=[method], include_in_schema=False)
    router.dashboard = dash  # type: ignore[attr-defined]
    return router


class DashboardServer:
    """A uvicorn server running the dashboard in a background thread."""

    def __init__(self, web: Starlette, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.web = web
        config = uvicorn.Config(web, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ferroflow-dashboard", daemon=True)

    @property
    def url(self) -> str:
        """The dashboard's address."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; returns once the socket listens.

        Raises:
            FerroflowError: The server did not start (e.g. the port is in use).
        """
        _check_port(self.host, self.port)
        self.thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout * 50)):
            if self.server.started or not self.thread.is_alive():
                break
            deadline.wait(0.02)
        if not self.server.started:
            self.stop()
            raise FerroflowError(f"the dashboard could not listen on {self.host}:{self.port} (is the port in use?)")

    def stop(self) -> None:
        """Stop serving (open streams do not hold it up)."""
        self.web.state.dashboard.feed.close()
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=5)


def _check_port(host: str, port: int) -> None:
    """Refuse a port something already listens on, naming it (uvicorn would only log it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            raise FerroflowError(f"the dashboard cannot listen on {host}:{port}: port {port} {reason}") from None


_current: DashboardServer | None = None


def serve_dashboard(
    app: WatchApp | None = None,
    *,
    port: int = 8765,
    host: str = "127.0.0.1",
    token: str | None = None,
    store: Any = None,
    open_browser: bool = False,
    project: Project | None = None,
) -> DashboardServer:
    """Start the dashboard in the background and return its server.

    Raises:
        FerroflowError: A non-loopback ``host`` without a token, or the port is in use.
    """
    global _current
    check_bind(host, token)
    web = create_dashboard_app(app, store=store, token=token, allowed_hosts=[host], project=project)
    server = DashboardServer(web, host, port)
    server.start()
    _current = server
    if open_browser:
        webbrowser.open(server.url + (f"?token={token}" if token else ""))
    return server


def run_with_dashboard(
    port: int = 8765,
    host: str = "127.0.0.1",
    open_browser: bool = False,
    *,
    app: WatchApp | None = None,
    token: str | None = None,
    store: Any = None,
) -> None:
    """Watch with the default (or given) app and serve the dashboard until Ctrl+C / SIGTERM.

    Raises:
        FerroflowError: A non-loopback ``host`` without a token (a token is needed).
    """
    watch = app if app is not None else default_app()
    serve_dashboard(watch, port=port, host=host, token=token, store=store, open_browser=open_browser)
    try:
        watch.run()
    finally:
        stop_dashboard()


def stop_dashboard() -> None:
    """Stop the dashboard started by :func:`run_with_dashboard` (no-op when none runs)."""
    global _current
    server, _current = _current, None
    if server is not None:
        server.stop()
