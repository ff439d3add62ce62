"""``ferroflow run``, ``list``, ``graph``, global options: in-process and as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ferroflow.processes import process_alive as _alive
from ferroflow.store.store import open_store

from tests.cli.conftest import Invoker, ferroflow
from tests.conftest import wait_until


def test_run_a_flow_by_name(project: Path, invoke: Invoker) -> None:
    result = invoke("run", "daily", "--params", '{"date": "2024-02-03"}')
    out = result.stdout  # type: ignore[attr-defined]
    assert "[4/4]" in out and "daily: run" in out and "completed" in out
    runs = open_store(None if False else os.environ["FERROFLOW_HOME"]).list_runs()  # type: ignore[union-attr]
    assert [r.workflow for r in runs] == ["daily"] and runs[0].params == {"date": "2024-02-03"}
    logs = project / "ferroflow_output" / "logs" / "daily" / runs[0].run_id
    assert (logs / "fetch.stdout.log").read_text() == "fetched 2024-02-03\n"
    assert (logs / "left.stdout.log").read_text() == "left 2024-02-03\n"


def test_run_a_flow_file_as_a_real_process(project: Path) -> None:
    done = ferroflow("run", "flows/daily.json", "--max-workers", "2", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "[1/4] fetch completed" in done.stdout
    assert "\x1b[" not in done.stdout  # plain lines when not a TTY


def test_params_from_a_file(project: Path, invoke: Invoker) -> None:
    (project / "p.json").write_text('{"date": "from-file"}')
    invoke("run", "daily", "--params", "@p.json")
    run = open_store(os.environ["FERROFLOW_HOME"]).list_runs()[0]  # type: ignore[union-attr]
    assert run.params == {"date": "from-file"}


def test_bad_params_exit_2_with_one_message(project: Path, invoke: Invoker) -> None:
    result = invoke("run", "daily", "--params", "{date: 1}", code=2)
    assert result.stderr.count("\n") == 1  # type: ignore[attr-defined]
    assert "invalid --params: Expecting property name" in result.stderr  # type: ignore[attr-defined]
    result = invoke("run", "daily", "--params", "[1, 2]", code=2)
    assert "expected a JSON object" in result.stderr  # type: ignore[attr-defined]
    result = invoke("run", "daily", "--params", "@missing.json", code=2)
    assert "cannot read --params file missing.json" in result.stderr  # type: ignore[attr-defined]


def test_unknown_flow_lists_the_ones_that_exist(project: Path) -> None:
    done = ferroflow("run", "dialy", cwd=project)
    assert done.returncode == 2
    assert 'unknown flow or target "dialy" (did you mean "daily"?)' in done.stderr
    assert "flows in flows: broken, daily" in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_flow_file_exits_2_with_positions(project: Path) -> None:
    done = ferroflow("run", "broken", cwd=project)
    assert done.returncode == 2
    assert 'flows/broken.yaml:4:18 tasks[0].depends_on[0] (task "a"): unknown task "b"' in done.stderr
    assert "Traceback" not in done.stderr


def test_failed_run_exits_1_and_shows_the_error(project: Path) -> None:
    (project / "flows" / "fail.yaml").write_text(
        "tasks:\n  - id: bad\n    command: [python, -c, \"import sys; print('no disk', file=sys.stderr); sys.exit(7)\"]\n"
    )
    done = ferroflow("run", "fail", cwd=project)
    assert done.returncode == 1
    assert "bad: task 'bad' exited with code 7" in done.stdout.replace("✗ ", "")
    assert "no disk" in done.stdout


def test_dry_run_prints_the_plan_writes_the_script_and_runs_nothing(project: Path, invoke: Invoker) -> None:
    result = invoke("run", "daily", "--dry-run", "--params", '{"date": "x; rm -rf ~"}')
    out = result.stdout  # type: ignore[attr-defined]
    assert "stage 1:" in out and "stage 2:" in out and "left (after fetch)" in out
    script = project / "ferroflow_output" / "daily.dry-run.sh"
    assert f"bash script: {script}" in out
    assert "'x; rm -rf ~'" in script.read_text()
    assert open_store(os.environ["FERROFLOW_HOME"]).list_runs() == []  # type: ignore[union-attr]
    assert not (project / "ferroflow_output" / "logs").exists()
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "report x; rm -rf ~" in done.stdout


def test_global_folder_options(tmp_path: Path, project: Path, invoke: Invoker) -> None:
    os.rename(project / "flows", project / "myflows")
    os.rename(project / "tasks", project / "scripts")
    invoke("-f", "myflows", "-t", "scripts", "-o", "out", "--home", "store", "run", "daily")
    assert (project / "out" / "logs" / "daily").is_dir()
    assert len(open_store(project / "store").list_runs()) == 1  # type: ignore[union-attr]


def test_json_logs_make_stdout_and_stderr_pure_json(project: Path) -> None:
    (project / "flows" / "mixed.yaml").write_text(
        "tasks:\n  - {id: ok, command: 'true'}\n  - {id: bad, command: 'false', depends_on: [ok]}\n"
    )
    done = ferroflow("--json-logs", "run", "mixed", cwd=project)
    assert done.returncode == 1
    out = [json.loads(line) for line in done.stdout.splitlines()]
    err = [json.loads(line) for line in done.stderr.splitlines()]
    assert [e["event"] for e in out] == ["run_started", "task", "task", "run_finished"]
    assert out[-1]["status"] == "failed" and "bad" in out[-1]["errors"]
    assert err and all("level" in e for e in err)
    bad = ferroflow("--json-logs", "run", "nope", cwd=project)
    assert bad.returncode == 2 and json.loads(bad.stderr)["event"] == "error"


def test_resume_last_skips_completed_tasks(project: Path, invoke: Invoker) -> None:
    flag = project / "flag"
    (project / "flows" / "res.json").write_text(
        json.dumps(
            {
                "tasks": [
                    {"id": "one", "command": ["python", "-c", "print(1)"]},
                    {
                        "id": "two",
                        "command": [
                            "python",
                            "-c",
                            f"import os, sys; sys.exit(0 if os.path.exists({str(flag)!r}) else 1)",
                        ],
                        "depends_on": ["one"],
                    },
                ]
            }
        )
    )
    invoke("run", "res", code=1)
    flag.touch()
    result = invoke("run", "res", "--resume-last")
    assert "(2 completed, 1 resumed)" in result.stdout  # type: ignore[attr-defined]
    store = open_store(os.environ["FERROFLOW_HOME"])
    first, second = reversed(store.list_runs())  # type: ignore[union-attr]
    assert second.resumed_from == first.run_id
    assert store.get_run(second.run_id).task("one").resumed  # type: ignore[union-attr]
    invoke("run", "res", "--resume", first.run_id)
    invoke("run", "res", "--resume", "x", "--resume-last", code=2)


def test_run_python_file_and_module_targets(tmp_path: Path, invoke: Invoker) -> None:
    (tmp_path / "cli_target_mod.py").write_text(
        "from ferroflow import Workflow, Task\n"
        "wf = Workflow('pyflow')\n"
        "wf.add_task(Task(fn=lambda: 2, name='two'))\n"
        "wf.add_task(Task(fn=lambda two, factor=1: two * factor, name='double'), depends_on=['two'])\n"
    )
    result = invoke("run", "cli_target_mod.py", "--params", '{"factor": 5}')
    assert "pyflow: run" in result.stdout  # type: ignore[attr-defined]
    run_id = open_store(os.environ["FERROFLOW_HOME"]).list_runs()[0].run_id  # type: ignore[union-attr]
    assert open_store(os.environ["FERROFLOW_HOME"]).load_result(run_id, "double") == 10  # type: ignore[union-attr]
    invoke("run", "cli_target_mod:wf")
    invoke("run", "cli_target_mod.py:wf", "--executor", "sequential")
    assert len(open_store(os.environ["FERROFLOW_HOME"]).list_runs()) == 3  # type: ignore[union-attr]


def test_python_target_errors_exit_2(tmp_path: Path, invoke: Invoker) -> None:
    (tmp_path / "two_wfs.py").write_text("from ferroflow import Workflow\na = Workflow('a')\nb = Workflow('b')\n")
    result = invoke("run", "two_wfs.py", code=2)
    assert "defines several workflows (a, b); pick one with two_wfs.py:a" in result.stderr  # type: ignore[attr-defined]
    (tmp_path / "none_here.py").write_text("x = 1\n")
    assert "defines no Workflow" in invoke("run", "none_here.py", code=2).stderr  # type: ignore[attr-defined]
    (tmp_path / "crash.py").write_text("import nope_not_a_module\n")
    result = invoke("run", "crash.py", code=2)
    assert "cannot import crash.py: ModuleNotFoundError" in result.stderr and "crash.py:1" in result.stderr  # type: ignore[attr-defined]
    assert "has no attribute 'zz'" in invoke("run", "two_wfs.py:zz", code=2).stderr  # type: ignore[attr-defined]
    assert "no such Python file" in invoke("run", "absent.py", code=2).stderr  # type: ignore[attr-defined]


def test_list_shows_flows_and_invalid_ones(project: Path, invoke: Invoker) -> None:
    out = invoke("list").stdout  # type: ignore[attr-defined]
    assert "daily" in out and "the daily flow" in out and "invalid" in out
    done = ferroflow("--json-logs", "list", cwd=project)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["name"] for r in rows] == ["broken", "daily"]
    assert rows[1]["tasks"] == 4 and rows[0]["problem"].startswith("flows/broken.yaml:4:18")


def test_graph_in_three_formats(project: Path, invoke: Invoker) -> None:
    assert "fetch" in invoke("graph", "daily").stdout  # type: ignore[attr-defined]
    assert invoke("graph", "daily", "--format", "mermaid").stdout.startswith("flowchart")  # type: ignore[attr-defined]
    assert "digraph" in invoke("graph", "flows/daily.json", "--format", "dot").stdout  # type: ignore[attr-defined]
    invoke("graph", "daily", "--format", "png", code=2)


def test_version_help_and_usage_errors(project: Path, invoke: Invoker) -> None:
    version = ferroflow("--version", cwd=project)
    assert version.returncode == 0 and version.stdout.startswith("ferroflow ")
    invoke("--help")
    invoke("run", "--help")
    invoke("schedule", "add", "--help")
    invoke("run", code=2)
    invoke("frobnicate", code=2)
    assert 'unknown --executor "bogus"' in invoke("run", "daily", "--executor", "bogus", code=2).stderr  # type: ignore[attr-defined]
    assert "unknown --log-level" in invoke("--log-level", "loud", "list", code=2).stderr  # type: ignore[attr-defined]
    # What `--show-completion` prints once it has found the shell (it looks at the process tree,
    # which a background test run does not have), asked for by name.
    completion = ferroflow(cwd=project, env={"_FERROFLOW_COMPLETE": "source_bash"})
    assert completion.returncode == 0 and "_ferroflow_completion()" in completion.stdout


def test_log_dir_receives_a_log_file(project: Path, invoke: Invoker) -> None:
    invoke("--log-dir", "logs", "--log-level", "debug", "run", "daily")
    assert "task fetch:" in (project / "logs" / "ferroflow.log").read_text()


WATCHER = """
from pathlib import Path
from ferroflow import FileEvent, on_created

