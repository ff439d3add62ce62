"""Script and command processes: no shell, log files, large output, process-tree kill."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ferroflow.errors import TaskTimeoutError
from ferroflow.flowfiles.scripts import (
    CommandSpec,
    ScriptFailedError,
    fill_placeholders,
    kill_process_group,
    read_tail,
    run_command,
    split_command,
)
from ferroflow.processes import process_alive as _pid_alive

from tests.conftest import wait_until


def _logs(tmp_path: Path) -> dict[str, Path]:
    return {"stdout_path": tmp_path / "logs" / "out.log", "stderr_path": tmp_path / "logs" / "err.log"}


def test_output_goes_to_log_files_and_tails(tmp_path: Path) -> None:
    code = "import sys; print('line1'); print('line2'); print('oops', file=sys.stderr)"
    outcome = run_command(CommandSpec(argv=[sys.executable, "-c", code]), **_logs(tmp_path))
    assert outcome.exit_code == 0
    assert (tmp_path / "logs" / "out.log").read_text() == "line1\nline2\n"
    assert outcome.stdout_tail == "line1\nline2"
    assert outcome.stderr_tail == "oops"
    assert outcome.stdout_bytes == 12


def test_nonzero_exit_is_reported_not_raised(tmp_path: Path) -> None:
    code = "import sys; print('bad things', file=sys.stderr); sys.exit(3)"
    outcome = run_command(CommandSpec(argv=[sys.executable, "-c", code]), **_logs(tmp_path))
    assert outcome.exit_code == 3
    assert outcome.stderr_tail == "bad things"


def test_hundred_megabytes_on_stderr_does_not_hang(tmp_path: Path) -> None:
    code = "import sys\nchunk = 'x' * 1023 + '\\n'\nfor _ in range(100 * 1024): sys.stderr.write(chunk)\nprint('done')"
    outcome = run_command(CommandSpec(argv=[sys.executable, "-c", code]), timeout=60, **_logs(tmp_path))
    assert outcome.exit_code == 0
    assert outcome.stderr_bytes == 100 * 1024 * 1024
    assert outcome.stdout_tail == "done"
    assert len(outcome.stderr_tail) <= 4096


def test_arguments_are_never_run_by_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f"; touch {marker}; $(touch {marker}) `touch {marker}`"
    code = "import sys; print(sys.argv[1])"
    outcome = run_command(
        CommandSpec(argv=[sys.executable, "-c", code, evil], env={"EVIL": f"$(touch {marker})"}), **_logs(tmp_path)
    )
    assert outcome.stdout_tail == evil
    assert not marker.exists()


def test_shell_mode_runs_through_sh(tmp_path: Path) -> None:
    outcome = run_command(CommandSpec(argv=["echo a && echo b"], shell=True), **_logs(tmp_path))
    assert outcome.stdout_tail == "a\nb"


def test_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # The child starts a grandchild that ignores SIGTERM, then both sleep.
    code = (
        "import subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(g.pid))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(TaskTimeoutError, match="timed out"):
        run_command(CommandSpec(argv=[sys.executable, "-c", code]), timeout=1.5, grace=0.5, **_logs(tmp_path))
    assert time.monotonic() - started < 20
    grandchild = int(pid_file.read_text())
    wait_until(lambda: not _pid_alive(grandchild), timeout=10)


def test_cancel_stops_the_process_tree(tmp_path: Path) -> None:
    cancel = threading.Event()
    code = "import time; print('started', flush=True); time.sleep(60)"
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    outcome = run_command(CommandSpec(argv=[sys.executable, "-c", code]), cancel=cancel, grace=1.0, **_logs(tmp_path))
    timer.join()
    assert outcome.cancelled
    assert outcome.exit_code == -signal.SIGTERM


def test_leftover_background_processes_are_stopped_when_the_task_ends(tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    code = (
        "import subprocess, sys\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(g.pid))\n"
    )
    outcome = run_command(CommandSpec(argv=[sys.executable, "-c", code]), grace=1.0, **_logs(tmp_path))
    assert outcome.exit_code == 0
    wait_until(lambda: not _pid_alive(int(pid_file.read_text())), timeout=10)


def test_missing_program_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_command(CommandSpec(argv=[str(tmp_path / "nope")]), **_logs(tmp_path))


def test_kill_process_group_of_a_finished_group_is_a_no_op() -> None:
    # A group that has exited (and been reaped): nothing to signal, so no exception, no
    # waiting out the grace period, and the leader's exit code stays what it was.
    leader = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    assert leader.wait(timeout=30) == 0
    started = time.monotonic()
    kill_process_group(leader.pid, grace=5.0, leader=leader)
    assert time.monotonic() - started < 2.0
    assert leader.returncode == 0
    # A bystander in another group is untouched.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        kill_process_group(leader.pid, grace=0.1)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait(timeout=10)


def test_placeholders_fill_and_escape() -> None:
    assert fill_placeholders("{a}-{b}", {"a": 1, "b": True}) == "1-true"
    assert fill_placeholders("{{a}}", {}) == "{a}"
    assert fill_placeholders("x {a} {n}", {"a": "it's; rm", "n": None}) == "x it's; rm null"
    with pytest.raises(KeyError, match="missing"):
        fill_placeholders("{missing}", {})


def test_split_command_and_bash_form() -> None:
    assert split_command("a 'b c' d") == ["a", "b c", "d"]
    assert split_command(["a", "b"]) == ["a", "b"]
    spec = CommandSpec(argv=["echo", "$(id)"], env={"A": "x y"})
    assert spec.as_bash() == "env A='x y' echo '$(id)'"


def test_read_tail_starts_at_a_line_boundary(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {n}\n" for n in range(10_000)))
    tail = read_tail(path, 100)
    assert tail.splitlines()[-1] == "line 9999"
    assert all(line.startswith("line ") for line in tail.splitlines())
    assert read_tail(tmp_path / "absent.log") == ""


def test_script_failed_error_survives_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(ScriptFailedError("t", 2, "tail", "/x")))
    assert (err.task, err.exit_code, err.stderr_tail, err.stderr_path) == ("t", 2, "tail", "/x")
    assert "exited with code 2" in str(err)
