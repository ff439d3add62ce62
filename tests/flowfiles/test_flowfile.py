"""Flow files: every field, every validation error with file:line:col, and real runs of script tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ferroflow import FlowFileError, Project, RunResult, TaskStatus, WorkflowError, load_flow
from ferroflow.flowfiles.model import parse_flow_file
from ferroflow.flowfiles.project import DryRun, FlowWorkflow


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems_of(path: Path, tasks_dir: Path | None = None) -> list[str]:
    with pytest.raises(FlowFileError) as info:
        parse_flow_file(path, tasks_dir)
    return info.value.problems


# ---------------------------------------------------------------- parsing, each format


def test_json_yaml_and_toml_describe_the_same_flow(tmp_path: Path) -> None:
    write(tmp_path / "tasks" / "fetch.py", "print('x')\n")
    as_json = write(
        tmp_path / "flows" / "daily.json",
        json.dumps(
            {
                "name": "daily",
                "description": "d",
                "version": "1.0",
                "params": {"date": "today", "n": 3},
                "tasks": [
                    {"id": "fetch", "script": "fetch.py", "args": {"date": "{date}"}},
                    {
                        "id": "report",
                        "command": ["python", "-m", "json.tool", "--help"],
                        "depends_on": ["fetch"],
                        "env": {"MODE": "fast"},
                        "retries": 2,
                        "timeout": 600,
                        "workdir": ".",
                        "description": "the report",
                    },
                ],
            }
        ),
    )
    as_yaml = write(
        tmp_path / "flows" / "daily.yaml",
        """name: daily
description: d
version: 1.0
params: {date: today, n: 3}
tasks:
  - id: fetch
    script: fetch.py
    args: {date: "{date}"}
  - id: report
    command: [python, -m, json.tool, --help]
    depends_on: [fetch]
    env: {MODE: fast}
    retries: 2
    timeout: 600
    workdir: .
    description: the report
""",
    )
    as_toml = write(
        tmp_path / "flows" / "daily.toml",
        """name = "daily"