@on_created("inbox", pattern="*.txt", priority=5)
def mark(event: FileEvent) -> None:
    Path("seen").mkdir(exist_ok=True)
    (Path("seen") / event.name).write_text(Path(event.path).read_text())
"""


def _start_watch(tmp_path: Path) -> subprocess.Popen[str]:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "watcher.py").write_text(WATCHER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "run", "watcher.py", "--debounce", "0.1", "--max-workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc


def test_watch_target_reacts_to_a_file_and_exits_130_on_sigint(tmp_path: Path) -> None:
    proc = _start_watch(tmp_path)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while not any("watching" in line for line in lines):
            assert time.monotonic() < deadline, lines
            lines.append(proc.stdout.readline())
        table = "".join(lines)
        assert "watcher.mark" in table and "inbox" in table and "*.txt" in table and "added" in table
        (tmp_path / "inbox" / "a.txt").write_text("hello")
        seen = tmp_path / "seen" / "a.txt"
        # The handler writes the copy: wait for its content, not just for the file to exist.
        wait_until(lambda: seen.exists() and seen.read_text() == "hello", timeout=20)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_watch_target_exits_0_on_sigterm(tmp_path: Path) -> None:
    proc = _start_watch(tmp_path)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while "watching" not in proc.stdout.readline():
            assert time.monotonic() < deadline
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_sigterm_during_a_flow_run_stops_the_script_tree(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    (tmp_path / "flows").mkdir()
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    (tmp_path / "flows" / "long.json").write_text(
        json.dumps({"tasks": [{"id": "sleep", "command": ["python", "-c", code]}]})
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroflow", "run", "long"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", timeout=30)
        child = int(pid_file.read_text())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130
        wait_until(lambda: not _alive(child), timeout=15)
        # The script is cancelled with the reason (not "failed ... exit code -15"), and so is its run.
        listed = ferroflow("--json-logs", "runs", cwd=tmp_path)
        run = json.loads(listed.stdout.splitlines()[0])
        assert run["status"] == "cancelled", run
        shown = ferroflow("--json-logs", "runs", run["run_id"], cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "stopped by a cancel of the run" in shown.stdout and "with code -15" not in shown.stdout
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_watch_target_dry_run_lists_handlers_and_missing_root_exits_2(tmp_path: Path, invoke: Invoker) -> None:
    (tmp_path / "watcher.py").write_text(WATCHER)
    done = ferroflow("--json-logs", "run", "watcher.py", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (event,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert event["event"] == "handlers"
    assert event["handlers"] == [
        {"handler": "watcher.mark", "root": "inbox", "events": "added", "pattern": "*.txt", "priority": 5}
    ]
    missing = ferroflow("run", "watcher.py", cwd=tmp_path)  # inbox/ does not exist
    assert missing.returncode == 2 and "inbox" in missing.stderr and "Traceback" not in missing.stderr


def test_json_logs_also_cover_usage_errors(project: Path) -> None:
    for args in (["run", "--bogus"], ["frobnicate"], ["run"], ["runs", "--limit", "0"]):
        done = ferroflow("--json-logs", *args, cwd=project)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert json.loads(line)["event"] == "error", args


def test_bad_resume_or_placeholder_fails_before_the_run_starts(project: Path, invoke: Invoker) -> None:
    result = invoke("run", "daily", "--resume", "nope", code=2)
    assert "no run 'nope'" in result.stderr and result.stdout == ""  # type: ignore[attr-defined]
    result = invoke("run", "daily", "--resume-last", code=2)
    assert "no failed, cancelled or interrupted run" in result.stderr and result.stdout == ""  # type: ignore[attr-defined]
    (project / "flows" / "hole.json").write_text('{"tasks": [{"id": "a", "command": ["echo", "{missing}"]}]}')
    result = invoke("run", "hole", code=2)
    assert 'no value for placeholder "{missing}"' in result.stderr and result.stdout == ""  # type: ignore[attr-defined]
    assert open_store(os.environ["FERROFLOW_HOME"]).list_runs() == []  # type: ignore[union-attr]


def test_a_flow_name_defined_by_two_files_is_refused_not_guessed(project: Path, invoke: Invoker) -> None:
    (project / "flows" / "daily.toml").write_text('[[tasks]]\nid = "other"\ncommand = "true"\n')
    result = invoke("run", "daily", code=2)
    assert 'flow "daily" is defined twice (flows/daily.json and flows/daily.toml)' in result.stderr  # type: ignore[attr-defined]
    assert "defined twice" in invoke("list").stdout  # type: ignore[attr-defined]
    invoke("run", "flows/daily.toml")  # a file path is never ambiguous


def test_unusable_folders_and_report_paths_exit_2_before_running(project: Path, invoke: Invoker) -> None:
    (project / "afile").write_text("x")
    for args in (
        ["-o", "afile", "run", "daily"],
        ["-o", "afile", "run", "daily", "--dry-run"],
        ["--log-dir", "afile", "list"],
        ["run", "daily", "--report", "flows"],
        ["run", "daily", "--report", "afile/report.json"],
    ):
        result = invoke(*args, code=2)
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, args  # type: ignore[attr-defined]
        assert "[1/" not in result.stdout, args  # type: ignore[attr-defined]
    assert "a file of that name is in the way" in invoke("-o", "afile", "run", "daily", code=2).stderr  # type: ignore[attr-defined]
    assert open_store(os.environ["FERROFLOW_HOME"]).list_runs() == []  # type: ignore[union-attr]


def test_a_param_the_flow_does_not_use_is_warned_about(project: Path, invoke: Invoker) -> None:
    result = invoke("run", "daily", "--params", '{"dat": "2024-01-01"}')
    assert 'warning: param "dat" is not used by flow daily (did you mean "date"?)' in result.stderr  # type: ignore[attr-defined]
    assert "warning" not in invoke("run", "daily", "--params", '{"date": "2024-01-01"}').stderr  # type: ignore[attr-defined]


def test_a_py_file_whose_name_is_not_a_module_name_runs_on_the_process_executor(
    tmp_path: Path, invoke: Invoker
) -> None:
    (tmp_path / "my-flow.py").write_text(
        "from ferroflow import Task, Workflow\n"
        "wf = Workflow('dashed')\n"
        "def double():\n    return 21 * 2\n"
        "wf.add_task(Task(fn=double, name='double'))\n"
    )
    result = invoke("run", "my-flow.py", "--executor", "process")
    assert "dashed: run" in result.stdout and "completed" in result.stdout  # type: ignore[attr-defined]
    run = open_store(os.environ["FERROFLOW_HOME"]).list_runs()[0]  # type: ignore[union-attr]
    assert open_store(os.environ["FERROFLOW_HOME"]).load_result(run.run_id, "double") == 42  # type: ignore[union-attr]


def test_a_plain_folder_is_not_taken_for_a_module(project: Path, invoke: Invoker) -> None:
    (project / "reports").mkdir()
    result = invoke("run", "reports", code=2)
    assert 'unknown flow or target "reports"' in result.stderr and "flows in flows: broken, daily" in result.stderr  # type: ignore[attr-defined]
