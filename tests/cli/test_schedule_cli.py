"""``ferroflow schedule ...`` through the runner and as a real process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Invoker, ferroflow


def _ids(invoke: Invoker) -> list[dict[str, object]]:
    from ferroflow.cli.app import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["--json-logs", "schedule", "list"])
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_add_list_next_disable_enable_remove(project: Path, invoke: Invoker) -> None:
    out = invoke("schedule", "add", "daily", "--cron", "*/15 * * * *", "--tz", "UTC", "-d", "quarterly").stdout  # type: ignore[attr-defined]
    assert out.startswith("added schedule ") and "next run" in out
    invoke("schedule", "add", "daily", "--interval", "daily", "--at", "06:30", "--tz", "Europe/Berlin", "--disabled")
    invoke("schedule", "add", "flows/daily.json", "--cron", "@hourly", "--params", '{"date": "x"}')
    rows = _ids(invoke)
    assert [r["schedule"] for r in rows] == ["*/15 * * * *", "daily at 06:30", "@hourly"]
    assert rows[1]["enabled"] is False and rows[1]["next_run"] is None
    assert rows[2]["target"] == str((project / "flows" / "daily.json").resolve())
    table = invoke("schedule", "list").stdout  # type: ignore[attr-defined]
    assert "quarterly" in table and "Europe/Berlin" in table

    nxt = invoke("schedule", "next", str(rows[1]["id"]), "--count", "3", "--after", "2024-03-30T12:00").stdout  # type: ignore[attr-defined]
    assert "2024-03-31T06:30:00+02:00" in nxt and "2024-04-02T06:30:00+02:00" in nxt

    assert "disabled schedule" in invoke("schedule", "disable", "daily").stdout  # type: ignore[attr-defined]
    assert not any(r["enabled"] for r in _ids(invoke))  # the file-based one is a "daily" schedule too
    invoke("schedule", "enable", str(rows[0]["id"]))
    assert [r["enabled"] for r in _ids(invoke)] == [True, False, False]
    removed = invoke("schedule", "remove", "daily").stdout  # type: ignore[attr-defined]
    assert removed.count("removed schedule") == 3  # by flow name: the file-based one too
    assert _ids(invoke) == []


def test_schedule_bad_input_exits_2_and_writes_nothing(project: Path, invoke: Invoker) -> None:
    cases = [
        (["--cron", "61 * * * *"], 'bad minute field "61"'),
        (["--cron", "* * *"], "expected 5 fields"),
        (["--interval", "fortnightly"], 'invalid interval "fortnightly"'),
        (["--interval", "daily", "--at", "7pm"], 'invalid --at "7pm"'),
        (["--cron", "@daily", "--tz", "Moon/Base"], 'unknown time zone "Moon/Base"'),
        (["--cron", "@daily", "--interval", "daily"], "exactly one of --cron or --interval"),
        ([], "exactly one of --cron or --interval"),
        (["--cron", "@daily", "--params", "{"], "invalid --params"),
    ]
    for extra, message in cases:
        result = invoke("schedule", "add", "daily", *extra, code=2)
        assert message in result.stderr, (extra, result.stderr)  # type: ignore[attr-defined]
    done = ferroflow("schedule", "add", "daily", "--cron", "61 * * * *", cwd=project)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    unknown = ferroflow("schedule", "add", "nope", "--cron", "@daily", cwd=project)
    assert unknown.returncode == 2 and "flows in flows: broken, daily" in unknown.stderr
    listed = ferroflow("schedule", "list", cwd=project)
    assert "no schedules" in listed.stdout
    missing = ferroflow("schedule", "remove", "zzz", cwd=project)
    assert missing.returncode == 2 and 'no schedule with id or flow "zzz"' in missing.stderr


def test_a_target_that_cannot_run_is_refused_when_scheduled(project: Path, invoke: Invoker) -> None:
    (project / "two.py").write_text("from ferroflow import Workflow\none = Workflow('one')\ntwo = Workflow('two')\n")
    (project / "broken.py").write_text("import no_such_module_here\n")
    (project / "flows" / "hole.json").write_text('{"tasks": [{"id": "a", "command": ["echo", "{missing}"]}]}')
    cases = [
        ("broken", 'unknown task "b"'),  # the invalid flow of the fixture
        ("hole", 'no value for placeholder "{missing}"'),
        ("two.py", "defines several workflows (one, two)"),
        ("broken.py", "cannot import broken.py: ModuleNotFoundError"),
    ]
    for target, message in cases:
        result = invoke("schedule", "add", target, "--cron", "@daily", code=2)
        assert message in result.stderr, (target, result.stderr)  # type: ignore[attr-defined]
    assert _ids(invoke) == []
    invoke("schedule", "add", "hole", "--cron", "@daily", "--params", '{"missing": "now given"}')


def test_python_and_file_targets_are_found_by_the_path_they_were_added_with(project: Path, invoke: Invoker) -> None:
    (project / "two.py").write_text("from ferroflow import Workflow\none = Workflow('one')\ntwo = Workflow('two')\n")
    invoke("schedule", "add", "two.py:one", "--cron", "@daily")
    invoke("schedule", "add", "flows/daily.json", "--cron", "@daily")
    assert "disabled schedule" in invoke("schedule", "disable", "two.py:one").stdout  # type: ignore[attr-defined]
    assert "2024-01-02T00:00:00" in invoke("schedule", "next", "./flows/daily.json", "--after", "2024-01-01").stdout  # type: ignore[attr-defined]
    invoke("schedule", "remove", "two.py:one")
    invoke("schedule", "remove", "flows/daily.json")
    assert _ids(invoke) == []


def test_json_times_are_iso_8601(project: Path, invoke: Invoker) -> None:
    from datetime import datetime

    invoke("schedule", "add", "daily", "--cron", "@hourly", "--tz", "UTC")
    (row,) = _ids(invoke)
    assert datetime.fromisoformat(str(row["next_run"])).tzinfo is not None
    assert "T" in str(row["next_run"]) and row["last_run"] is None
