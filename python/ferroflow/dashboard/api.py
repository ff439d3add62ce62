"""The dashboard's endpoints, shared by the Starlette app and the FastAPI router.

URLs (docs/dashboard.md): ``/`` the overview, ``/runs/{run_id}`` a run page,
``/health``, ``/api/state``, ``/api/events``, ``/api/events/stream`` (SSE),
``/api/file?path=``, ``/api/runs``, ``/api/runs/{run_id}``, ``/api/schedules``,
and the actions ``POST /api/schedules/{id}/enable|disable`` and
``POST /api/runs/{run_id}/cancel``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from ..errors import FerroflowError, FilePreviewError
from ..watch import WatchApp
from .feed import Feed
from .preview import preview_file
from .security import Guard, secure_headers

__all__ = ["MAX_SSE_CLIENTS", "Dashboard", "Endpoint"]

HERE = Path(__file__).parent
MAX_SSE_CLIENTS = 100
Endpoint = Callable[[Request], Awaitable[Response]]
_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css", "pygments.css": "text/css"}


def _json(data: Any, status: int = 200) -> Response:
    return secure_headers(JSONResponse(data, status_code=status))


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadParam(name, f"query parameter '{name}' must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise _BadParam(name, f"query parameter '{name}' must be between {lo} and {hi}, got {value}")
    return value


class _BadParam(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class Dashboard:
    """State and endpoints of one dashboard (one watch app, one store)."""

    def __init__(self, app: WatchApp, store: Any, guard: Guard, feed: Feed | None = None) -> None:
        self.app = app
        self.store = store
        self.guard = guard
        self.feed = feed or Feed()
        self.started = time.monotonic()
        self.sse_clients = 0
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
        )

    # ------------------------------------------------------------ plumbing

    def endpoints(self) -> list[tuple[str, str, Endpoint]]:
        """``(method, path, endpoint)`` of every route."""
        return [
            ("GET", "/", self._guarded("/", self.page_overview)),
            ("GET", "/runs/{run_id}", self._guarded("/runs/{run_id}", self.page_run)),
            ("GET", "/static/{name}", self._guarded("/static/{name}", self.static, public=True)),
            ("GET", "/health", self._guarded("/health", self.health, public=True)),
            ("GET", "/api/state", self._guarded("/api/state", self.api_state)),
            ("GET", "/api/events", self._guarded("/api/events", self.api_events)),
            ("GET", "/api/events/stream", self._guarded("/api/events/stream", self.api_stream)),
            ("GET", "/api/file", self._guarded("/api/file", self.api_file)),
            ("GET", "/api/runs", self._guarded("/api/runs", self.api_runs)),
            ("GET", "/api/runs/{run_id}", self._guarded("/api/runs/{run_id}", self.api_run)),
            ("POST", "/api/runs/{run_id}/cancel", self._guarded("/api/runs/{run_id}/cancel", self.api_cancel)),
            ("GET", "/api/schedules", self._guarded("/api/schedules", self.api_schedules)),
            (
                "POST",
                "/api/schedules/{schedule_id}/{action}",
                self._guarded("/api/schedules/{schedule_id}/{action}", self.api_schedule_action),
            ),
        ]

    def _guarded(self, template: str, fn: Endpoint, public: bool = False) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            base = self.base_of(request, template)
            refusal = self.guard.check(request, public=public, base=base)
            if refusal is not None:
                return refusal
            try:
                return await fn(request)
            except _BadParam as exc:
                return _error(400, str(exc))

        endpoint.__name__ = fn.__name__
        return endpoint

    @staticmethod
    def base_of(request: Request, template: str) -> str:
        """The URL prefix the dashboard is served under ('' at the root)."""
        suffix = template
        for key, value in request.path_params.items():
            suffix = suffix.replace("{" + key + "}", str(value))
        path = request.url.path
        if suffix == "/":
            return path.removesuffix("/")
        return path[: -len(suffix)] if path.endswith(suffix) else ""

    # ------------------------------------------------------------ data

    def _stats(self) -> dict[str, Any]:
        return self.app.stats

    def _runs(self, request: Request) -> dict[str, Any]:
        limit = _int_param(request, "limit", 50, 1, 500)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        workflow = request.query_params.get("workflow") or None
        status = request.query_params.get("status") or None
        if status is not None and status not in ("running", "completed", "failed", "cancelled", "interrupted"):
            raise _BadParam("status", f"query parameter 'status' has an unknown value {status!r}")
        if self.store is None:
            return {"runs": [], "total": 0, "limit": limit, "offset": offset, "store": None}
        total, summaries = self.store.page_runs(workflow, status, limit, offset)
        runs = [_run_json(r) for r in summaries]
        return {"runs": runs, "total": total, "limit": limit, "offset": offset, "store": str(self.store.path)}

    # ------------------------------------------------------------ endpoints

    async def health(self, request: Request) -> Response:
        """``{status, uptime_seconds, handlers_count, roots_count, events_processed}``, no token needed."""
        stats = self._stats()
        return _json(
            {
                "status": "healthy" if self.app.is_running else "idle",
                "uptime_seconds": round(time.monotonic() - self.started, 2),
                "handlers_count": len(self.app.handlers),
                "roots_count": len(self.app.roots),
                "events_processed": stats["events_total"],
            }
        )

    async def api_state(self, request: Request) -> Response:
        """Stats, roots and handlers of the watch app."""
        handlers = [
            {
                "name": h.name,
                "root": h.root,
                "events": [c.name for c in h.events],
                "pattern": h.pattern,
                "priority": h.priority,
            }
            for h in self.app.handlers
        ]
        return _json(
            {
                "stats": self._stats(),
                "roots": self.app.roots,
                "handlers": handlers,
                "running": self.app.is_running,
                "store": None if self.store is None else str(self.store.path),
                "last_event_id": self.feed.last_id,
            }
        )

    async def api_events(self, request: Request) -> Response:
        """The recent file events, oldest first."""
        limit = _int_param(request, "limit", 100, 1, 2000)
        return _json({"events": self.feed.recent(limit, kind="file"), "last_event_id": self.feed.last_id})

    async def api_stream(self, request: Request) -> Response:
        """SSE: one JSON object per ``data:`` line; resumes after ``Last-Event-ID``."""
        if self.sse_clients >= MAX_SSE_CLIENTS:
            return _error(503, f"too many live streams (at most {MAX_SSE_CLIENTS})")
        raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        try:
            last = int(raw) if raw else self.feed.last_id
        except ValueError:
            return _error(400, "Last-Event-ID must be an integer")

        async def events() -> AsyncIterator[dict[str, Any]]:
            self.sse_clients += 1
            try:
                async for item in self.feed.stream(last):
                    if item is None:
                        yield {"comment": "keep-alive"}
                    else:
                        yield {"id": str(item["id"]), "data": json.dumps(item)}
            finally:
                self.sse_clients -= 1

        response = EventSourceResponse(events(), ping=3600, send_timeout=5)
        return secure_headers(response)

    async def api_file(self, request: Request) -> Response:
        """The preview of a file under a watched root."""
        raw = request.query_params.get("path")
        if raw is None:
            return _error(400, "query parameter 'path' is required")
        try:
            return _json(preview_file(raw, self.app.roots))
        except FilePreviewError as exc:
            return _error(exc.status, str(exc))

    async def api_runs(self, request: Request) -> Response:
        """The run history, newest first (``workflow``, ``status``, ``limit``, ``offset``)."""
        return _json(self._runs(request))

    async def api_run(self, request: Request) -> Response:
        """One run: its tasks, statuses, tracebacks, logs and report."""
        run_id = request.path_params["run_id"]
        if self.store is None:
            return _error(404, "no store")
        try:
            detail = self.store.get_run(run_id)
        except (FerroflowError, KeyError, LookupError):
            return _error(404, f"unknown run id {run_id!r}")
        report = self.store.get_report(detail.run.run_id)
        data = _detail_json(detail)
        data["report"] = None if report is None else json.loads(report.model_dump_json())
        return _json(data)

    async def api_cancel(self, request: Request) -> Response:
        """Cancel a running run (SIGTERM to its process, on this host)."""
        run_id = request.path_params["run_id"]
        if self.store is None:
            return _error(404, "no store")
        with self.store.read() as conn:
            row = conn.execute("SELECT status, pid, host FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return _error(404, f"unknown run id {run_id!r}")
        from ..store.records import HOST

        if row["status"] != "running" or not row["pid"]:
            return _error(409, f"run {run_id} is not running")
        if row["host"] != HOST:
            return _error(409, f"run {run_id} runs on host {row['host']}, not here")
        try:
            os.kill(int(row["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            return _error(409, f"run {run_id}'s process is gone")
        return _json({"run_id": run_id, "cancelled": True}, 202)

    async def api_schedules(self, request: Request) -> Response:
        """Each schedule, its next fire times and its last runs."""
        if self.store is None:
            return _json({"schedules": []})
        from ..scheduling.schedules import next_fire_times
        from ..scheduling.table import list_schedules, schedule_runs

        out = []
        for s in list_schedules(self.store):
            fires = next_fire_times(s.cron, tz=s.tz, count=3) if s.enabled else []
            out.append(
                {
                    "id": s.id,
                    "target": s.target,
                    "spec": s.spec,
                    "tz": s.tz,
                    "enabled": s.enabled,
                    "description": s.description,
                    "next_fires": [f.isoformat() for f in fires],
                    "last_runs": [asdict(r) for r in schedule_runs(self.store, s.id, limit=5)],
                }
            )
        return _json({"schedules": out})

    async def api_schedule_action(self, request: Request) -> Response:
        """Enable or disable one schedule."""
        action = request.path_params["action"]
        if action not in ("enable", "disable"):
            return _error(404, f"unknown schedule action {action!r}")
        if self.store is None:
            return _error(404, "no store")
        from ..scheduling.table import get_schedule, set_enabled

        schedule_id = request.path_params["schedule_id"]
        if get_schedule(self.store, schedule_id) is None:
            return _error(404, f"unknown schedule {schedule_id!r}")
        set_enabled(self.store, schedule_id, action == "enable")
        return _json({"id": schedule_id, "enabled": action == "enable"})

    # ------------------------------------------------------------ pages

    def _page(self, request: Request, template: str, name: str, **context: Any) -> Response:
        html = self.templates.get_template(name).render(base=self.base_of(request, template), **context)
        return secure_headers(HTMLResponse(html))

    async def page_overview(self, request: Request) -> Response:
        """The overview page."""
        return self._page(request, "/", "overview.html", title=self.app.name or "ferroflow")

    async def page_run(self, request: Request) -> Response:
        """A run's page."""
        return self._page(request, "/runs/{run_id}", "run.html", run_id=request.path_params["run_id"])

    async def static(self, request: Request) -> Response:
        """The shipped JS and CSS."""
        name = request.path_params["name"]
        if name not in _STATIC:
            return _error(404, "no such asset")
        if name == "pygments.css":
            from pygments.formatters import HtmlFormatter

            css: str = HtmlFormatter(style="monokai").get_style_defs(".hl")  # type: ignore[no-untyped-call]
            return secure_headers(Response(css, media_type="text/css"))
        return secure_headers(FileResponse(HERE / "static" / name, media_type=_STATIC[name]))


def _run_json(summary: Any) -> dict[str, Any]:
    data = asdict(summary)
    data["duration_seconds"] = summary.duration_seconds
    return data


def _detail_json(detail: Any) -> dict[str, Any]:
    tasks = [
        {
            "name": t.name,
            "status": t.status,
            "attempts": t.attempts,
            "started_at": t.started_at,
            "finished_at": t.finished_at,
            "error": t.error,
            "traceback": t.traceback,
            "reason": t.reason,
            "cached": t.cached,
            "resumed": t.resumed,
            "logs": t.logs,
        }
        for t in detail.tasks
    ]
    return {"run": _run_json(detail.run), "tasks": tasks}
