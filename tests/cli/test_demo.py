"""``ferroflow demo`` finishes on its own, without a TTY, and leaves a usable project."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.cli.conftest import Invoker, ferroflow


def test_demo_runs_end_to_end_as_a_real_process(tmp_path: Path) -> None:
    started = time.monotonic()
    done = ferroflow("demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - started < 60
    out = done.stdout
    for text in (
        "[5/5] summary completed",
        "slow_total completed (cached)",
        "squares completed in",
        "after 2 attempts",
        "processed/batch3.txt: 6 data rows",
        "run history",
        "the web dashboard over these runs",
        "it lists 3 runs; the flow run's graph has 5 tasks in 3 layers",
        "try next",
        "\n  cd ",
    ):
        assert text in out, text
    assert "\x1b[" not in out
    project = tmp_path / "demo"
    assert (project / "ferroflow_output" / "summary.txt").read_text().startswith("etl summary (demo): 17 words")
    listed = ferroflow("list", cwd=project)
    assert listed.returncode == 0 and "etl" in listed.stdout


def test_demo_through_the_runner_twice_in_one_folder(tmp_path: Path, invoke: Invoker) -> None:
    for _ in range(2):
        result = invoke("demo", "--dir", str(tmp_path / "d"))
        assert "done in" in result.stdout and "events: 3, handler calls: 3" in result.stdout  # type: ignore[attr-defined]


def test_demo_never_overwrites_a_users_files(tmp_path: Path, invoke: Invoker) -> None:
    (tmp_path / "pipeline.py").write_text("# my own pipeline\n")
    result = invoke("demo", "--dir", str(tmp_path), code=2)
    assert "already holds pipeline.py" in result.stderr  # type: ignore[attr-defined]
    assert (tmp_path / "pipeline.py").read_text() == "# my own pipeline\n"
    assert not (tmp_path / "flows").exists()  # nothing written half-way


def test_demo_records_its_runs_in_the_home_it_is_given(tmp_path: Path, invoke: Invoker) -> None:
    from ferroflow.store.store import open_store

    home = tmp_path / "home"
    invoke("--home", str(home), "demo", "--dir", str(tmp_path / "d"))
    store = open_store(home)
    assert store is not None
    workflows = {run.workflow for run in store.list_runs()}
    assert {"etl", "numbers"} <= workflows, workflows
    assert not (tmp_path / "d" / ".ferroflow" / "ferroflow.db").exists()


def test_demo_serve_keeps_the_dashboard_until_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "demo", "--dir", str(tmp_path / "demo"), "--serve"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while not any("serving until Ctrl+C" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        url = re.search(r"(http://127\.0\.0\.1:\d+)/ ", "".join(lines))
        assert url is not None, "".join(lines)
        with urllib.request.urlopen(url.group(1) + "/api/runs", timeout=10) as response:
            assert b'"total":3' in response.read().replace(b" ", b"")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
