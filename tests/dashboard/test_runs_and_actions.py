"""The run endpoints (a run's graph, a task's attempts) and the actions (start, resume, cancel)
through httpx against a real uvicorn server, with runs made by real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from ferroflow import Task, Workflow
from ferroflow.store import Store

from ..conftest import ferroflow, wait_until
from .conftest import Served


def _flaky_run(store: Store) -> str:
    calls = {"n": 0}

    def flaky() -> int:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError(f"try {calls['n']}: <i>refused</i>")
        print("third time lucky")
        return 7

    def double(flaky: int) -> int:
        return flaky * 2

    wf = Workflow("flaky")
    wf.add_task(Task(fn=flaky, name="flaky", retries=2, delay=0.01))
    wf.add_task(Task(fn=double, name="double"))
    return wf.run(store=store).run_id


def test_a_task_shows_every_failed_attempt_with_its_traceback_and_its_logs(served: Served) -> None:
    run_id = _flaky_run(served.store)
    with served.client() as c:
        task = c.get(f"/api/runs/{run_id}/tasks/flaky").json()
        assert task["status"] == "completed" and task["attempts"] == 3
        errors = [a["error"] for a in task["failed_attempts"]]
        assert errors == ["ConnectionError: try 1: <i>refused</i>", "ConnectionError: try 2: <i>refused</i>"]
        assert all("Traceback" in a["traceback"] and "flaky" in a["traceback"] for a in task["failed_attempts"])
        assert all(a["started_at"] <= a["finished_at"] for a in task["failed_attempts"])
        assert "stdout: third time lucky" in task["logs"]
        assert c.get(f"/api/runs/{run_id}/tasks/nope").status_code == 404
        light = c.get(f"/api/runs/{run_id}", params={"light": "1"}).json()
        assert "logs" not in light["tasks"][0] and light["tasks"][0]["log_lines"] == 1
        assert light["upstreams"] == {"double": ["flaky"]}
        assert light["run"]["trigger"]["kind"] == "python"


def test_the_graph_is_laid_out_by_layers_and_big_layers_collapse_with_their_counts(served: Served) -> None:
    wf = Workflow("grid")
    for layer in range(30):
        for k in range(100):
            ups = [f"t{layer - 1}_{(k + d) % 100}" for d in (0, 1)] if layer else []
            wf.add_task(Task(fn=lambda *a: None, name=f"t{layer}_{k}"), depends_on=ups)
    run_id = wf.run(store=served.store).run_id
    with served.client() as c:
        g = c.get(f"/api/runs/{run_id}/graph").json()
    assert g["total"] == 3000 and len(g["layers"]) == 30
    drawn = sum(len(layer) for layer in g["layers"])
    assert 1000 <= drawn <= 1500
    assert all(n["name"].startswith(f"t{i}_") for i, layer in enumerate(g["layers"]) for n in layer)
    assert sum(c["count"] for c in g["collapsed"]) == 3000 - drawn
    assert all(c["by_status"] == {"completed": c["count"]} for c in g["collapsed"])
    names = {n["name"] for layer in g["layers"] for n in layer}
    assert g["edges"] and all(a in names and b in names for a, b in g["edges"])
    with served.client() as c:
        first = g["collapsed"][0]
        hidden = c.get(f"/api/runs/{run_id}/graph/layers/{first['layer']}", params={"limit": 7}).json()
        rest = c.get(f"/api/runs/{run_id}/graph/layers/{first['layer']}", params={"offset": 7, "limit": 1000}).json()
        assert hidden["total"] == rest["total"] == first["count"] and len(hidden["tasks"]) == 7
        listed = [t["name"] for t in hidden["tasks"] + rest["tasks"]]
        layer_names = {f"t{first['layer']}_{k}" for k in range(100)}
        drawn_here = {n["name"] for n in g["layers"][first["layer"]]}
        assert set(listed) == layer_names - drawn_here and len(listed) == first["count"]
        assert all(t["status"] == "completed" for t in hidden["tasks"])
        assert c.get(f"/api/runs/{run_id}/graph/layers/30").status_code == 404
        bad = c.get(f"/api/runs/{run_id}/graph/layers/x")
        assert bad.status_code == 400 and bad.json()["parameter"] == "layer"


def test_a_run_changed_by_another_process_is_read_again_and_its_report_comes_on_its_own(
    served: Served, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, time
            from ferroflow import Task, Workflow
            from ferroflow.store import open_store

            def wait() -> str:
                while not os.path.exists({str(gate)!r}):
                    time.sleep(0.02)
                return "opened"

            wf = Workflow("gated")
            wf.add_task(Task(fn=wait, name="wait"))
            wf.add_task(Task(fn=lambda wait: wait.upper(), name="after"))
            wf.run(store=open_store({str(served.store.path)!r}))
            """
        )
    )
    child = subprocess.Popen([sys.executable, str(script)])
    try:
        with served.client() as c:
            seen: list[str] = []

            def running() -> bool:
                runs = c.get("/api/runs").json()["runs"]
                seen.extend(r["run_id"] for r in runs if r["status"] == "running")
                return bool(seen)

            wait_until(running, timeout=60)
            run_id = seen[0]
            wait_until(lambda: c.get(f"/api/runs/{run_id}?light=1").json()["tasks"][0]["status"] == "running", 60)
            light = c.get(f"/api/runs/{run_id}", params={"light": "1"}).json()
            assert "report" not in light and [t["status"] for t in light["tasks"]] == ["running", "pending"]
            assert {"name": "after", "status": "pending"} in c.get(f"/api/runs/{run_id}/graph").json()["layers"][1]
            gate.write_text("")
            wait_until(lambda: c.get(f"/api/runs/{run_id}?light=1").json()["run"]["status"] == "completed", 60)
            light = c.get(f"/api/runs/{run_id}", params={"light": "1"}).json()
            assert [t["status"] for t in light["tasks"]] == ["completed", "completed"]
            assert [n["status"] for layer in c.get(f"/api/runs/{run_id}/graph").json()["layers"] for n in layer] == [
                "completed",
                "completed",
            ]
            report = c.get(f"/api/runs/{run_id}/report").json()
            assert report["run_id"] == run_id and report["report"]["status"] == "SUCCESS"
            assert c.get(f"/api/runs/{run_id}").json()["report"] == report["report"]
            assert c.get("/api/runs/nope/report").status_code == 404
    finally:
        gate.write_text("")
        child.wait(timeout=60)


