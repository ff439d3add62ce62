"""The run history in JSON: pages of runs, one run with its graph, one task with its attempts.

``GET /api/runs`` (``workflow``, ``status``, ``since``, ``until``, ``limit``,
``offset``), ``GET /api/runs/{run_id}`` (the run, its tasks, statuses and report;
``?light=1`` leaves out logs, tracebacks and the report, which ``GET
/api/runs/{run_id}/tasks/{task}`` gives one task at a time and ``GET
/api/runs/{run_id}/report`` on its own), ``GET /api/runs/{run_id}/graph`` (the
layout the run page draws) and ``GET /api/runs/{run_id}/graph/layers/{n}`` (the
tasks of layer ``n`` the drawing collapsed)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import QueryParamError, StoreError
from ..store import Store
from ..store.records import RunDetail, RunSummary, TaskSummary, attempts_of
from .http import encode_json, encoded_response, error, int_param, json_response
from .layout import GraphLayout
from .source import StoreSource

__all__ = ["RUN_STATUSES", "RunViews", "attempts_of", "run_json"]

RUN_STATUSES = ("running", "completed", "failed", "cancelled", "interrupted")
_KEPT_RUNS = 8
_ALWAYS = frozenset({"name", "status", "attempts"})


def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
    """Put ``value`` in an LRU ``cache`` of at most :data:`_KEPT_RUNS` entries."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _KEPT_RUNS:
        cache.popitem(last=False)


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
        # A big run's page loads every task: fields with nothing to say are left out.
        return {k: v for k, v in data.items() if v or k in _ALWAYS}
    else:
        data["traceback"] = task.traceback
        data["logs"] = task.logs
        data["failed_attempts"] = attempts_of(task)
    return data


@dataclass(slots=True)
class _View:
    """One run as last read from the store, and the answers already encoded from it."""

    version: tuple[Any, ...]
    detail: RunDetail
    encoded: dict[str, bytes] = field(default_factory=dict)

    def answer(self, key: str, build: Callable[[], Any]) -> Response:
        """The encoded answer ``key``, built by ``build()`` the first time."""
        body = self.encoded.get(key)
        if body is None:
            body = self.encoded[key] = encode_json(build())
        return encoded_response(body)


