"""The pages in a real headless Chromium (Debian's, driven by Playwright; no browser download)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ..conftest import wait_until
from .conftest import Served

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


def chromium_path() -> str:
    """Debian's chromium: ``$CHROMIUM``, else the first ``chromium`` on PATH, else /usr/bin/chromium."""
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate:
            return candidate
    return "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    errors: list[str] = []
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield p
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_overview_fills_live_and_a_click_shows_the_highlighted_preview(served: Served, page: Page) -> None:
    page.goto(served.url + "/")
    expect(page.locator("#live")).to_have_text("live", timeout=15_000)
    (served.inbox / "report.py").write_text("def hello(name):\n    return f'hi {name}'  # <b>not bold</b>\n")
    evil = "<img src=x onerror=alert(1)>.txt"
    (served.inbox / evil).write_text("plain")
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(2, timeout=15_000)
    expect(page.locator("#events")).to_contain_text(evil)  # markup in a file name shows as text
    assert page.locator("#events img").count() == 0
    expect(page.locator("#n-added")).to_have_text("2", timeout=10_000)
    page.locator("#events tbody tr", has_text="report.py").click()
    expect(page.locator("#preview .hl")).to_be_visible(timeout=10_000)
    assert page.locator("#preview .hl span").count() > 3  # Pygments' tokens
    expect(page.locator("#preview")).to_contain_text("<b>not bold</b>")
    expect(page.locator("#health")).to_have_text("healthy")
    shot(page, "overview")


WORKFLOW = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ferroflow import Task, Workflow

    gate = Path(sys.argv[1])

    def extract():
        while not gate.exists():
            time.sleep(0.05)
        return 1

    def transform(extract):
        return extract + 1

    def load(transform):
        raise RuntimeError("<b>database</b> refused the load")

    wf = Workflow("etl")
    wf.add_task(Task(fn=extract, name="extract"))
    wf.add_task(Task(fn=transform, name="transform"))
    wf.add_task(Task(fn=load, name="load"))
    wf.run(store=sys.argv[2], raise_on_failure=False)
    """
)


def test_a_run_page_follows_a_run_in_another_process_and_shows_the_traceback(
    served: Served, page: Page, tmp_path: Path
) -> None:
    script = tmp_path / "etl.py"
    script.write_text(WORKFLOW)
    gate = tmp_path / "gate"
    proc = subprocess.Popen([sys.executable, str(script), str(gate), str(served.store.path)])
    try:
        with httpx.Client(base_url=served.url, timeout=10) as c:
            wait_until(lambda: c.get("/api/runs").json()["runs"], timeout=30)
            run_id = c.get("/api/runs").json()["runs"][0]["run_id"]
        page.goto(f"{served.url}/runs/{run_id}")
        expect(page.locator("#run-status")).to_have_text("running", timeout=15_000)
        # The whole graph from the start: one task running, two waiting, edges between them.
        expect(page.locator("#dag svg g.node")).to_have_count(3, timeout=15_000)
        expect(page.locator("#dag g.node.running")).to_have_count(1, timeout=15_000)
        expect(page.locator("#dag g.node.pending")).to_have_count(2)
        assert page.locator("#dag .edges path").get_attribute("d").count("M") == 2  # one segment per edge
        expect(page.locator("#run-meta")).to_contain_text("python")
        shot(page, "run-running")
        gate.write_text("go")
        expect(page.locator("#run-status")).to_have_text("failed", timeout=30_000)
        expect(page.locator("#dag g.node.completed")).to_have_count(2, timeout=10_000)
        expect(page.locator("#dag g.node.failed")).to_have_count(1)
        expect(page.locator("#timeline svg rect.bar")).to_have_count(3)
        # The failure's traceback is one click away, and its markup shows as text.
        page.locator("#task-table tbody tr", has_text="load").click()
        expect(page.locator("#detail-body .tb")).to_contain_text("RuntimeError: <b>database</b> refused the load")
        expect(page.locator("#detail-body .tb")).to_contain_text("Traceback")
        assert page.locator("#detail-body b").count() == 0
        expect(page.locator("#resume")).to_be_visible()
        shot(page, "run-failed")
    finally:
        gate.write_text("go")
        proc.wait(30)


def test_schedules_and_flows_page_starts_a_flow_and_refuses_a_bad_parameter(
    served: Served, page: Page, tmp_path: Path
) -> None:
    from ferroflow.scheduling.table import add_schedule

    from .test_runs_and_actions import _flow

    _flow(tmp_path)
    (tmp_path / "gate-file").write_text("open")
    schedule = add_schedule(served.store, "hello", kind="flow", interval="hourly")
    page.goto(served.url + "/schedules")
    row = page.locator("#schedule-table tbody tr").first
    expect(row).to_contain_text(schedule.id)
    expect(row.locator("td.small").first.locator("div")).to_have_count(5)
    row.locator("button", has_text="disable").click()
    expect(row).to_contain_text("disabled")

    form = page.locator('#flows form[data-flow="hello"]')
    form.locator('input[name="count"]').fill("many")
    form.locator("button", has_text="Start").click()
    expect(form.locator(".result.err")).to_contain_text("count")
    with served.client() as c:
        assert c.get("/api/runs").json()["total"] == 0
    form.locator('input[name="count"]').fill("2")
    form.locator("button", has_text="Start").click()
    expect(form.locator(".result.ok")).to_contain_text("started (pid")
    with served.client() as c:
        wait_until(lambda: [r["status"] for r in c.get("/api/runs").json()["runs"]] == ["completed"], timeout=60)
    shot(page, "schedules")

    page.goto(served.url + "/runs")
    first = page.locator("#run-table tbody tr").first
    expect(first).to_contain_text("hello")
    expect(first).to_contain_text("completed")
    expect(first).to_contain_text("dashboard")
    shot(page, "runs")


def test_a_big_run_page_collapses_layers_lists_them_on_a_click_and_pages_the_table(served: Served, page: Page) -> None:
    from ferroflow import Task, Workflow

    wf = Workflow("wide")
    wf.add_task(Task(fn=lambda: 1, name="root"))
    for k in range(2500):
        wf.add_task(Task(fn=lambda root: root, name=f"leaf-{k:04d}"), depends_on=["root"])
    run_id = wf.run(store=served.store).run_id
    page.goto(f"{served.url}/runs/{run_id}")
    expect(page.locator("#dag-info")).to_contain_text("2501 tasks in 2 layers", timeout=30_000)
    drawn = page.locator("#dag g.node:not(.collapsed)").count()
    assert 1000 <= drawn <= 1500
    collapsed = page.locator("#dag g.node.collapsed")
    expect(collapsed).to_have_count(1)
    expect(collapsed.locator("text")).to_have_text(f"+{2501 - drawn} more")
    expect(page.locator("#task-table tbody tr")).to_have_count(500)
    page.locator("#task-more button").click()
    expect(page.locator("#task-table tbody tr")).to_have_count(1000)
    collapsed.click()
    expect(page.locator("#detail-name")).to_have_text("Layer 1")
    expect(page.locator("#detail-body")).to_contain_text(f"{2501 - drawn} tasks of layer 1 are not drawn")
    rows = page.locator("#detail-body tr")
    expect(rows).to_have_count(200)
    first = rows.first.get_attribute("data-task")
    assert first is not None and first.startswith("leaf-")
    rows.first.click()
    expect(page.locator("#detail-name")).to_have_text(first)
    expect(page.locator("#detail-body .status")).to_contain_text("completed")
    shot(page, "run-big")