def test_runs_filter_by_date_and_a_bad_date_is_a_400_naming_it(served: Served) -> None:
    _flaky_run(served.store)
    with served.client() as c:
        assert c.get("/api/runs", params={"since": "2000-01-01"}).json()["total"] == 1
        assert c.get("/api/runs", params={"until": "2000-01-01"}).json()["total"] == 0
        r = c.get("/api/runs", params={"since": "yesterday-ish"})
        assert r.status_code == 400 and r.json()["parameter"] == "since" and "since" in r.json()["error"]


def _flow(folder: Path) -> None:
    (folder / "flows").mkdir(exist_ok=True)
    (folder / "tasks").mkdir(exist_ok=True)
    (folder / "tasks" / "gate.py").write_text(
        "import os, sys\nif not os.path.exists(sys.argv[1]):\n    sys.exit('the gate is closed')\nprint('passed')\n"
    )
    (folder / "flows" / "hello.json").write_text(
        json.dumps(
            {
                "name": "hello",
                "params": {"count": 1, "gate": "gate-file"},
                "tasks": [
                    {"id": "greet", "command": ["echo", "hello {count}"]},
                    {"id": "gate", "script": "gate.py", "args": ["{gate}"], "depends_on": ["greet"]},
                ],
            }
        )
    )


def test_starting_a_flow_checks_its_parameters_and_records_the_run(served: Served, tmp_path: Path) -> None:
    _flow(tmp_path)
    (tmp_path / "gate-file").write_text("open")
    origin = {"Origin": served.url}
    with served.client() as c:
        flows = c.get("/api/flows").json()["flows"]
        assert [(f["name"], f["params"]) for f in flows] == [("hello", {"count": 1, "gate": "gate-file"})]
        bad = c.post("/api/flows/hello/start", json={"params": {"count": "many"}}, headers=origin)
        assert bad.status_code == 422 and "count" in bad.json()["error"]
        unknown = c.post("/api/flows/hello/start", json={"params": {"colour": "red"}}, headers=origin)
        assert unknown.status_code == 422 and "colour" in unknown.json()["error"]
        assert c.post("/api/flows/nope/start", json={}, headers=origin).status_code == 404
        assert c.post("/api/flows/hello/start", json={}).status_code == 403  # no Origin: refused
        assert c.get("/api/runs").json()["total"] == 0  # nothing started
        ok = c.post("/api/flows/hello/start", json={"params": {"count": "3"}}, headers=origin)
        assert ok.status_code == 202 and ok.json()["params"] == {"count": 3}
        wait_until(lambda: [r["status"] for r in c.get("/api/runs").json()["runs"]] == ["completed"], timeout=60)
        run = c.get("/api/runs").json()["runs"][0]
        assert (
            run["trigger"]["kind"] == "dashboard"
            and run["target"] == "hello"
            and run["params"] == {"count": 3, "gate": "gate-file"}
        )


