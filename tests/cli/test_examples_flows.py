"""examples/flows + examples/tasks: the README's flow file and CLI lines, run for real."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ferroflow import load_flow

from tests.cli.conftest import ferroflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FOLDERS = ["-f", str(EXAMPLES / "flows"), "-t", str(EXAMPLES / "tasks")]


def test_the_example_flow_runs_from_the_cli(tmp_path: Path) -> None:
    done = ferroflow(*FOLDERS, "run", "daily", "--params", '{"date": "2024-06-01"}', cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = (tmp_path / "ferroflow_output" / "report-2024-06-01.txt").read_text()
    assert report.startswith("2024-06-01: total 150 (fast mode, run ")


def test_the_example_flow_dry_run_script_does_the_same(tmp_path: Path) -> None:
    done = ferroflow(*FOLDERS, "run", "daily", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "ferroflow_output" / "report-today.txt").exists()
    script = tmp_path / "ferroflow_output" / "daily.dry-run.sh"
    ran = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "ferroflow_output" / "report-today.txt").read_text().startswith("today: total 75 (fast mode")


def test_the_example_flow_loads_in_python(tmp_path: Path) -> None:
    workflow = load_flow(EXAMPLES / "flows" / "daily.json", tasks_dir=EXAMPLES / "tasks", output_dir=tmp_path)
    result = workflow.run(store=None, params={"date": "d"})
    assert result["report"]["stdout_tail"].startswith("d: total 15 (fast mode")