description = "d"
version = "1.0"
[params]
date = "today"
n = 3
[[tasks]]
id = "fetch"
script = "fetch.py"
args = {date = "{date}"}
[[tasks]]
id = "report"
command = ["python", "-m", "json.tool", "--help"]
depends_on = ["fetch"]
env = {MODE = "fast"}
retries = 2
timeout = 600
workdir = "."
description = "the report"
""",
    )
    specs = [parse_flow_file(p, tmp_path / "tasks") for p in (as_json, as_yaml, as_toml)]
    assert specs[0] == specs[1] == specs[2]
    report = specs[0].task("report")
    assert (report.retries, report.timeout, report.env, report.workdir) == (2, 600, {"MODE": "fast"}, ".")
    assert specs[0].version == "1.0"


def test_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    spec = parse_flow_file(write(tmp_path / "nightly.json", '{"tasks": [{"id": "a", "command": "true"}]}'))
    assert spec.name == "nightly"


# ---------------------------------------------------------------- validation errors


def test_syntax_error_in_json_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "flows" / "bad.json", '{"tasks": [\n  {"id": "a",}\n]}')
    assert problems_of(path) == ["flows/bad.json:2:14 (syntax): Expecting property name enclosed in double quotes"]


def test_syntax_error_in_yaml_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "tasks:\n  - id: a\n    command: [echo\n  - id: b\n")
    (problem,) = problems_of(path)
    assert problem.startswith("bad.yaml:4:") and "(syntax)" in problem


def test_syntax_error_in_toml_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", 'name = "x"\n[[tasks]]\nid = \n')
    (problem,) = problems_of(path)
    assert problem.startswith("bad.toml:3:") and "(syntax)" in problem


def test_unknown_dependency_names_position_and_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path / "flows" / "daily.json",
        '{"tasks": [\n'
        '  {"id": "fetch", "command": "true"},\n'
        '  {"id": "clean", "command": "true"},\n'
        '  {"id": "report", "command": "true",\n'
        '   "depends_on": ["fetc"]}\n'
        "]}",
    )
    assert problems_of(path) == [
        'flows/daily.json:5:19 tasks[2].depends_on[0] (task "report"): unknown task "fetc" (did you mean "fetch"?)'
    ]


def test_duplicate_ids_point_at_the_second_one(tmp_path: Path) -> None:
    path = write(tmp_path / "f.yaml", "tasks:\n  - id: a\n    command: 'true'\n  - id: a\n    command: 'true'\n")
    assert problems_of(path) == ['f.yaml:4:9 tasks[1].id: duplicate task id "a" (first defined on line 2)']


def test_cycle_is_reported_with_its_path(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "tasks:\n"
        "  - {id: a, command: 'true', depends_on: [c]}\n"
        "  - {id: b, command: 'true', depends_on: [a]}\n"
        "  - {id: c, command: 'true', depends_on: [b]}\n",
    )
    (problem,) = problems_of(path)
    assert "cycle:" in problem
    cycle = problem.split("cycle: ")[1].split(" -> ")
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]
    assert problem.startswith("c.yaml:")


def test_self_dependency_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", '{"tasks": [{"id": "a", "command": "true", "depends_on": ["a"]}]}')
    (problem,) = problems_of(path)
    assert 'tasks[0].depends_on[0] (task "a"): cycle' in problem and "a -> a" in problem


def test_missing_script_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path / "tasks" / "fetch.py", "")
    path = write(tmp_path / "flows" / "x.json", '{"tasks": [{"id": "a", "script": "fecth.py"}]}')
    (problem,) = problems_of(path, tmp_path / "tasks")
    assert (
        problem
        == 'flows/x.json:1:34 tasks[0].script (task "a"): script "fecth.py" not found in tasks (did you mean "fetch.py"?)'
    )


def test_non_python_script_must_be_executable(tmp_path: Path) -> None:
    write(tmp_path / "tasks" / "run.sh", "#!/bin/sh\necho hi\n")
    path = write(tmp_path / "flows" / "x.json", '{"tasks": [{"id": "a", "script": "run.sh"}]}')
    (problem,) = problems_of(path, tmp_path / "tasks")
    assert "is not executable" in problem


def test_missing_fields_and_bad_types_are_all_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.json",
        '{"tasks": [\n'
        '  {"command": "true"},\n'
        '  {"id": "b"},\n'
        '  {"id": "c", "command": "true", "script": "x.py"},\n'
        '  {"id": "d", "command": "true", "retries": -1, "timeout": "soon", "depnds_on": []},\n'
        '  {"id": "e", "command": "true", "args": [{"a": 1}], "env": {"A": null}}\n'
        "],\n"
        '"colour": "blue"}',
    )
    problems = problems_of(path)
    text = "\n".join(problems)
    assert 'm.json:2:3 tasks[0]: missing required field "id"' in text
    assert 'm.json:3:3 tasks[1] (task "b"): a task needs exactly one of "script" or "command"' in text
    assert 'm.json:4:3 tasks[2] (task "c"): a task needs exactly one of "script" or "command"' in text
    assert 'm.json:5:45 tasks[3].retries (task "d"): input should be greater than or equal to 0' in text
    assert 'tasks[3].timeout (task "d"): input should be a valid number' in text
    assert 'tasks[3].depnds_on (task "d"): unknown field "depnds_on" (did you mean "depends_on"?)' in text
    assert 'tasks[4].args (task "e"): each argument must be a string, number or boolean, not dict' in text
    assert "tasks[4].env (task \"e\"): env variable 'A' cannot be null" in text
    assert 'm.json:8:1 colour: unknown field "colour"' in text
    # Sorted by position, one per line.
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines)


def test_nan_and_infinity_are_syntax_errors_not_crashes(tmp_path: Path) -> None:
    path = write(tmp_path / "n.json", '{"tasks": [{"id": "a", "command": "true",\n  "timeout": NaN}]}')
    assert problems_of(path) == ["n.json:2:14 (syntax): NaN is not valid JSON: use a number"]
    path = write(tmp_path / "i.json", '{"tasks": [{"id": "a", "command": "true", "retries": -Infinity}]}')
    assert problems_of(path) == ["i.json:1:54 (syntax): -Infinity is not valid JSON: use a number"]


def test_repeated_keys_are_reported_not_silently_dropped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.json", '{"tasks": [{"id": "a", "command": "true"}],\n "tasks": [{"id": "b", "command": "true"}]}'
    )
    assert problems_of(path) == ['d.json:2:2 (syntax): duplicate key "tasks" (first on line 1)']
    path = write(tmp_path / "d.yaml", "tasks:\n  - id: a\n    command: 'true'\n    id: b\n")
    assert problems_of(path) == ['d.yaml:4:5 (syntax): duplicate key "id" (first on line 2)']


def test_a_task_that_is_not_a_mapping_is_named_plainly(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path / "s.yaml", "tasks:\n  - fetch\n"))
    assert problem == 's.yaml:2:5 tasks[0]: a task is a mapping with an "id" and a "script" or "command"'


def test_toml_sub_tables_of_a_task_point_at_their_own_lines(tmp_path: Path) -> None:
    text = '[[tasks]]\nid = "a"\ncommand = "true"\n\n[[tasks]]\nid = "b"\ncommand = "true"\n[tasks.env]\nX = [1]\n'
    (problem,) = problems_of(write(tmp_path / "t.toml", text))
    assert problem.startswith("t.toml:8:1 tasks[1].env (task \"b\"): env variable 'X'")


def test_empty_task_list_and_wrong_top_level(tmp_path: Path) -> None:
    assert "tasks: list should have at least 1 item" in problems_of(write(tmp_path / "e.json", '{"tasks": []}'))[0]
    assert "a flow file holds a mapping" in problems_of(write(tmp_path / "l.json", "[1, 2]"))[0]
    assert 'missing required field "tasks"' in problems_of(write(tmp_path / "n.yaml", "name: x\n"))[0]


def test_bad_ids_and_unsupported_files(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path / "i.json", '{"tasks": [{"id": "a b", "command": "true"}]}'))
    assert "tasks[0].id: 'a b' may only use letters" in problem
    with pytest.raises(FlowFileError, match="not a flow file"):
        parse_flow_file(write(tmp_path / "f.ini", "x"))
    with pytest.raises(FlowFileError, match="no such flow file"):
        parse_flow_file(tmp_path / "absent.json")


def test_shell_needs_a_command(tmp_path: Path) -> None:
    write(tmp_path / "tasks" / "a.py", "")
    path = write(tmp_path / "flows" / "s.json", '{"tasks": [{"id": "a", "script": "a.py", "shell": true}]}')
    (problem,) = problems_of(path, tmp_path / "tasks")
    assert '"shell": true needs a "command"' in problem


def test_flow_file_error_message_lists_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "two.json", '{"tasks": [{"id": "a", "command": "true", "depends_on": ["x", "y"]}]}')
    with pytest.raises(FlowFileError) as info:
        load_flow(path)
    message = str(info.value)
    assert message.startswith("invalid flow file two.json (2 problems):")
    assert 'unknown task "x"' in message and 'unknown task "y"' in message
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------- running


def test_run_passes_args_env_params_and_ferroflow_variables(tmp_path: Path) -> None:
    write(
        tmp_path / "tasks" / "show.py",
        "import json, os, sys\n"
        "keys = ['MODE', 'FERROFLOW_RUN_ID', 'FERROFLOW_FLOW', 'FERROFLOW_TASK', 'FERROFLOW_PARAMS', 'TMP_DIR']\n"
        "print(json.dumps({'argv': sys.argv[1:], 'env': {k: os.environ.get(k) for k in keys}, 'cwd': os.getcwd()}))\n",
    )
    write(
        tmp_path / "flows" / "p.json",
        json.dumps(
            {
                "params": {"date": "today", "who": "me"},
                "tasks": [
                    {
                        "id": "show",
                        "script": "show.py",
                        "args": {"date": "{date}", "verbose": True, "quiet": False, "skip": None, "-x": "{who}"},
                        "env": {"MODE": "m-{who}"},
                    }
                ],
            }
        ),
    )
    project = Project(tmp_path / "flows", tmp_path / "tasks", tmp_path / "out", store=None)
    result = project.run_flow("p", params={"date": "2024-05-01"})
    assert isinstance(result, RunResult) and not isinstance(result, DryRun)
    assert result.status == "completed" and result.workflow == "p"
    assert result.records["show"].status is TaskStatus.COMPLETED
    seen = json.loads(result["show"]["stdout_tail"])
    assert seen["argv"] == ["--date", "2024-05-01", "--verbose", "-x", "me"]
    env = seen["env"]
    assert env["MODE"] == "m-me"
    assert env["FERROFLOW_RUN_ID"] == result.run_id
    assert (env["FERROFLOW_FLOW"], env["FERROFLOW_TASK"]) == ("p", "show")
    assert json.loads(env["FERROFLOW_PARAMS"]) == {"date": "2024-05-01", "who": "me"}
    assert Path(seen["cwd"]) == tmp_path
    tmp_dir = Path(env["TMP_DIR"])
    assert tmp_dir != tmp_path / "tmp" and not tmp_dir.exists()  # fresh per run, removed at the end
    logs = tmp_path / "out" / "logs" / "p" / result.run_id
    assert (logs / "show.stdout.log").read_text().strip() == result["show"]["stdout_tail"]


def test_tmp_dir_is_shared_by_the_tasks_of_a_run_and_removed(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.yaml",
        "tasks:\n"
        "  - {id: write, command: [python, -c, \"import os; open(os.environ['TMP_DIR'] + '/x', 'w').write('42')\"]}\n"
        "  - id: read\n"
        "    command: [python, -c, \"import os; print(open(os.environ['TMP_DIR'] + '/x').read(), os.environ['TMP_DIR'])\"]\n"
        "    depends_on: [write]\n",
    )
    (tmp_path / "tmp").mkdir()
    result = load_flow(path, output_dir=tmp_path / "out").run(store=None)
    value, folder = result["read"]["stdout_tail"].split()
    assert value == "42"
    assert not Path(folder).exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_params_cannot_inject_commands(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write(
        tmp_path / "i.json",
        json.dumps(
            {
                "params": {"name": "x"},
                "tasks": [
                    {"id": "plain", "command": ["echo", "{name}"], "env": {"V": "{name}"}},
                    {"id": "shell", "command": "echo {name}", "shell": True},
                ],
            }
        ),
    )
    evil = f"a; touch {marker} && $(touch {marker}) `touch {marker}`"
    result = load_flow(path, output_dir=tmp_path / "out").run(store=None, params={"name": evil})
    assert result["plain"]["stdout_tail"] == evil
    assert result["shell"]["stdout_tail"] == evil
    assert not marker.exists()


def test_nonzero_exit_fails_the_task_with_code_and_stderr(tmp_path: Path) -> None:
    path = write(
        tmp_path / "f.yaml",
        "tasks:\n"
        "  - {id: bad, command: [python, -c, \"import sys; sys.stderr.write('broken pipe\\\\n'); sys.exit(3)\"]}\n"
        "  - {id: after, command: 'true', depends_on: [bad]}\n"
        "  - {id: free, command: 'true'}\n",
    )
    with pytest.raises(WorkflowError) as info:
        load_flow(path, output_dir=tmp_path / "out").run(store=None)
    result = info.value.result
    err = result.errors["bad"]
    assert err.exit_code == 3 and err.stderr_tail == "broken pipe"
    assert "exited with code 3" in str(err)
    assert result.records["after"].status.value == "upstream_failed"
    assert result.records["free"].status.value == "completed"


def test_retries_rerun_a_failing_command(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    code = (
        f"import pathlib, sys; p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) if p.exists() else 0; "
        "p.write_text(str(n + 1)); sys.exit(0 if n >= 2 else 1)"
    )
    path = write(
        tmp_path / "r.json",
        json.dumps({"tasks": [{"id": "flaky", "command": ["python", "-c", code], "retries": 2, "retry_delay": 0}]}),
    )
    result = load_flow(path, output_dir=tmp_path / "out").run(store=None)
    assert result.records["flaky"].attempts == 3
    assert counter.read_text() == "3"


def test_timeout_fails_the_task_quickly(tmp_path: Path) -> None:
    path = write(tmp_path / "t.json", '{"tasks": [{"id": "slow", "command": ["sleep", "30"], "timeout": 0.3}]}')
    result = load_flow(path, output_dir=tmp_path / "out").run(store=None, raise_on_failure=False)
    assert "timed out after 0.3s" in str(result.errors["slow"])


def test_independent_tasks_run_in_parallel(tmp_path: Path) -> None:
    barrier_dir = tmp_path / "b"
    barrier_dir.mkdir()
    # Each task announces itself, then waits until all three are there: only a parallel run finishes.
    code = (
        "import os, pathlib, sys, time; d = pathlib.Path(sys.argv[1]); (d / sys.argv[2]).touch(); "
        "deadline = time.time() + 20\n"
        "while len(list(d.iterdir())) < 3:\n"
        "    assert time.time() < deadline, 'not parallel'\n"
        "    time.sleep(0.01)"
    )
    tasks = [{"id": f"t{n}", "command": ["python", "-c", code, str(barrier_dir), f"t{n}"]} for n in range(3)]
    path = write(tmp_path / "par.json", json.dumps({"tasks": tasks}))
    result = load_flow(path, output_dir=tmp_path / "out").run(store=None, max_workers=3)
    assert result.status == "completed"


def test_missing_placeholder_fails_before_anything_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = write(
        tmp_path / "ph.json",
        json.dumps(
            {
                "params": {"date": "x"},
                "tasks": [
                    {"id": "first", "command": ["touch", str(marker)]},
                    {"id": "second", "command": ["echo", "{dat}"], "depends_on": ["first"]},
                ],
            }
        ),
    )
    with pytest.raises(FlowFileError) as info:
        load_flow(path).run(store=None)
    assert 'tasks[1].command[1] (task "second"): no value for placeholder "{dat}" (did you mean "date"?)' in str(
        info.value
    )
    assert not marker.exists()


def test_large_output_task_completes_and_is_summarised(tmp_path: Path) -> None:
    code = "import sys\nline = 'e' * 1023 + '\\n'\nfor _ in range(100 * 1024): sys.stderr.write(line)\nprint('ok')"
    path = write(tmp_path / "big.json", json.dumps({"tasks": [{"id": "big", "command": ["python", "-c", code]}]}))
    result = load_flow(path, output_dir=tmp_path / "out").run(store=None)
    assert result["big"]["stderr_bytes"] == 100 * 1024 * 1024
    assert result["big"]["stdout_tail"] == "ok"
    notes = "\n".join(result.records["big"].logs)
    assert "stderr 104857600 B" in notes


def test_workflow_api_sees_the_flow_tasks(tmp_path: Path) -> None:
    path = write(
        tmp_path / "g.toml",
        '[[tasks]]\nid = "a"\ncommand = "true"\n[[tasks]]\nid = "b"\ncommand = "true"\ndepends_on = ["a"]\n',
    )
    workflow = load_flow(path)
    assert isinstance(workflow, FlowWorkflow)
    assert [[t.name for t in layer] for layer in workflow.get_execution_plan()] == [["a"], ["b"]]
    assert "a" in workflow.visualize("mermaid") and workflow.get_dependencies("b") == ["a"]


# ---------------------------------------------------------------- dry run


def test_dry_run_writes_a_bash_script_that_runs_nothing_itself(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    write(
        tmp_path / "tasks" / "record.py",
        "import os, sys\nwith open(sys.argv[1], 'a') as f: f.write(os.environ['FERROFLOW_TASK'] + ' ' + sys.argv[2] + '\\n')\n",
    )
    write(
        tmp_path / "flows" / "d.json",
        json.dumps(
            {
                "params": {"word": "it's $(id); `x`"},
                "tasks": [
                    {"id": "one", "script": "record.py", "args": [str(marker), "{word}"]},
                    {
                        "id": "two",
                        "script": "record.py",
                        "args": [str(marker), "{TMP_DIR}"],
                        "depends_on": ["one"],
                        "retries": 1,
                        "timeout": 30,
                    },
                ],
            }
        ),
    )
    project = Project(tmp_path / "flows", tmp_path / "tasks", tmp_path / "out", store=None)
    dry = project.run_flow("d", dry_run=True)
    assert isinstance(dry, DryRun)
    assert not marker.exists()
    script = dry.script_path.read_text()
    assert dry.script_path == tmp_path / "out" / "d.dry-run.sh"
    assert "set -euo pipefail" in script
    assert """'it'"'"'s $(id); `x`'""" in script
    assert "ff_retry 1 1 env FERROFLOW_TASK=two timeout --kill-after=3 30" in script
    assert [[t for t, _, _ in layer] for layer in dry.plan] == [["one"], ["two"]]
    done = subprocess.run(["bash", str(dry.script_path)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = marker.read_text().splitlines()
    assert lines[0] == "one it's $(id); `x`"
    tmp_used = lines[1].split(" ", 1)[1]
    assert lines[1].startswith("two ") and "ferroflow-d." in tmp_used and not os.path.exists(tmp_used)


def test_dry_run_script_stops_at_the_first_failure(tmp_path: Path) -> None:
    path = write(
        tmp_path / "f.yaml",
        f"tasks:\n  - {{id: a, command: 'false'}}\n  - {{id: b, command: [touch, {tmp_path / 'b'}], depends_on: [a]}}\n",
    )
    dry = load_flow(path, output_dir=tmp_path / "out").dry_run()
    done = subprocess.run(["bash", str(dry.script_path)], capture_output=True, timeout=60, check=False)
    assert done.returncode != 0
    assert not (tmp_path / "b").exists()


def test_dry_run_script_runs_tasks_whose_workdir_is_the_tmp_dir(tmp_path: Path) -> None:
    path = write(
        tmp_path / "w.yaml",
        "tasks:\n  - {id: a, command: [touch, made], workdir: '{TMP_DIR}'}\n"
        "  - {id: b, command: [ls, made], workdir: '{TMP_DIR}', depends_on: [a]}\n",
    )
    workflow = load_flow(path, output_dir=tmp_path / "out")
    assert workflow.run(store=None).status == "completed"
    dry = workflow.dry_run()
    assert '(cd "$TMP_DIR" && ' in dry.script
    done = subprocess.run(["bash", str(dry.script_path)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "made"


def test_python_executable_is_the_current_interpreter(tmp_path: Path) -> None:
    path = write(
        tmp_path / "py.json", '{"tasks": [{"id": "v", "command": "python -c \'import sys; print(sys.executable)\'"}]}'
    )
    result = load_flow(path, output_dir=tmp_path / "out").run(store=None)
    assert result["v"]["stdout_tail"] == sys.executable


def test_flows_run_on_every_executor(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.yaml",
        "tasks:\n  - {id: a, command: [echo, a]}\n  - {id: b, command: [echo, b], depends_on: [a]}\n",
    )
    for executor in ("sequential", "thread", "process", "async"):
        result = load_flow(path, output_dir=tmp_path / "out").run(store=None, executor=executor)
        assert [result[t]["stdout_tail"] for t in ("a", "b")] == ["a", "b"], executor


def test_workdir_is_relative_to_the_starting_folder_and_can_use_params(tmp_path: Path) -> None:
    (tmp_path / "data" / "2024").mkdir(parents=True)
    path = write(
        tmp_path / "w.json",
        json.dumps(
            {
                "params": {"year": "2024"},
                "tasks": [
                    {
                        "id": "here",
                        "command": ["python", "-c", "import os; print(os.getcwd())"],
                        "workdir": "data/{year}",
                    },
                    {"id": "base", "command": ["python", "-c", "import os; print(os.getcwd())"]},
                ],
            }
        ),
    )
    result = load_flow(path, output_dir=tmp_path / "out").run(store=None)
    assert Path(result["here"]["stdout_tail"]) == (tmp_path / "data" / "2024").resolve()
    assert Path(result["base"]["stdout_tail"]) == tmp_path.resolve()
