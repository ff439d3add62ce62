"""Every security rule of the dashboard, against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ferroflow import FerroflowError
from ferroflow.dashboard import serve_dashboard
from ferroflow.dashboard.security import COOKIE, Guard
from ferroflow.watch import WatchApp

from .conftest import Served, free_port


def test_the_default_bind_is_loopback(served: Served) -> None:
    assert served.server.host == "127.0.0.1"


def test_a_non_loopback_bind_without_a_token_raises_saying_a_token_is_needed(tmp_path: Path) -> None:
    with pytest.raises(FerroflowError, match="token is needed"):
        serve_dashboard(WatchApp(), host="0.0.0.0", port=free_port(), store=tmp_path / "s")


def test_the_cli_exits_2_on_a_non_loopback_bind_without_a_token(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ferroflow", "dashboard", "--host", "0.0.0.0", "--port", str(free_port())],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FERROFLOW_HOME": str(tmp_path)},
    )
    assert proc.returncode == 2
    assert "token is needed" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_the_cli_exits_2_naming_a_port_in_use(tmp_path: Path, served: Served) -> None:
    port = served.server.port
    proc = subprocess.run(
        [sys.executable, "-m", "ferroflow", "dashboard", "--port", str(port)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FERROFLOW_HOME": str(tmp_path)},
    )
    assert proc.returncode == 2 and str(port) in proc.stderr + proc.stdout


def test_without_the_token_the_api_and_pages_refuse(served_token: Served) -> None:
    with served_token.client() as c:
        assert c.get("/api/state").status_code == 401
        assert c.get("/").status_code == 401
        assert c.get("/api/state", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_scripts_send_a_bearer_token(served_token: Served) -> None:
    with served_token.client() as c:
        assert c.get("/api/state", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


def test_a_browser_trades_the_query_token_for_a_strict_httponly_cookie(served_token: Served) -> None:
    with served_token.client() as c:
        first = c.get("/?token=s3cret-token")
        assert first.status_code == 303
        assert first.headers["location"] == "/"  # the token is dropped from the URL
        cookie = first.headers["set-cookie"].lower()
        assert COOKIE in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/api/state").status_code == 200  # the cookie from now on
        assert c.get("/?token=wrong").status_code == 200  # the cookie still counts
    with served_token.client() as fresh:
        assert fresh.get("/?token=wrong").status_code == 401


def test_tokens_are_compared_in_constant_time() -> None:
    import inspect

    source = inspect.getsource(Guard._token_ok)
    assert "compare_digest" in source
    g = Guard(token="abc")
    assert g._token_ok("abc") and not g._token_ok("abd") and not g._token_ok("") and not g._token_ok(None)


def test_a_foreign_host_header_is_refused(served: Served) -> None:
    with served.client() as c:
        r = c.get("/api/state", headers={"Host": "evil.example:8765"})
        assert r.status_code == 400 and "Host" in r.json()["error"]
        assert c.get("/health", headers={"Host": "evil.example"}).status_code == 400


def test_state_changing_requests_check_the_origin(served: Served) -> None:
    from ferroflow.scheduling.table import add_schedule

    s = add_schedule(served.store, "hello", kind="flow", interval="hourly")
    with served.client() as c:
        assert c.post(f"/api/schedules/{s.id}/disable").status_code == 403
        r = c.post(f"/api/schedules/{s.id}/disable", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "Origin" in r.json()["error"]
        assert c.post(f"/api/schedules/{s.id}/disable", headers={"Origin": served.url}).status_code == 200


def test_every_answer_carries_a_strict_csp_without_inline_script(served: Served) -> None:
    with served.client() as c:
        for path in ("/", "/health", "/api/state", "/static/dashboard.js"):
            csp = c.get(path).headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        page = c.get("/").text
    assert "<script>" not in page and "onclick" not in page


def _preview(served: Served, path: str) -> tuple[int, dict[str, object]]:
    with served.client() as c:
        r = c.get("/api/file", params={"path": path})
    return r.status_code, r.json()


def test_preview_serves_a_file_under_a_root_highlighted(served: Served) -> None:
    f = served.inbox / "x.py"
    f.write_text("def f():\n    return '<b>'\n")
    code, body = _preview(served, str(f))
    assert code == 200 and body["language"] == "Python" and body["truncated"] is False
    assert "&lt;b&gt;" in str(body["html"]) and "<b>" not in str(body["html"])
    assert set(body) == {"path", "size", "truncated", "language", "html"}


def test_preview_caps_a_large_file(served: Served) -> None:
    f = served.inbox / "big.txt"
    f.write_text("line\n" * 200_000)
    code, body = _preview(served, str(f))
    assert code == 200 and body["truncated"] is True and body["size"] == 1_000_000


def test_preview_refusals_say_which_rule(served: Served, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (served.inbox / "link.txt").symlink_to(outside)
    (served.inbox / "bin.dat").write_bytes(b"\x00\x01\x02binary")
    cases = {
        str(served.inbox / ".." / "secret.txt"): "..",
        str(served.inbox) + "/%2e%2e/secret.txt": "encoded",
        str(served.inbox / "a\x00b"): "NUL",
        str(outside): "not under a watched root",
        str(served.inbox / "link.txt"): "symlink",
        str(served.inbox / "bin.dat"): "binary",
        str(served.inbox / "missing.txt"): "no such file",
    }
    for path, rule in cases.items():
        code, body = _preview(served, path)
        assert 400 <= code < 500, path
        assert rule in str(body["error"]), (path, body)


def test_the_sse_client_cap_is_enforced(served: Served) -> None:
    dash = served.server.web.state.dashboard
    dash.sse_clients = 10_000
    try:
        with served.client() as c:
            assert c.get("/api/events/stream").status_code == 503
    finally:
        dash.sse_clients = 0


def test_shutdown_is_not_held_up_by_open_streams(tmp_path: Path) -> None:
    import threading
    import time

    import httpx

    server = serve_dashboard(WatchApp(), port=free_port(), store=tmp_path / "s")
    opened = threading.Event()

    def hold() -> None:
        try:
            with httpx.Client(timeout=30) as c, c.stream("GET", server.url + "api/events/stream") as r:
                opened.set()
                for _ in r.iter_lines():
                    pass
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=hold, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    assert opened.wait(10)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5 and not server.thread.is_alive()
