"""The dashboard as a FastAPI router mounted under a prefix, served by the host app's uvicorn."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from ferroflow import create_dashboard_routes
from ferroflow.watch import WatchApp, on_created

from ..conftest import wait_until
from .conftest import free_port


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[tuple[str, WatchApp, Path]]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    watch = WatchApp(debounce=0.05)
    on_created(inbox, app=watch)(lambda e: None)
    host = FastAPI()
    host.include_router(create_dashboard_routes(watch, store=tmp_path / "s", token="tok"), prefix="/flow")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(host, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10)
    watch.start()
    try:
        yield f"http://127.0.0.1:{port}", watch, inbox
    finally:
        watch.stop()
        server.should_exit = True
        thread.join(10)


def test_every_link_and_stream_works_under_the_prefix(mounted: tuple[str, WatchApp, Path]) -> None:
    url, _, inbox = mounted
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/flow/health").json()["status"] == "healthy"
        assert c.get("/flow/api/state").status_code == 401  # the token still applies
        first = c.get("/flow/?token=tok")
        assert first.status_code == 303 and first.headers["location"] == "/flow/"
        page = c.get("/flow/")
        assert 'href="/flow/static/dashboard.css"' in page.text and 'data-base="/flow"' in page.text
        assert c.get("/flow/static/dashboard.js").status_code == 200
        (inbox / "a.txt").write_text("x")
        wait_until(lambda: c.get("/flow/api/events").json()["events"], timeout=15)
        with c.stream("GET", "/flow/api/events/stream", headers={"Last-Event-ID": "0"}) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("data:"):
                    assert '"a.txt"' in line or "a.txt" in line
                    break
        assert c.get("/flow/api/state", headers={"Host": "evil.example"}).status_code == 400
