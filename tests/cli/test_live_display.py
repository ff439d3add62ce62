"""The live display in a real terminal (tmux): one console for the bar and the log lines, the
failure count, the tasks running now, ISO-8601 times, and the report of a cancelled run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ferroflow, wait_until
from tests.terminal import PYTHON, Terminal, terminal

__all__ = ["terminal"]  # the fixture

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d ")
BAR = re.compile(r" \d+/7 \d+ failed ")  # the bar's line (its bar glyphs depend on colour)

WORKFLOW = """
import pathlib, time
from ferroflow import Workflow, task

wf = Workflow("live")

def gate():
    # Runs until the test creates the file `go`, so the screen can be read mid-run.
    while not pathlib.Path("go").exists():
        time.sleep(0.02)
    return 1

def fine(gate):
    return gate

def broken(gate):
    raise ValueError("bad input")

wf.add_task(task(gate, name="gate"))
for n in range(4):
    wf.add_task(task(fine, name=f"fine{n}"))
wf.add_task(task(broken, name="broken", retries=1, delay=0.05))
wf.add_task(task(lambda broken: broken, name="after"))
"""


def _lines(screen: str) -> list[str]:
    return [line.rstrip() for line in screen.splitlines() if line.strip()]


@pytest.mark.parametrize("colour", ["colour", "NO_COLOR"])
def test_bar_and_log_lines_share_one_console(terminal: Terminal, tmp_path: Path, colour: str) -> None:
    (tmp_path / "wf.py").write_text(WORKFLOW)
    terminal.start([PYTHON, "-m", "ferroflow", "run", "wf.py"], env={"NO_COLOR": "1"} if colour == "NO_COLOR" else {})
    mid = terminal.wait_for(lambda s: "running: gate" in s)
    (bar,) = [line for line in _lines(mid) if BAR.search(line)]
    assert "0/7" in bar and "0 failed" in bar and "running: gate" in bar
    (tmp_path / "go").write_text("")
    assert terminal.wait_exit() == 1
    lines = _lines(terminal.screen())
    # The log lines: whole, each on its own row, with an ISO-8601 time.
    logs = [line for line in lines if ISO.match(line)]
    text = "\n".join(logs)
    assert "WARNING  task 'broken' attempt 1 failed (ValueError: bad input); retry 1/1" in text
    assert "ERROR    task 'broken' failed: ValueError: bad input" in text
    assert "INFO     task 'after' not run (upstream_failed): upstream task 'broken' failed" in text
    assert "completed in" not in text  # the success lines are folded into the bar
    # One bar, last drawn after every log line; no row mixes the bar with a log line.
    bars = [i for i, line in enumerate(lines) if BAR.search(line)]
    assert len(bars) == 1, "\n".join(lines)
    assert all(not ISO.match(line) for line in lines if BAR.search(line) or "━" in line)
    assert bars[0] > max(lines.index(line) for line in logs)
    bar = lines[bars[0]]
    assert "7/7" in bar and "1 failed" in bar and "running" not in bar
    (summary,) = [line for line in lines if line.startswith("live: run ")]
    assert "(5 completed, 1 failed, 1 upstream_failed)" in summary  # the bar's count is the summary's


def test_debug_keeps_the_success_lines(terminal: Terminal, tmp_path: Path) -> None:
    (tmp_path / "wf.py").write_text(WORKFLOW)
    (tmp_path / "go").write_text("")
    terminal.start([PYTHON, "-m", "ferroflow", "--log-level", "DEBUG", "run", "wf.py"])
    assert terminal.wait_exit() == 1
    logs = [line for line in _lines(terminal.screen()) if ISO.match(line)]
    assert sum("SUCCESS  task 'fine" in line and "completed in" in line for line in logs) == 4
    assert any("DEBUG    task 'gate' started" in line for line in logs)


def test_a_python_run_on_a_terminal_shows_the_bar_and_warnings(terminal: Terminal, tmp_path: Path) -> None:
    (tmp_path / "wf.py").write_text(WORKFLOW + "\n(__import__('pathlib').Path('go')).write_text('')\nwf.run()\n")
    terminal.start([PYTHON, "wf.py"])
    assert terminal.wait_exit() == 1  # WorkflowError: the script fails as it would without the display
    lines = _lines(terminal.screen())
    assert any("━" in line and "7/7" in line and "1 failed" in line for line in lines), "\n".join(lines)
    assert any(ISO.match(line) and "WARNING  task 'broken' attempt 1 failed" in line for line in lines)


def test_a_python_run_shows_nothing_when_told_or_configured(terminal: Terminal, tmp_path: Path) -> None:
    (tmp_path / "go").write_text("")
    (tmp_path / "off.py").write_text(WORKFLOW + "\nwf.run(progress=False, raise_on_failure=False)\nprint('END')\n")
    terminal.start([PYTHON, "off.py"])
    assert terminal.wait_exit() == 0
    screen = terminal.screen()
    assert BAR.search(screen) is None and "END" in screen and "broken" not in screen


@pytest.mark.parametrize(
    "setup",
    [
        "logging.basicConfig(format='OWN %(levelname)s %(message)s')",
        (
            "h = logging.StreamHandler(); h.setFormatter(logging.Formatter('OWN %(levelname)s %(message)s'));"
            " logging.getLogger('ferroflow').addHandler(h)"
        ),
    ],
    ids=["root", "ferroflow"],
)
def test_a_python_run_with_logging_configured_is_left_to_it(terminal: Terminal, tmp_path: Path, setup: str) -> None:
    (tmp_path / "go").write_text("")
    (tmp_path / "own.py").write_text(f"import logging\n{setup}\n" + WORKFLOW + "\nwf.run(raise_on_failure=False)\n")
    terminal.start([PYTHON, "own.py"])
    assert terminal.wait_exit() == 0
    screen = terminal.screen()
    assert BAR.search(screen) is None
    assert "OWN ERROR task 'broken' failed: ValueError: bad input" in screen


def test_a_python_run_without_a_terminal_is_quiet(tmp_path: Path) -> None:
    (tmp_path / "go").write_text("")
    (tmp_path / "piped.py").write_text(WORKFLOW + "\nwf.run(raise_on_failure=False)\n")
    proc = subprocess.run(
        [sys.executable, "piped.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0
    assert proc.stdout == "" and "━" not in proc.stderr and "\x1b[" not in proc.stderr


def test_a_cancelled_run_report_is_failed_with_the_reason_and_the_share_finished(tmp_path: Path) -> None:
    (tmp_path / "wf.py").write_text(
        "import pathlib, time\n"
        "from ferroflow import Workflow, task\n"
        "wf = Workflow('cut')\n"
        "def first():\n    return 1\n"
        "def slow(first):\n"
        "    pathlib.Path('started').write_text('')\n"
        "    time.sleep(1.5)\n"
        "def last(slow):\n    return 2\n"
        "wf.add_task(task(first, name='first'))\n"
        "wf.add_task(task(slow, name='slow'))\n"
        "wf.add_task(task(last, name='last'))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "run", "wf.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        wait_until(lambda: (tmp_path / "started").exists(), timeout=60)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    (run,) = [json.loads(line) for line in ferroflow("--json-logs", "runs", cwd=tmp_path).stdout.splitlines()]
    assert run["status"] == "cancelled"
    report = json.loads(ferroflow("--json-logs", "report", "show", run["run_id"], cwd=tmp_path).stdout)["report"]
    assert report["status"] == "FAILED"
    assert report["errors"] == ["cancelled: the run was interrupted"]
    # The engine lets the running `slow` end; `last` never starts: two of the three tasks finished.
    statuses = [step["metadata"]["task_status"] for step in report["steps"]]
    assert statuses == ["completed", "completed", "cancelled"]
    assert report["percent"] == round(200 / 3, 2)
    shown = ferroflow("report", "show", run["run_id"], cwd=tmp_path).stdout
    assert "FAILED 67%" in shown and "cancelled: the run was interrupted" in shown


def test_a_fail_fast_run_report_counts_only_the_tasks_that_finished(tmp_path: Path) -> None:
    (tmp_path / "wf.py").write_text(
        "from ferroflow import Workflow, task\n"
        "wf = Workflow('ff')\n"
        "def bad():\n    raise RuntimeError('no')\n"
        "wf.add_task(task(bad, name='bad'))\n"
        "for n in range(3):\n    wf.add_task(task(lambda bad: bad, name=f'next{n}'))\n"
    )
    proc = ferroflow("--json-logs", "run", "wf.py", "--fail-fast", "--report", "r.json", cwd=tmp_path)
    assert proc.returncode == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "FAILED" and report["percent"] == 25.0
