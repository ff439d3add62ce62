"""Dashboard fixtures: a real watch app, a real store, a real uvicorn server on a free port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from ferroflow.dashboard import DashboardServer, serve_dashboard
from ferroflow.store import Store, open_store
from ferroflow.watch import WatchApp, on_created


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    server: DashboardServer
    app: WatchApp
    store: Store
    inbox: Path
    url: str

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)  # type: ignore[arg-type]


def _serve(tmp_path: Path, token: str | None) -> Iterator[Served]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    app = WatchApp(debounce=0.05)
    on_created(inbox, app=app)(lambda e: None)
    store = open_store(tmp_path / "store")
    assert store is not None
    app.start()
    server = serve_dashboard(app, port=free_port(), store=store, token=token)
    try:
        yield Served(server, app, store, inbox, server.url.rstrip("/"))
    finally:
        server.stop()
        app.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path, None)


@pytest.fixture
def served_token(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path, "s3cret-token")
