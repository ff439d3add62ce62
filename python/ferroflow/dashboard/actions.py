"""What the dashboard can do: start a registered flow, resume a run, cancel a run.

Nothing here accepts a command, a module or a path. A flow is started by its name
in the project's flows folder, with parameters checked against what the flow
declares (422 naming the parameter, nothing started); a run is resumed with the
target the store recorded for it. Both run as ``ferroflow run`` in a child
process of the dashboard, from the folder the run belongs to, and are recorded
like any run (started by ``dashboard``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import FerroflowError, StoreError
from ..flowfiles.project import Project
from ..processes import process_alive
from ..store.records import HOST
from .http import error, json_response
from .source import StoreSource

__all__ = ["Actions", "check_start_params"]

_RESUMABLE = ("failed", "cancelled", "interrupted")
_RESUMABLE_KINDS = ("cli", "schedule", "dashboard")


def _coerce(name: str, value: Any, default: Any) -> Any:
    """A form value as the type of the flow's declared default; ``ValueError`` names the parameter."""
    if default is None or value is None:
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    text = str(value).strip()
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"parameter '{name}' must be true or false, got {text!r}")
    if isinstance(default, int):
        if number and float(value).is_integer():
            return int(value)
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"parameter '{name}' must be an integer, got {text!r}") from None
    if isinstance(default, float):
        if number:
            return float(value)
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"parameter '{name}' must be a number, got {text!r}") from None
    if isinstance(value, dict | list):
        raise ValueError(f"parameter '{name}' must be a text value, got {type(value).__name__}")  # noqa: TRY004 - answered 422
    return value if isinstance(value, str) else text


def check_start_params(workflow: Any, given: Any) -> dict[str, Any]:
    """The parameters of a start request, checked against the flow; ``ValueError`` names the one at fault."""
    if not isinstance(given, dict):
        raise ValueError("'params' must be a JSON object of parameter names to values")  # noqa: TRY004 - answered 422
    spec = workflow.flow.spec.params
    known = workflow.flow.param_names()
    params: dict[str, Any] = {}
    for name, value in given.items():
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ValueError(f"parameter '{name}' is not a parameter of flow {workflow.name} (it has: {listed})")
        params[name] = _coerce(name, value, spec.get(name))
    merged = workflow.flow.merged_params(params)
    try:
        workflow.flow.check(merged)
    except FerroflowError as exc:
        raise ValueError(str(exc)) from None
    return params