def test_a_failed_cli_run_resumes_from_the_dashboard_and_a_python_run_says_how(served: Served, tmp_path: Path) -> None:
    _flow(tmp_path)
    store = str(served.store.path)
    failed = ferroflow("--home", store, "run", "hello", cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    origin = {"Origin": served.url}
    with served.client() as c:
        first = c.get("/api/runs").json()["runs"][0]
        assert first["status"] == "failed" and first["trigger"]["kind"] == "cli" and first["target"] == "hello"
        (tmp_path / "gate-file").write_text("open now")
        r = c.post(f"/api/runs/{first['run_id']}/resume", headers=origin)
        assert r.status_code == 202, r.text
        wait_until(lambda: c.get("/api/runs").json()["total"] == 2, timeout=30)
        wait_until(lambda: c.get("/api/runs").json()["runs"][0]["status"] == "completed", timeout=60)
        second = c.get("/api/runs").json()["runs"][0]
        assert second["resumed_from"] == first["run_id"] and second["trigger"]["kind"] == "dashboard"
        again = c.post(f"/api/runs/{second['run_id']}/resume", headers=origin)
        assert again.status_code == 409 and "completed" in again.json()["error"]
        py_run = Workflow("py")
        py_run.add_task(Task(fn=lambda: 1 / 0, name="boom"))
        py_id = py_run.run(store=served.store, raise_on_failure=False).run_id
        refused = c.post(f"/api/runs/{py_id}/resume", headers=origin)
        assert refused.status_code == 409 and "from Python" in refused.json()["error"]
        assert c.post("/api/runs/nope/resume", headers=origin).status_code == 404


SLEEPER = textwrap.dedent(
    """
    import sys, time
    from ferroflow import Task, Workflow

    wf = Workflow("sleepy")
    wf.add_task(Task(fn=lambda: time.sleep(60), name="nap"))
    wf.run(store=sys.argv[1], raise_on_failure=False)
    """
)


def test_a_running_run_is_cancelled_from_the_dashboard(served: Served, tmp_path: Path) -> None:
    import subprocess

    script = tmp_path / "sleepy.py"
    script.write_text(SLEEPER)
    proc = subprocess.Popen([sys.executable, str(script), str(served.store.path)])
    try:
        with served.client() as c:
            wait_until(lambda: c.get("/api/runs").json()["total"] == 1, timeout=30)
            run_id = c.get("/api/runs").json()["runs"][0]["run_id"]
            r = c.post(f"/api/runs/{run_id}/cancel", headers={"Origin": served.url})
            assert r.status_code == 202
            proc.wait(30)
            wait_until(lambda: c.get(f"/api/runs/{run_id}").json()["run"]["status"] != "running", timeout=30)
            assert c.get(f"/api/runs/{run_id}").json()["run"]["status"] in ("cancelled", "interrupted")
            again = c.post(f"/api/runs/{run_id}/cancel", headers={"Origin": served.url})
            assert again.status_code == 409
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_a_missing_store_is_said_and_picked_up_once_a_run_creates_it(tmp_path: Path) -> None:
    from ferroflow.dashboard import serve_dashboard
    from ferroflow.watch import WatchApp

    from .conftest import free_port

    path = tmp_path / "later" / "ferroflow.db"
    server = serve_dashboard(WatchApp(store=None), port=free_port(), store=path)
    try:
        with httpx.Client(base_url=server.url.rstrip("/"), timeout=10) as c:
            runs = c.get("/api/runs").json()
            assert runs["runs"] == [] and "no store" in runs["store_error"]
            assert c.get("/").status_code == 200 and c.get("/health").status_code == 200
            assert c.get("/api/runs/abc").status_code == 503
            assert not path.exists()  # the dashboard created nothing
            _flaky_run(Store(path))
            wait_until(lambda: c.get("/api/runs").json()["total"] == 1, timeout=10)
            assert c.get("/api/state").json()["store_error"] is None
    finally:
        server.stop()


def test_a_damaged_store_is_said_and_the_rest_keeps_serving(tmp_path: Path) -> None:
    from ferroflow.dashboard import serve_dashboard
    from ferroflow.watch import WatchApp

    from .conftest import free_port

    path = tmp_path / "ferroflow.db"
    path.write_bytes(b"this is not an SQLite file at all" * 100)
    server = serve_dashboard(WatchApp(store=None), port=free_port(), store=path)
    try:
        with httpx.Client(base_url=server.url.rstrip("/"), timeout=10) as c:
            runs = c.get("/api/runs").json()
            assert runs["runs"] == [] and runs["store_error"]
            assert c.get("/api/schedules").json()["store_error"]
            assert c.get("/").status_code == 200 and c.get("/health").json()["status"] in ("healthy", "idle")
    finally:
        server.stop()
    assert path.read_bytes().startswith(b"this is not an SQLite file")  # untouched
