"""Hostile flow files and params: alias bombs, deep nesting, scripts outside the tasks folder,
params no command can receive. Each is refused with a position or the key at fault."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import pytest
from ferroflow import FerroflowError, FlowFileError, load_flow
from ferroflow.flowfiles.params import parse_params

from tests.conftest import ferroflow


def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, levels + 1):
        refs = ", ".join([f"*a{n - 1}"] * 9)
        lines.append(f"a{n}: &a{n} [{refs}]")
    lines.append("tasks: [{id: t, command: 'true'}]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_quickly_naming_the_line(tmp_path: Path) -> None:
    flow = tmp_path / "bomb.yaml"
    flow.write_text(_alias_bomb(9))
    assert flow.stat().st_size < 1000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(FlowFileError) as info:
        load_flow(flow)
    assert time.monotonic() - started < 5
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200_000
    message = str(info.value)
    assert "alias" in message
    # a5 = 9**6 values is the first to pass the limit: line 6 (after a0..a4).
    assert "bomb.yaml:6:5 (syntax)" in message


def test_yaml_aliases_of_ordinary_size_still_work(tmp_path: Path) -> None:
    flow = tmp_path / "ok.yaml"
    flow.write_text(
        "tasks:\n  - &first {id: t0, command: 'true', retries: 1, retry_delay: 0}\n"
        + "".join(f"  - {{<<: *first, id: t{n}}}\n" for n in range(1, 50))
    )
    assert len(load_flow(flow).flow.spec.tasks) == 50


def test_recursive_yaml_alias_is_refused(tmp_path: Path) -> None:
    flow = tmp_path / "loop.yaml"
    flow.write_text("loop: &l [1, *l]\ntasks: [{id: t, command: 'true'}]\n")
    with pytest.raises(FlowFileError, match=r"loop\.yaml:1:\d+.*contains it"):
        load_flow(flow)


@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (".json", '{"tasks": [{"id": "t", "command": "true"}], "x": ' + "[" * 1500 + "]" * 1500 + "}"),
        (".yaml", "tasks: [{id: t, command: 'true'}]\nx: " + "[" * 1500 + "]" * 1500 + "\n"),
        (".toml", '[[tasks]]\nid = "t"\ncommand = "true"\n[x]\ny = ' + "[" * 1500 + "]" * 1500 + "\n"),
    ],
)
def test_deep_nesting_is_an_error_with_a_position(tmp_path: Path, suffix: str, text: str) -> None:
    flow = tmp_path / f"deep{suffix}"
    flow.write_text(text)
    with pytest.raises(FlowFileError, match=rf"deep\{suffix}:\d+:\d+.*nested deeper than 200 levels"):
        load_flow(flow)
    done = ferroflow("run", str(flow), cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert "nested deeper than 200 levels" in done.stderr + done.stdout


def test_deep_params_file_exits_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"a": ' + "[" * 1500 + "]" * 1500 + "}")
    (tmp_path / "f.json").write_text('{"tasks": [{"id": "t", "command": "true"}]}')
    done = ferroflow("run", "f.json", "--params", "@p.json", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert "nested deeper than 200 levels at line 1 column" in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"n": NaN}', '"n": NaN is not a number JSON allows'),
        ('{"deep": {"x": [1, Infinity]}}', '"deep.x[1]": Infinity is not a number JSON allows'),
        ('{"n": -Infinity}', '"n": -Infinity'),
        ('{"a": 1, "a": 2}', 'the key "a" appears twice'),
        ('{"o": {"k": 1, "k": 1}}', 'the key "k" appears twice'),
        ('{"s": "a\\u0000b"}', '"s" holds a NUL character'),
    ],
)
def test_params_refused_at_the_door(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FerroflowError, match=None) as info:
        parse_params(text)
    assert message in str(info.value)
    (tmp_path / "f.json").write_text('{"tasks": [{"id": "t", "command": "true"}]}')
    done = ferroflow("run", "f.json", "--params", text, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr + done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "ferroflow_output").exists()


def test_json_values_arrive_as_json(tmp_path: Path) -> None:
    flow = tmp_path / "f.json"
    out = tmp_path / "out"
    flow.write_text(
        json.dumps(
            {
                "tasks": [
                    {
                        "id": "t",
                        "command": [
                            "python",
                            "-c",
                            "import sys; open(sys.argv[1], 'w').write('|'.join(sys.argv[2:]))",
                            str(out),
                            "{a}",
                            "{b}",
                            "{c}",
                            "{d}",
                            "{e}",
                        ],
                    }
                ]
            }
        )
    )
    params = parse_params('{"a": null, "b": {"k": [1, "x"]}, "c": [true, null], "d": false, "e": 1.5}')
    assert load_flow(flow).run(params=params).ok
    assert out.read_text() == 'null|{"k": [1, "x"]}|[true, null]|false|1.5'


def test_python_params_checked_too(tmp_path: Path) -> None:
    flow = tmp_path / "f.json"
    flow.write_text('{"tasks": [{"id": "t", "command": ["echo", "{p}"]}]}')
    with pytest.raises(FerroflowError, match='"p" holds a NUL character'):
        load_flow(flow).run(params={"p": "a\x00b"})
    with pytest.raises(FerroflowError, match='"p": NaN'):
        load_flow(flow).run(params={"p": float("nan")})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "ok.sh").write_text("#!/bin/sh\necho ok\n")
    (tmp_path / "tasks" / "ok.sh").chmod(0o755)
    (tmp_path / "outside.sh").write_text("#!/bin/sh\necho outside > ran\n")
    (tmp_path / "outside.sh").chmod(0o755)
    os.symlink(tmp_path / "outside.sh", tmp_path / "tasks" / "link.sh")
    (tmp_path / "flows").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "script", ["../../../../bin/echo", "/bin/echo", "../outside.sh", "link.sh", "sub/../../outside.sh"]
)
def test_scripts_outside_the_tasks_folder_are_refused(project: Path, script: str) -> None:
    flow = project / "flows" / "esc.json"
    flow.write_text(json.dumps({"tasks": [{"id": "t", "script": script}]}))
    with pytest.raises(
        FlowFileError,
        match=r'esc\.json:1:\d+ tasks\[0\]\.script \(task "t"\): .*outside the tasks folder.*"allow_outside_tasks_dir": true',
    ):
        load_flow(flow, tasks_dir=project / "tasks")
    done = ferroflow("run", "esc", cwd=project)
    assert done.returncode == 2
    assert "allow_outside_tasks_dir" in done.stderr + done.stdout
    assert not (project / "ran").exists()


def test_scripts_outside_run_when_the_task_opts_in(project: Path) -> None:
    flow = project / "flows" / "esc.json"
    flow.write_text(
        json.dumps(
            {
                "tasks": [
                    {"id": "t", "script": "../outside.sh", "allow_outside_tasks_dir": True, "workdir": str(project)}
                ]
            }
        )
    )
    done = ferroflow("run", "esc", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project / "ran").read_text() == "outside\n"


def test_scripts_inside_the_tasks_folder_still_run(project: Path) -> None:
    (project / "tasks" / "sub").mkdir()
    (project / "tasks" / "sub" / "in.sh").write_text("#!/bin/sh\necho in\n")
    (project / "tasks" / "sub" / "in.sh").chmod(0o755)
    flow = project / "flows" / "in.json"
    flow.write_text(json.dumps({"tasks": [{"id": "a", "script": "ok.sh"}, {"id": "b", "script": "sub/../sub/in.sh"}]}))
    assert load_flow(flow, tasks_dir=project / "tasks").run().ok
