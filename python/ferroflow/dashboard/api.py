"""The dashboard's endpoints, shared by the Starlette app and the FastAPI router.

Pages: ``/`` the overview, ``/runs`` the run history, ``/runs/{run_id}`` a run,
``/schedules``. JSON: ``/health``, ``/api/state``, ``/api/events``,
``/api/events/stream`` (SSE), ``/api/file?path=``, ``/api/sessions``, the run
routes of :mod:`.runs`, the actions of :mod:`.actions`, ``/api/schedules`` and
``POST /api/schedules/{id}/enable|disable`` (docs/guide/dashboard.md).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from ..errors import FilePreviewError, QueryParamError, StoreError
from ..flowfiles.project import Project
from ..watch import WatchApp
from .actions import Actions
from .feed import Feed
from .http import error, int_param, json_response
from .preview import preview_file
from .runs import RUN_STATUSES, RunViews
from .security import Guard, secure_headers
from .source import StoreSource

__all__ = ["MAX_SSE_CLIENTS", "Dashboard", "Endpoint"]

HERE = Path(__file__).parent
MAX_SSE_CLIENTS = 100
Endpoint = Callable[[Request], Awaitable[Response]]
_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css", "pygments.css": "text/css"}
_PUBLIC = {"/health", "/static/{name}"}


class Dashboard:
    """State and endpoints of one dashboard: one watch app, one store, one project."""

    def __init__(
        self,
        app: WatchApp,
        store: Any,
        guard: Guard,
        feed: Feed | None = None,
        project: Project | None = None,
    ) -> None:
        self.app = app
        self.source = store if isinstance(store, StoreSource) else StoreSource(store)
        self.guard = guard
        self.feed = feed or Feed()
        self.started = time.monotonic()
        self.sse_clients = 0
        self.runs = RunViews(self.source)
        self.actions = Actions(self.source, project)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
        )

    @property
    def store(self) -> Any:
        """The store if it can be used now, else ``None``."""
        return self.source.peek()

    # ------------------------------------------------------------ plumbing

    def endpoints(self) -> list[tuple[str, str, Endpoint]]:
        """``(method, path, endpoint)`` of every route, guarded."""
        routes: list[tuple[str, str, Endpoint]] = [
            ("GET", "/", self.page_overview),
            ("GET", "/runs", self.page_runs),
            ("GET", "/runs/{run_id}", self.page_run),
            ("GET", "/schedules", self.page_schedules),
            ("GET", "/static/{name}", self.static),
            ("GET", "/health", self.health),
            ("GET", "/api/state", self.api_state),
            ("GET", "/api/events", self.api_events),
            ("GET", "/api/events/stream", self.api_stream),
            ("GET", "/api/file", self.api_file),
            ("GET", "/api/sessions", self.api_sessions),
            ("GET", "/api/schedules", self.api_schedules),
            ("POST", "/api/schedules/{schedule_id}/{action}", self.api_schedule_action),
            *self.runs.endpoints(),
            *self.actions.endpoints(),
        ]
        return [(method, path, self._guarded(path, fn, public=path in _PUBLIC)) for method, path, fn in routes]

    def _guarded(self, template: str, fn: Endpoint, public: bool = False) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            base = self.base_of(request, template)
            refusal = self.guard.check(request, public=public, base=base)
            if refusal is not None:
                return refusal
            try:
                return await fn(request)
            except QueryParamError as exc:
                return error(400, str(exc), parameter=exc.name)
            except StoreError as exc:
                return error(503, str(exc))

        endpoint.__name__ = fn.__name__
        return endpoint

    @staticmethod
    def base_of(request: Request, template: str) -> str:
        """The URL prefix the dashboard is served under ('' at the root)."""
        suffix = template
        for key, value in request.path_params.items():
            suffix = suffix.replace("{" + key + "}", str(value)).replace("{" + key + ":path}", str(value))
        path = request.url.path
        if suffix == "/":
            return path.removesuffix("/")
        return path[: -len(suffix)] if path.endswith(suffix) else ""

    # ------------------------------------------------------------ the watcher

    async def health(self, request: Request) -> Response:
        """``{status, uptime_seconds, handlers_count, roots_count, events_processed}``, no token needed."""
        stats = self.app.stats
        return json_response(
            {
                "status": "healthy" if self.app.is_running else "idle",
                "uptime_seconds": round(time.monotonic() - self.started, 2),
                "handlers_count": len(self.app.handlers),
                "roots_count": len(self.app.roots),
                "events_processed": stats["events_total"],
            }
        )

    async def api_state(self, request: Request) -> Response:
        """Stats, roots and handlers of the watch app, and whether the store can be read.

        Each handler row carries its load from ``stats["handlers"]``: ``calls``,
        ``errors``, ``running``, ``waiting``, ``stuck`` (calls running past the
        app's ``stuck_after``) and ``longest_running_seconds``.
        """
        stats = self.app.stats
        load = stats.get("handlers", {})
        handlers = [
            {
                "name": h.name,
                "root": h.root,
                "events": [c.name for c in h.events],
                "pattern": h.pattern,
                "priority": h.priority,
                **load.get(h.name, {}),
            }
            for h in self.app.handlers
        ]
        try:
            self.source.get()
            store_error = None
        except StoreError as exc:
            store_error = str(exc)
        return json_response(
            {
                "stats": stats,
                "roots": self.app.roots,
                "handlers": handlers,
                "running": self.app.is_running,
                "store": None if self.source.path is None else str(self.source.path),
                "store_error": store_error,
                "last_event_id": self.feed.last_id,
            }
        )

    async def api_events(self, request: Request) -> Response:
        """The recent file events, oldest first."""
        limit = int_param(request, "limit", 100, 1, 2000)
        return json_response({"events": self.feed.recent(limit, kind="file"), "last_event_id": self.feed.last_id})

    async def api_stream(self, request: Request) -> Response:
        """SSE: one JSON object per ``data:`` line; resumes after ``Last-Event-ID``."""
        if self.sse_clients >= MAX_SSE_CLIENTS:
            return error(503, f"too many live streams (at most {MAX_SSE_CLIENTS})")
        raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        try:
            last = int(raw) if raw else self.feed.last_id
        except ValueError:
            return error(400, "Last-Event-ID must be an integer", parameter="last_event_id")

        async def events() -> AsyncIterator[dict[str, Any]]:
            self.sse_clients += 1
            try:
                async for item in self.feed.stream(last):
                    if item is None:
                        yield {"comment": "keep-alive"}
                    else:
                        yield {"id": str(item["id"]), "data": item.json}
            finally:
                self.sse_clients -= 1

        response = EventSourceResponse(events(), ping=3600, send_timeout=5)
        return secure_headers(response)

    async def api_file(self, request: Request) -> Response:
        """The preview of a file under a watched root."""
        raw = request.query_params.get("path")
        if raw is None:
            return error(400, "query parameter 'path' is required", parameter="path")
        try:
            return json_response(preview_file(raw, self.app.roots))
        except FilePreviewError as exc:
            return error(exc.status, str(exc))

    async def api_sessions(self, request: Request) -> Response:
        """The watch sessions the store recorded, newest first."""
        limit = int_param(request, "limit", 20, 1, 500)
        from ..store.sessions import list_sessions

        try:
            sessions = list_sessions(self.source.get(), limit=limit)
        except StoreError as exc:
            return json_response({"sessions": [], "store_error": str(exc)})
        return json_response({"sessions": [asdict(s) for s in sessions], "store_error": None})

    # ------------------------------------------------------------ schedules

    def _schedules(self) -> list[dict[str, Any]]:
        from ..scheduling.table import list_schedules, schedule_runs

        store = self.source.get()
        out = []
        for s in list_schedules(store):
            fires = s.fire_times(count=5) if s.enabled else []
            out.append(
                {
                    "id": s.id,
                    "target": s.target,
                    "spec": s.spec,
                    "tz": s.tz,
                    "enabled": s.enabled,
                    "description": s.description,
                    "next_fires": [f.isoformat() for f in fires],
                    "last_runs": [asdict(r) for r in schedule_runs(store, s.id, limit=5)],
                }
            )
        return out

    async def api_schedules(self, request: Request) -> Response:
        """Each schedule, its next fire times and its last runs."""
        try:
            return json_response({"schedules": self._schedules(), "store_error": None})
        except StoreError as exc:
            return json_response({"schedules": [], "store_error": str(exc)})

    async def api_schedule_action(self, request: Request) -> Response:
        """Enable or disable one schedule."""
        action = request.path_params["action"]
        if action not in ("enable", "disable"):
            return error(404, f"unknown schedule action {action!r}")
        from ..scheduling.table import get_schedule, set_enabled

        store = self.source.get()
        schedule_id = request.path_params["schedule_id"]
        if get_schedule(store, schedule_id) is None:
            return error(404, f"unknown schedule {schedule_id!r}")
        set_enabled(store, schedule_id, action == "enable")
        return json_response({"id": schedule_id, "enabled": action == "enable"})

    # ------------------------------------------------------------ pages

    def _page(self, request: Request, template: str, name: str, **context: Any) -> Response:
        html = self.templates.get_template(name).render(
            base=self.base_of(request, template), title=context.pop("title", self.app.name or "ferroflow"), **context
        )
        return secure_headers(HTMLResponse(html))

    async def page_overview(self, request: Request) -> Response:
        """The overview: watch events, handlers, recent runs, next fires, health."""
        return self._page(request, "/", "overview.html")

    async def page_runs(self, request: Request) -> Response:
        """The run history, filtered and paginated."""
        return self._page(request, "/runs", "runs.html", statuses=RUN_STATUSES, title="runs")

    async def page_run(self, request: Request) -> Response:
        """A run: graph, timeline, tasks, logs, tracebacks, report."""
        run_id = request.path_params["run_id"]
        return self._page(request, "/runs/{run_id}", "run.html", run_id=run_id, title=f"run {run_id[:12]}")

    async def page_schedules(self, request: Request) -> Response:
        """The schedules, their next fires and last runs, and the flows to start."""
        return self._page(request, "/schedules", "schedules.html", title="schedules")

    async def static(self, request: Request) -> Response:
        """The shipped JS and CSS."""
        name = request.path_params["name"]
        if name not in _STATIC:
            return error(404, "no such asset")
        if name == "pygments.css":
            from pygments.formatters import HtmlFormatter

            css: str = HtmlFormatter(style="monokai").get_style_defs(".hl")  # type: ignore[no-untyped-call]
            return secure_headers(Response(css, media_type="text/css"))
        return secure_headers(FileResponse(HERE / "static" / name, media_type=_STATIC[name]))
