"""Flow files that say what they do: shell syntax without a shell, tasks named in every
message, and a flow whose declared name differs from its file name (run in real subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ferroflow.errors import FlowFileError
from ferroflow.flowfiles.model import parse_flow_file
from ferroflow.flowfiles.shellops import shell_operator

from tests.conftest import ferroflow


def _flow(folder: Path, name: str, data: dict[str, object]) -> Path:
    flows = folder / "flows"
    flows.mkdir(exist_ok=True)
    path = flows / name
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.mark.parametrize(
    ("command", "operator"),
    [
        ("echo a && echo b", "&&"),
        ("false || echo b", "||"),
        ("cat data.txt | wc -l", "|"),
        ("echo a; echo b", ";"),
        ("echo a > out.txt", ">"),
        ("echo a >> out.txt", ">>"),
        ("sort < in.txt", "<"),
        ("sleep 10 &", "&"),
        ("echo $(date)", "$(...)"),
        ('echo "now: $(date)"', "$(...)"),
        ("echo `date`", "`...`"),
    ],
)
def test_shell_syntax_is_found(command: str, operator: str) -> None:
    assert shell_operator(command) == operator


@pytest.mark.parametrize(
    "command",
    ["grep 'a|b' file.txt", 'echo "a && b"', r"echo a\;b", "echo '$(date)'", "python -m mod --x=1", "echo {date}"],
)
def test_quoted_or_escaped_syntax_is_plain_words(command: str) -> None:
    assert shell_operator(command) is None


def test_cli_refuses_shell_operators_without_shell_naming_the_task(tmp_path: Path) -> None:
    _flow(
        tmp_path,
        "chain.json",
        {
            "tasks": [
                {"id": "both", "command": "echo first && echo second"},
                {"id": "quoted", "command": "grep 'a|b' /dev/null", "depends_on": []},
                {"id": "piped", "command": "echo a | tr a b", "shell": True},
            ]
        },
    )
    proc = ferroflow("run", "chain", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    (problem,) = [line.strip() for line in proc.stderr.splitlines() if "chain.json:" in line]
    assert problem.startswith('flows/chain.json:5:18 tasks[0].command (task "both"): ')
    assert '"&&"' in problem and '"shell": true' in problem
    assert "second" not in proc.stdout  # nothing ran


def test_every_problem_of_an_invalid_task_names_it(tmp_path: Path) -> None:
    path = _flow(
        tmp_path,
        "bad.json",
        {
            "tasks": [
                {"id": "ok", "command": "true"},
                {"id": "neither"},
                {"id": "typo", "command": "true", "retries": -1, "depends_on": ["okk"]},
            ]
        },
    )
    with pytest.raises(FlowFileError) as info:
        parse_flow_file(path)
    problems = info.value.problems
    assert len(problems) == 3
    assert 'tasks[1] (task "neither"): a task needs exactly one of "script" or "command"' in problems[0]
    assert all('(task "typo")' in p for p in problems[1:])
    proc = ferroflow("list", cwd=tmp_path)
    assert proc.returncode == 0
    assert '(task "neither")' in " ".join(proc.stdout.split())


def test_a_flow_runs_by_its_file_name_or_its_declared_name(tmp_path: Path) -> None:
    _flow(tmp_path, "daily.json", {"name": "etl", "tasks": [{"id": "hello", "command": ["echo", "hi"]}]})
    for target in ("daily", "etl"):
        proc = ferroflow("run", target, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "etl: run" in proc.stdout and "completed" in proc.stdout
    listed = ferroflow("--json-logs", "list", cwd=tmp_path)
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["name"], row["declared_name"], row["problem"]) == ("daily", "etl", None)
    table = ferroflow("list", cwd=tmp_path)
    assert "daily (name: etl)" in table.stdout
    runs = ferroflow("--json-logs", "runs", cwd=tmp_path)
    assert [json.loads(line)["workflow"] for line in runs.stdout.splitlines()] == ["etl", "etl"]


def test_a_declared_name_taken_by_another_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    _flow(tmp_path, "daily.json", {"name": "etl", "tasks": [{"id": "a", "command": "true"}]})
    _flow(tmp_path, "etl.json", {"tasks": [{"id": "b", "command": "true"}]})
    listed = ferroflow("--json-logs", "list", cwd=tmp_path)
    rows = {row["name"]: row for row in map(json.loads, listed.stdout.splitlines())}
    for name in ("daily", "etl"):
        assert 'flow "etl" is defined twice' in rows[name]["problem"]
        assert 'flows/daily.json (which declares "name": "etl")' in rows[name]["problem"]
    proc = ferroflow("run", "etl", cwd=tmp_path)
    assert proc.returncode == 2 and 'flow "etl" is defined twice' in proc.stderr
    assert ferroflow("run", "flows/etl.json", cwd=tmp_path).returncode == 0
