"""The JSON API and the SSE stream, through httpx against a real uvicorn server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from ferroflow import Task, Workflow
from ferroflow.scheduling.table import add_schedule

from ..conftest import wait_until
from .conftest import Served


def _boom() -> None:
    raise ValueError("<b>bad</b> input")


def _run_failing(served: Served) -> str:
    wf = Workflow("<i>wf</i>")
    wf.add_task(Task(fn=lambda: 1, name="ok"))
    wf.add_task(Task(fn=_boom, name="<script>x</script>"))
    return wf.run(store=served.store, raise_on_failure=False).run_id


def test_health_has_the_documented_shape_and_needs_no_token(served_token: Served) -> None:
    with served_token.client() as c:
        h = c.get("/health")
    assert h.status_code == 200
    body = h.json()
    assert set(body) == {"status", "uptime_seconds", "handlers_count", "roots_count", "events_processed"}
    assert body["status"] == "healthy"
    assert body["handlers_count"] == 1 and body["roots_count"] == 1
    assert "inbox" not in h.text  # no names or paths


def test_health_says_another_word_when_the_watcher_is_stopped(served: Served) -> None:
    served.app.stop()
    with served.client() as c:
        assert c.get("/health").json()["status"] != "healthy"


def test_state_and_events_follow_the_watcher(served: Served) -> None:
    (served.inbox / "a.txt").write_text("hello")
    with served.client() as c:
        wait_until(lambda: c.get("/api/events").json()["events"], timeout=15)
        events = c.get("/api/events").json()["events"]
        state = c.get("/api/state").json()
    assert events[-1]["change"] == "added" and events[-1]["path"].endswith("a.txt")
    assert state["stats"]["by_change"]["added"] >= 1
    assert state["roots"] == [str(served.inbox)]
    assert state["handlers"][0]["events"] == ["added"]


def _read_sse(url: str, headers: dict[str, str], want: int, out: list[dict[str, Any]], ready: threading.Event) -> None:
    with httpx.Client(timeout=20) as c, c.stream("GET", url, headers=headers) as r:
        ready.set()
        for line in r.iter_lines():
            if line.startswith("data:"):
                out.append(json.loads(line[5:]))
                if len([x for x in out if x["type"] == "file"]) >= want:
                    return


def test_sse_sends_one_json_object_per_data_line_and_resumes_with_last_event_id(served: Served) -> None:
    got: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_sse, args=(served.url + "/api/events/stream", {}, 2, got, ready))
    reader.start()
    assert ready.wait(10)
    (served.inbox / "one.txt").write_text("1")
    (served.inbox / "two.txt").write_text("2")
    reader.join(20)
    files = [x for x in got if x["type"] == "file"]
    assert sorted(Path(x["path"]).name for x in files) == ["one.txt", "two.txt"]
    first = files[0]["id"]
    again: list[dict[str, Any]] = []
    ready2 = threading.Event()
    _read_sse(served.url + "/api/events/stream", {"Last-Event-ID": str(first - 1)}, 2, again, ready2)
    assert [x["id"] for x in again if x["type"] == "file"][:2] == [first, files[1]["id"]]


def test_a_client_far_behind_gets_a_skipped_marker(served: Served) -> None:
    dash = served.server.web.state.dashboard
    for i in range(2100):
        dash.feed.publish({"type": "file", "change": "added", "path": f"/x/{i}", "root": "/x", "time": 0})
    got: list[dict[str, Any]] = []
    _read_sse(served.url + "/api/events/stream", {"Last-Event-ID": "0"}, 1, got, threading.Event())
    assert got[0]["type"] == "skipped" and got[0]["count"] >= 100


def test_runs_list_and_run_detail_carry_tasks_tracebacks_and_report(served: Served) -> None:
    run_id = _run_failing(served)
    with served.client() as c:
        runs = c.get("/api/runs").json()
        detail = c.get(f"/api/runs/{run_id}").json()
        failed_only = c.get("/api/runs", params={"status": "failed"}).json()
        other = c.get("/api/runs", params={"workflow": "nope"}).json()
    assert runs["total"] == 1 and runs["runs"][0]["run_id"] == run_id
    assert failed_only["runs"][0]["status"] == "failed" and other["runs"] == []
    tasks = {t["name"]: t for t in detail["tasks"]}
    assert tasks["ok"]["status"] == "completed"
    bad = tasks["<script>x</script>"]
    assert bad["status"] == "failed" and "ValueError" in bad["traceback"] and "<b>bad</b>" in bad["error"]
    assert detail["report"] is not None


def test_the_runs_list_paginates(served: Served) -> None:
    wf = Workflow("many")
    wf.add_task(Task(fn=lambda: 1, name="t"))
    ids = [wf.run(store=served.store).run_id for _ in range(7)]
    with served.client() as c:
        page1 = c.get("/api/runs", params={"limit": 3}).json()
        page3 = c.get("/api/runs", params={"limit": 3, "offset": 6}).json()
    assert page1["total"] == 7 and len(page1["runs"]) == 3
    assert [r["run_id"] for r in page3["runs"]] == [ids[0]]


def test_bad_input_is_answered_with_404_and_400_naming_the_parameter(served: Served) -> None:
    with served.client() as c:
        assert c.get("/api/runs/nope").status_code == 404
        r = c.get("/api/runs", params={"limit": "abc"})
        assert r.status_code == 400 and "limit" in r.json()["error"]
        r = c.get("/api/runs", params={"status": "weird"})
        assert r.status_code == 400 and "status" in r.json()["error"]
        assert c.get("/api/file").status_code == 400
        assert c.post("/api/schedules/zzz/enable", headers={"Origin": served.url}).status_code == 404


def test_schedules_are_listed_and_enabled_or_disabled(served: Served) -> None:
    s = add_schedule(served.store, "hello", kind="flow", interval="hourly")
    with served.client() as c:
        listed = c.get("/api/schedules").json()["schedules"]
        assert listed[0]["id"] == s.id and len(listed[0]["next_fires"]) == 5
        r = c.post(f"/api/schedules/{s.id}/disable", headers={"Origin": served.url})
        assert r.status_code == 200
        assert c.get("/api/schedules").json()["schedules"][0]["enabled"] is False


def test_a_run_recorded_by_another_writer_is_announced_on_the_stream(served: Served) -> None:
    got: list[dict[str, Any]] = []
    ready = threading.Event()

    def read() -> None:
        with httpx.Client(timeout=20) as c, c.stream("GET", served.url + "/api/events/stream") as r:
            ready.set()
            for line in r.iter_lines():
                if line.startswith("data:"):
                    got.append(json.loads(line[5:]))
                    return

    t = threading.Thread(target=read)
    t.start()
    assert ready.wait(10)
    time.sleep(0.3)  # let the follower read its first data_version
    _run_failing(served)
    t.join(20)
    assert got and got[0]["type"] == "store"


def test_pages_render_with_escaped_names(served: Served) -> None:
    run_id = _run_failing(served)
    with served.client() as c:
        page = c.get("/")
        run_page = c.get(f"/runs/{run_id}")
        js = c.get("/static/dashboard.js")
        css = c.get("/static/pygments.css")
    assert page.status_code == 200 and "Live events" in page.text
    assert run_page.status_code == 200 and "<script src=" in run_page.text
    assert js.headers["content-type"].startswith("text/javascript") and css.status_code == 200
    with served.client() as c2:
        html = c2.get("/runs/%3Cimg%20src%3Dx%3E").text
    assert "<img src=x>" not in html and "&lt;img src=x&gt;" in html
