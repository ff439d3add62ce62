"""A param value never becomes shell code, whatever quoting surrounds its placeholder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from ferroflow import load_flow
from ferroflow.flowfiles.scripts import fill_shell_placeholders

from tests.conftest import ferroflow

#: Each breaks out of one quoting context if pasted into the line.
HOSTILE = [
    "x; touch {victim}",
    "x' ; touch {victim} ; echo '",
    'x" ; touch {victim} ; echo "',
    "$(touch {victim})",
    "`touch {victim}`",
    "x\ntouch {victim}",
    "x\\",
    "' \" $(touch {victim}) `touch {victim}` \\",
]

#: Command templates, each placing the placeholder in another context; ``out`` gets what echo printed.
TEMPLATES = {
    "bare": "printf %s {p} > out",
    "single quotes": "printf %s 'pre {p} post' > out",
    "double quotes": 'printf %s "pre {p} post" > out',
    "command substitution": 'printf %s "$(printf %s {p})" > out',
    "backquotes": "printf %s `printf %s {p}` > out",
    "escaped": "printf %s \\{p} > out",
    "after a comment": "printf %s {p} > out # it's a comment\nprintf %s {p} >> out",
}

EXPECTED = {
    "bare": "{v}",
    "single quotes": "pre {v} post",
    "double quotes": "pre {v} post",
    "command substitution": "{v}",
    "backquotes": None,  # word-split by backquotes: only checked for no injection
    "escaped": "{v}",
    "after a comment": "{v}{v}",
}


def _run_flow(folder: Path, task: dict[str, object], params: dict[str, object]) -> None:
    flow = folder / "flow.json"
    flow.write_text(json.dumps({"name": "f", "tasks": [{"id": "t", "shell": True, "workdir": str(folder), **task}]}))
    result = load_flow(flow, output_dir=folder / "output").run(params=params, raise_on_failure=False)
    assert result.ok, result


@pytest.mark.parametrize("context", sorted(TEMPLATES))
@pytest.mark.parametrize("hostile", range(len(HOSTILE)))
def test_no_quoting_context_turns_a_value_into_code(tmp_path: Path, context: str, hostile: int) -> None:
    victim = tmp_path / "victim"
    value = HOSTILE[hostile].format(victim=victim)
    _run_flow(tmp_path, {"command": TEMPLATES[context]}, {"p": value})
    assert not victim.exists(), f"{context}: the value ran as code"
    expected = EXPECTED[context]
    if expected is not None:
        assert (tmp_path / "out").read_text() == expected.format(v=value)


def test_list_command_with_shell_keeps_each_word_one_argument(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    value = f"x; touch {victim}"
    _run_flow(tmp_path, {"command": ["printf", "%s|", "hello", "{p}", "a {p} b"]}, {"p": value})
    _run_flow(
        tmp_path, {"command": ["sh", "-c", 'printf "%s|" "$@" > out', "sh", "hello", "{p}", "'{p}'"]}, {"p": value}
    )
    assert not victim.exists()
    assert (tmp_path / "out").read_text() == f"hello|{value}|'{value}'|"


def test_args_env_and_workdir_carry_values_as_text(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    value = f"$(touch {victim}); `touch {victim}`"
    (tmp_path / "sub").mkdir()
    sub = tmp_path / "sub" / value.replace("/", "_")
    sub.mkdir()
    task = {
        "command": 'printf "%s|%s|" "$MODE" "$(basename "$PWD")" > ../../out; printf "%s|" "$@" >> ../../out; true',
        "env": {"MODE": "m {p}"},
        "args": ["{p}", "--flag={p}"],
        "workdir": str(tmp_path / "sub" / "{d}"),
    }
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"name": "f", "tasks": [{"id": "t", "shell": True, **task}]}))
    # sh -c LINE ARGS: the args are appended to the line, each quoted; printf "$@" sees none of them
    # (no positional params), so the line echoes them itself through the env and workdir.
    result = load_flow(flow, output_dir=tmp_path / "output").run(
        params={"p": value, "d": sub.name}, raise_on_failure=False
    )
    assert result.ok, result
    assert not victim.exists()
    assert (tmp_path / "out").read_text().startswith(f"m {value}|{sub.name}|")


def test_cli_reported_exploit_no_longer_deletes(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "g.json").write_text(
        json.dumps({"tasks": [{"id": "g", "command": ["echo", "hello", "{name}"], "shell": True}]})
    )
    done = ferroflow("run", "g", "--params", json.dumps({"name": f"x; rm -rf {victim}"}), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert victim.is_dir()
    log = next((tmp_path / "ferroflow_output" / "logs").rglob("g.stdout.log"))
    assert log.read_text() == f"hello x; rm -rf {victim}\n"


def test_dry_run_script_keeps_values_as_text(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    flow = tmp_path / "flow.json"
    flow.write_text(
        json.dumps(
            {
                "name": "f",
                "tasks": [{"id": "t", "shell": True, "command": "printf %s '{p}' > " + str(tmp_path / "out")}],
            }
        )
    )
    value = f"'; touch {victim}; '"
    dry = load_flow(flow, output_dir=tmp_path / "output").dry_run({"p": value})
    subprocess.run(["bash", str(dry.script_path)], check=True, cwd=tmp_path, timeout=60)
    assert not victim.exists()
    assert (tmp_path / "out").read_text() == value


def test_fill_shell_placeholders_pastes_no_value() -> None:
    line, env = fill_shell_placeholders("a {x} '{x}' \"{x}\" {{x}}", {"x": "; rm -rf /"})
    assert "rm" not in line
    assert env == {"FERROFLOW_VALUE_x": "; rm -rf /"}
    assert line.endswith("{x}")
