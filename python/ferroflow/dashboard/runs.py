"""The run history in JSON: pages of runs, one run with its graph, one task with its attempts.

``GET /api/runs`` (``workflow``, ``status``, ``since``, ``until``, ``limit``,
``offset``), ``GET /api/runs/{run_id}`` (the run, its tasks, statuses and report;
``?light=1`` leaves out logs and tracebacks, which ``GET
/api/runs/{run_id}/tasks/{task}`` gives one task at a time), ``GET
/api/runs/{run_id}/graph`` (the layout the run page draws).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import asdict
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import QueryParamError, StoreError
from ..store import Store
from ..store.records import RunDetail, RunSummary, TaskSummary, attempts_of
from .http import error, int_param, json_response
from .layout import GraphLayout
from .source import StoreSource

__all__ = ["RUN_STATUSES", "RunViews", "attempts_of", "run_json"]

RUN_STATUSES = ("running", "completed", "failed", "cancelled", "interrupted")
_CACHED_LAYOUTS = 8


def _time_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError:
        raise QueryParamError(
            name, f"query parameter '{name}' must be an ISO-8601 date or epoch seconds, got {raw!r}"
        ) from None


def run_json(summary: RunSummary) -> dict[str, Any]:
    """A run as the API shows it."""
    data = asdict(summary)
    data["duration_seconds"] = summary.duration_seconds
    return data


def _task_json(task: TaskSummary, light: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": task.name,
        "status": task.status,
        "attempts": task.attempts,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "duration_seconds": task.duration_seconds,
        "error": task.error,
        "reason": task.reason,
        "cached": task.cached,
        "resumed": task.resumed,
    }
    if light:
        data["failed_attempts"] = [
            {k: a.get(k) for k in ("number", "started_at", "finished_at")} for a in task.failed_attempts
        ]
        data["log_lines"] = len(task.logs)
    else:
        data["traceback"] = task.traceback
        data["logs"] = task.logs
        data["failed_attempts"] = attempts_of(task)
    return data


class RunViews:
    """The run endpoints over one :class:`StoreSource`."""

    def __init__(self, source: StoreSource) -> None:
        self.source = source
        self._layouts: OrderedDict[str, GraphLayout] = OrderedDict()
        self._reports: OrderedDict[str, tuple[tuple[str, float | None], Any]] = OrderedDict()

    def _store(self) -> Store:
        return self.source.get()

    def _detail(self, run_id: str) -> RunDetail | Response:
        try:
            return self._store().get_run(run_id, every_task=True)
        except StoreError as exc:
            return error(*self.source.run_error(exc, run_id))

    def page(self, request: Request) -> dict[str, Any]:
        """One page of the history (for ``/api/runs`` and the pages)."""
        limit = int_param(request, "limit", 50, 1, 500)
        offset = int_param(request, "offset", 0, 0, 10**9)
        workflow = request.query_params.get("workflow") or None
        status = request.query_params.get("status") or None
        if status is not None and status not in RUN_STATUSES:
            raise QueryParamError("status", f"query parameter 'status' has an unknown value {status!r}")
        since, until = _time_param(request, "since"), _time_param(request, "until")
        base = {"runs": [], "total": 0, "limit": limit, "offset": offset, "store": None, "store_error": None}
        try:
            store = self._store()
            total, summaries = store.page_runs(workflow, status, limit, offset, since=since, until=until)
        except StoreError as exc:
            return {**base, "store_error": StoreSource.explain(exc)}
        return {**base, "runs": [run_json(r) for r in summaries], "total": total, "store": str(store.path)}

    async def api_runs(self, request: Request) -> Response:
        """The run history, newest first (``workflow``, ``status``, ``since``, ``until``, ``limit``, ``offset``)."""
        return json_response(self.page(request))

    async def api_run(self, request: Request) -> Response:
        """One run: its tasks, statuses, tracebacks, logs and report."""
        run_id = request.path_params["run_id"]
        light = request.query_params.get("light") in ("1", "true")
        detail = self._detail(run_id)
        if isinstance(detail, Response):
            return detail
        data: dict[str, Any] = {
            "run": run_json(detail.run),
            "tasks": [_task_json(t, light) for t in detail.tasks],
            "upstreams": detail.upstreams,
        }
        try:
            data["report"] = self._report(detail.run)
        except StoreError as exc:
            data["report"], data["report_error"] = None, str(exc)
        return json_response(data)

    def _report(self, run: RunSummary) -> Any:
        """The run's report as JSON; a finished run's is built once (it no longer changes)."""
        key = (run.status, run.finished_at)
        cached = self._reports.get(run.run_id)
        if cached is not None and cached[0] == key:
            self._reports.move_to_end(run.run_id)
            return cached[1]
        report = self._store().get_report(run.run_id)
        value = None if report is None else json.loads(report.model_dump_json())
        if run.status != "running":
            self._reports[run.run_id] = (key, value)
            while len(self._reports) > _CACHED_LAYOUTS:
                self._reports.popitem(last=False)
        return value

    async def api_task(self, request: Request) -> Response:
        """One task of a run: its logs and every failed attempt's traceback."""
        run_id, name = request.path_params["run_id"], request.path_params["task"]
        detail = self._detail(run_id)
        if isinstance(detail, Response):
            return detail
        try:
            task = detail.task(name)
        except KeyError:
            return error(404, f"run {detail.run.run_id} has no task {name!r}")
        return json_response({"run_id": detail.run.run_id, **_task_json(task, light=False)})

    async def api_graph(self, request: Request) -> Response:
        """The run's graph laid out by layers, with each task's status now."""
        run_id = request.path_params["run_id"]
        detail = self._detail(run_id)
        if isinstance(detail, Response):
            return detail
        key = detail.run.run_id
        layout = self._layouts.get(key)
        if layout is None:
            layout = GraphLayout([t.name for t in detail.tasks], detail.upstreams)
            self._layouts[key] = layout
            while len(self._layouts) > _CACHED_LAYOUTS:
                self._layouts.popitem(last=False)
        else:
            self._layouts.move_to_end(key)
        return json_response(layout.render({t.name: t.status for t in detail.tasks}))

    def endpoints(self) -> list[tuple[str, str, Any]]:
        """``(method, path, endpoint)`` of the run routes."""
        return [
            ("GET", "/api/runs", self.api_runs),
            ("GET", "/api/runs/{run_id}", self.api_run),
            ("GET", "/api/runs/{run_id}/graph", self.api_graph),
            ("GET", "/api/runs/{run_id}/tasks/{task:path}", self.api_task),
        ]
