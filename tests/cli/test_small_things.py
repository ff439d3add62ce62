"""Small things a new user trips over, run as the real ``ferroflow`` command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import ferroflow


@pytest.mark.parametrize("command", [[], ["run"], ["schedule", "add"], ["runs"], ["report", "show"], ["list"]])
def test_flags_show_no_bool_type(command: list[str]) -> None:
    proc = ferroflow(*command, "--help", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert "--help" in proc.stdout
    assert "<bool>" not in proc.stdout


def test_an_install_hint_keeps_its_extra(tmp_path: Path) -> None:
    # PyYAML "not installed": a package of that name that fails to import, first on the path.
    fake = tmp_path / "fake" / "yaml"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'yaml'\", name='yaml')\n")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "daily.yaml").write_text("tasks:\n  - {id: a, command: 'true'}\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")])}
    proc = ferroflow("run", "daily", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert "pip install 'ferroflow[yaml]'" in proc.stderr


def test_bracketed_text_in_an_error_is_printed_as_written(tmp_path: Path) -> None:
    proc = ferroflow("run", "etl[daily]", cwd=tmp_path)
    assert proc.returncode == 2
    assert 'unknown flow or target "etl[daily]"' in proc.stderr


def _two_workflows(folder: Path) -> None:
    for name in ("alpha", "beta"):
        (folder / f"{name}.py").write_text(
            f"from ferroflow import Workflow, task\nwf = Workflow({name!r})\nwf.add_task(task(lambda: 1, name='t'))\n"
        )


def test_runs_name_lists_the_runs_of_that_workflow(tmp_path: Path) -> None:
    _two_workflows(tmp_path)
    for name in ("alpha", "beta", "alpha"):
        assert ferroflow("run", f"{name}.py", cwd=tmp_path).returncode == 0
    proc = ferroflow("--json-logs", "runs", "alpha", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["workflow"] for r in rows] == ["alpha", "alpha"]
    table = ferroflow("runs", "beta", cwd=tmp_path)
    assert table.returncode == 0 and "runs of beta" in table.stdout and "alpha" not in table.stdout
    one = ferroflow("--json-logs", "runs", rows[0]["run_id"], cwd=tmp_path)
    assert json.loads(one.stdout)["tasks"][0]["name"] == "t"  # a run id still shows that run
    missing = ferroflow("runs", "gamma", cwd=tmp_path)
    assert missing.returncode == 2 and "gamma" in missing.stderr


@pytest.mark.parametrize(
    "command",
    [["list"], ["runs"], ["runs", "daily"], ["graph", "flows/daily.json"], ["graph", "wf.py"], ["report", "show", "x"]],
)
def test_read_only_commands_create_no_store(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "daily.json").write_text('{"tasks": [{"id": "a", "command": "true"}]}')
    (tmp_path / "wf.py").write_text(
        "from ferroflow import Workflow, task\nwf = Workflow('w')\nwf.add_task(task(lambda: 1, name='t'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "FERROFLOW_HOME"}
    proc = ferroflow(*command, cwd=tmp_path, env={**env, "FERROFLOW_HOME": ""})
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 2), proc.stderr
    if command[0] == "runs":
        assert proc.returncode == 0 and "no runs recorded yet" in proc.stdout
    assert not (tmp_path / ".ferroflow").exists()
    assert not (tmp_path / "ferroflow-home").exists()


def test_graph_of_a_script_that_runs_at_import_explains_how_to_expose_it(tmp_path: Path) -> None:
    (tmp_path / "etl.py").write_text(
        "from ferroflow import DAG, task\n"
        "import pathlib\n\n"
        "@task\n"
        "def extract():\n"
        "    pathlib.Path('ran').write_text('yes')\n"
        "    return [1, 2]\n\n"
        "@task\n"
        "def total(extract):\n"
        "    return sum(extract)\n\n"
        "extract >> total\n"
        "result = DAG('etl').run()\n"
    )
    proc = ferroflow("graph", "etl.py", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    message = " ".join(proc.stderr.split())
    assert "etl.py runs its workflow when imported" in message and "(at etl.py:14)" in message
    assert 'if __name__ == "__main__":' in message and "module-level variable" in message
    assert not (tmp_path / "ran").exists()  # nothing ran
    fixed = (
        (tmp_path / "etl.py")
        .read_text()
        .replace("result = DAG('etl').run()\n", "dag = DAG('etl')\n\nif __name__ == '__main__':\n    dag.run()\n")
    )
    (tmp_path / "etl.py").write_text(fixed)
    drawn = ferroflow("graph", "etl.py", cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    assert "extract" in drawn.stdout and "total" in drawn.stdout and not (tmp_path / "ran").exists()


def test_a_duplicate_schedule_is_refused_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "daily.json").write_text('{"tasks": [{"id": "a", "command": "true"}]}')
    first = ferroflow("schedule", "add", "daily", "--cron", "0 6 * * *", "--tz", "UTC", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    schedule_id = first.stdout.split()[2].rstrip(":")
    again = ferroflow("schedule", "add", "daily", "--cron", "0  6 * * *", "--tz", "UTC", cwd=tmp_path)
    assert again.returncode == 2
    message = " ".join(again.stderr.split())
    assert f"schedule {schedule_id} already runs daily" in message and "nothing was added" in message
    other_time = ferroflow("schedule", "add", "daily", "--cron", "0 7 * * *", "--tz", "UTC", cwd=tmp_path)
    other_params = ferroflow(
        "schedule", "add", "daily", "--cron", "0 6 * * *", "--tz", "UTC", "-p", '{"x": 1}', cwd=tmp_path
    )
    assert other_time.returncode == 0 and other_params.returncode == 0
    listed = ferroflow("--json-logs", "schedule", "list", cwd=tmp_path)
    assert len(listed.stdout.splitlines()) == 3