def _threaded(fn: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint running ``fn`` in Starlette's thread pool."""

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(fn, request)

    endpoint.__name__ = fn.__name__
    return endpoint


class RunViews:
    """The run endpoints over one :class:`StoreSource`.

    A run is read from the store again only when it changed (``Store.run_version``,
    a few aggregates): a finished run, or a running one between two writes, is
    answered from what was encoded last time.
    """

    def __init__(self, source: StoreSource) -> None:
        self.source = source
        self._views: OrderedDict[str, _View] = OrderedDict()
        self._layouts: OrderedDict[str, GraphLayout] = OrderedDict()
        self._lock = threading.Lock()

    def _store(self) -> Store:
        return self.source.get()

    def _view(self, run_id: str) -> _View | Response:
        with self._lock:
            return self._read_view(run_id)

    def _read_view(self, run_id: str) -> _View | Response:
        try:
            store = self._store()
            full, version = store.run_version(run_id)
            view = self._views.get(full)
            if view is not None and view.version == version:
                self._views.move_to_end(full)
                return view
            view = _View(version, store.get_run(full, every_task=True))
        except StoreError as exc:
            return error(*self.source.run_error(exc, run_id))
        _remember(self._views, full, view)
        return view

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

    def api_run(self, request: Request) -> Response:
        """One run: its tasks, statuses, tracebacks, logs and report (``?light=1``: no logs,
        tracebacks nor report, which ``/tasks/{task}`` and ``/report`` give)."""
        light = request.query_params.get("light") in ("1", "true")
        view = self._view(request.path_params["run_id"])
        if isinstance(view, Response):
            return view
        detail = view.detail

        def build() -> dict[str, Any]:
            data: dict[str, Any] = {
                "run": run_json(detail.run),
                "tasks": [_task_json(t, light) for t in detail.tasks],
                "upstreams": detail.upstreams,
            }
            if not light:
                data.update(self._report(detail.run))
            return data

        return view.answer("light" if light else "full", build)

    def _report(self, run: RunSummary) -> dict[str, Any]:
        """``{"report": ...}`` (JSON, ``None`` before there is one), or with ``report_error``."""
        try:
            report = self._store().get_report(run.run_id)
        except StoreError as exc:
            return {"report": None, "report_error": str(exc)}
        return {"report": None if report is None else json.loads(report.model_dump_json())}

    def api_report(self, request: Request) -> Response:
        """The run's report: ``{run_id, report}`` (``report`` is ``None`` before there is one)."""
        view = self._view(request.path_params["run_id"])
        if isinstance(view, Response):
            return view
        run = view.detail.run
        body = view.encoded.get("report")
        if body is None:
            try:
                report = self._store().get_report(run.run_id)
            except StoreError as exc:
                body = encode_json({"run_id": run.run_id, "report": None, "report_error": str(exc)})
            else:
                # The report's own JSON goes out as it is: no decoding and encoding again.
                raw = b"null" if report is None else report.model_dump_json().encode("utf-8")
                body = b'{"run_id":' + encode_json(run.run_id) + b',"report":' + raw + b"}"
            view.encoded["report"] = body
        return encoded_response(body)

    def api_task(self, request: Request) -> Response:
        """One task of a run: its logs and every failed attempt's traceback."""
        view = self._view(request.path_params["run_id"])
        if isinstance(view, Response):
            return view
        detail, name = view.detail, request.path_params["task"]
        try:
            task = detail.task(name)
        except KeyError:
            return error(404, f"run {detail.run.run_id} has no task {name!r}")
        return json_response({"run_id": detail.run.run_id, **_task_json(task, light=False)})

    def _layout(self, detail: RunDetail) -> GraphLayout:
        """The run's layout: computed once per run (its graph does not change)."""
        key = detail.run.run_id
        with self._lock:
            layout = self._layouts.get(key)
            if layout is None or len(layout.names) != len(detail.tasks):
                layout = GraphLayout([t.name for t in detail.tasks], detail.upstreams)
            _remember(self._layouts, key, layout)
        return layout

    def api_graph(self, request: Request) -> Response:
        """The run's graph laid out by layers, with each task's status now."""
        view = self._view(request.path_params["run_id"])
        if isinstance(view, Response):
            return view
        detail = view.detail
        return view.answer("graph", lambda: self._layout(detail).render({t.name: t.status for t in detail.tasks}))

    def api_layer(self, request: Request) -> Response:
        """The tasks of one graph layer left out of the drawing: ``{layer, total, offset, tasks}``.

        ``offset`` and ``limit`` (at most 1000) page through them; each task is ``{name, status}``.
        """
        view = self._view(request.path_params["run_id"])
        if isinstance(view, Response):
            return view
        layout = self._layout(view.detail)
        raw = request.path_params["layer"]
        try:
            number = int(raw)
        except ValueError:
            raise QueryParamError("layer", f"layer must be an integer, got {raw!r}") from None
        if not 0 <= number < len(layout.layers):
            return error(404, f"run {view.detail.run.run_id} has no layer {number} (it has {len(layout.layers)})")
        offset = int_param(request, "offset", 0, 0, 10**9)
        limit = int_param(request, "limit", 200, 1, 1000)
        status = {t.name: t.status for t in view.detail.tasks}
        return json_response(layout.hidden(number, status, offset, limit))

    def endpoints(self) -> list[tuple[str, str, Any]]:
        """``(method, path, endpoint)`` of the run routes; the run endpoints read the store
        in a worker thread, so a big run never holds up the pages and streams."""
        return [
            ("GET", "/api/runs", self.api_runs),
            ("GET", "/api/runs/{run_id}", _threaded(self.api_run)),
            ("GET", "/api/runs/{run_id}/graph", _threaded(self.api_graph)),
            ("GET", "/api/runs/{run_id}/graph/layers/{layer}", _threaded(self.api_layer)),
            ("GET", "/api/runs/{run_id}/report", _threaded(self.api_report)),
            ("GET", "/api/runs/{run_id}/tasks/{task:path}", _threaded(self.api_task)),
        ]