class Actions:
    """The state-changing endpoints (every one behind the Origin check and the token)."""

    def __init__(self, source: StoreSource, project: Project | None, cwd: Path | None = None) -> None:
        self.source = source
        self.project = project
        self.cwd = (cwd or Path.cwd()).absolute()
        self.children: list[subprocess.Popen[bytes]] = []

    # ------------------------------------------------------------ flows

    def flows(self) -> list[dict[str, Any]]:
        """The registered flows with their declared parameters (``[]`` without a project)."""
        if self.project is None:
            return []
        out: list[dict[str, Any]] = []
        for name, path in self.project.flow_files().items():
            try:
                workflow = self.project.load_flow(path)
            except FerroflowError as exc:
                out.append({"name": name, "file": path.name, "params": {}, "error": str(exc)})
                continue
            declared = dict(workflow.flow.spec.params)
            for used in sorted(workflow.flow.param_names() - set(declared)):
                declared[used] = None
            out.append({"name": name, "file": path.name, "params": declared, "error": None})
        return out

    async def api_flows(self, request: Request) -> Response:
        """The flows the dashboard can start, with their parameters."""
        return json_response({"flows": self.flows()})

    async def api_start(self, request: Request) -> Response:
        """Start flow ``name`` with ``{"params": {...}}``: 202, or 422 naming the parameter."""
        name = request.path_params["name"]
        if self.project is None or name not in self.project.flow_files():
            return error(404, f"unknown flow {name!r}")
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return error(400, 'the request body must be JSON: {"params": {...}}')
        if not isinstance(body, dict):
            return error(400, 'the request body must be a JSON object: {"params": {...}}')
        try:
            workflow = self.project.load_flow(self.project.flow_path(name))
        except FerroflowError as exc:
            return error(422, str(exc))
        try:
            params = check_start_params(workflow, body.get("params", {}))
        except ValueError as exc:
            return error(422, str(exc))
        args = self._cli_args(
            {
                "flows_dir": str(self.project.flows_dir.absolute()),
                "tasks_dir": str(self.project.tasks_dir.absolute()),
                "output_dir": str(self.project.output_dir.absolute()),
            }
        )
        args += ["run", name, "--params", json.dumps(params)]
        pid = self._spawn(args, self.cwd, f"start-{name}")
        return json_response({"flow": name, "params": params, "pid": pid, "started": True}, 202)

    # ------------------------------------------------------------ runs

    def _run(self, run_id: str) -> Any:
        store = self.source.get()
        return store.get_run_summary(run_id)

    async def api_cancel(self, request: Request) -> Response:
        """Cancel a running run (SIGTERM to its process, on this host)."""
        run_id = request.path_params["run_id"]
        try:
            run = self._run(run_id)
        except StoreError as exc:
            return error(*self.source.run_error(exc, run_id))
        if run.status != "running" or not run.pid:
            return error(409, f"run {run.run_id} is not running (it is {run.status})")
        if run.host != HOST:
            return error(409, f"run {run.run_id} runs on host {run.host}, not here")
        try:
            os.kill(int(run.pid), signal.SIGTERM)
        except ProcessLookupError:
            return error(409, f"run {run.run_id}'s process is gone")
        return json_response({"run_id": run.run_id, "cancelled": True}, 202)

    async def api_resume(self, request: Request) -> Response:
        """Resume a failed, cancelled or interrupted run whose target the store recorded."""
        run_id = request.path_params["run_id"]
        try:
            run = self._run(run_id)
        except StoreError as exc:
            return error(*self.source.run_error(exc, run_id))
        if run.status not in _RESUMABLE:
            return error(409, f"run {run.run_id} is {run.status}: only failed, cancelled or interrupted runs resume")
        kind = run.trigger.get("kind", "python")
        if kind not in _RESUMABLE_KINDS or not run.target:
            return error(
                409,
                f"run {run.run_id} was started from Python: resume it from Python with "
                f"run(resume={run.run_id!r}) on the same workflow",
            )
        detail = run.trigger.get("detail") or {}
        cwd = Path(detail.get("cwd") or self.cwd)
        if not cwd.is_dir():
            return error(409, f"run {run.run_id} ran in {cwd}, which no longer exists")
        args = [*self._cli_args(detail), "run", run.target, "--resume", run.run_id]
        pid = self._spawn(args, cwd, f"resume-{run.run_id}")
        return json_response({"run_id": run.run_id, "target": run.target, "pid": pid, "resumed": True}, 202)

    # ------------------------------------------------------------ children

    def _cli_args(self, where: dict[str, Any]) -> list[str]:
        args = [sys.executable, "-m", "ferroflow"]
        for option, key in (("--flows-dir", "flows_dir"), ("--tasks-dir", "tasks_dir"), ("--output-dir", "output_dir")):
            if where.get(key):
                args += [option, str(where[key])]
        if self.source.path is not None:
            args += ["--home", str(self.source.path)]
        return args

    def _spawn(self, args: list[str], cwd: Path, label: str) -> int:
        log_dir = (self.source.path.parent if self.source.path is not None else self.cwd) / "dashboard-runs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{label}.log"
        env = {**os.environ, "FERROFLOW_TRIGGER": "dashboard"}
        with log_path.open("ab") as log:
            proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        self.children = [c for c in self.children if c.poll() is None]
        self.children.append(proc)
        # Reaped by a thread of its own: the run goes on if the dashboard stops, and leaves no zombie.
        threading.Thread(target=proc.wait, name=f"ferroflow-child-{proc.pid}", daemon=True).start()
        return proc.pid

    def alive(self) -> list[int]:
        """Pids of the runs this dashboard started that still run."""
        return [c.pid for c in self.children if c.poll() is None and process_alive(c.pid)]

    def endpoints(self) -> list[tuple[str, str, Any]]:
        """``(method, path, endpoint)`` of the action routes."""
        return [
            ("GET", "/api/flows", self.api_flows),
            ("POST", "/api/flows/{name}/start", self.api_start),
            ("POST", "/api/runs/{run_id}/cancel", self.api_cancel),
            ("POST", "/api/runs/{run_id}/resume", self.api_resume),
        ]
