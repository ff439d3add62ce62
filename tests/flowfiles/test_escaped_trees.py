"""Descendants that leave the process group (setsid, setpgid) or lose their parent are still stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ferroflow.errors import TaskTimeoutError
from ferroflow.flowfiles.scripts import CommandOutcome, CommandSpec, run_command
from ferroflow.processes import ProcessTree, process_alive

from tests.conftest import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="descendant tracking needs /proc")


def _logs(tmp_path: Path) -> dict[str, Path]:
    return {"stdout_path": tmp_path / "logs" / "out.log", "stderr_path": tmp_path / "logs" / "err.log"}


def _escaper(pid_file: Path, how: str, *, orphan: bool = False) -> str:
    """A script whose child leaves the group (``how``: setsid or setpgid), ignores SIGTERM and sleeps."""
    leave = "os.setsid()" if how == "setsid" else "os.setpgid(0, 0)"
    grandchild = (
        f"import os, signal, time; {leave}; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"open({str(pid_file)!r} + '.tmp', 'w').write(str(os.getpid())); "
        f"os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r}); time.sleep(60)"
    )
    tail = "" if orphan else "time.sleep(60)\n"
    return (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
        f"while not os.path.exists({str(pid_file)!r}): time.sleep(0.01)\n" + tail
    )


@pytest.mark.parametrize("how", ["setsid", "setpgid"])
def test_timeout_stops_a_grandchild_that_left_the_group(tmp_path: Path, how: str) -> None:
    pid_file = tmp_path / "escaped.pid"
    with pytest.raises(TaskTimeoutError, match="its process tree was stopped"):
        run_command(
            CommandSpec(argv=[sys.executable, "-c", _escaper(pid_file, how)]), timeout=1.5, grace=0.3, **_logs(tmp_path)
        )
    escaped = int(pid_file.read_text())
    wait_until(lambda: not process_alive(escaped), timeout=10)


def test_cancel_stops_a_grandchild_that_left_the_session(tmp_path: Path) -> None:
    pid_file = tmp_path / "escaped.pid"
    cancel = threading.Event()
    threading.Thread(target=lambda: (wait_until(pid_file.exists, timeout=20), cancel.set()), daemon=True).start()
    outcome = run_command(
        CommandSpec(argv=[sys.executable, "-c", _escaper(pid_file, "setsid")]),
        cancel=cancel,
        grace=0.3,
        **_logs(tmp_path),
    )
    assert outcome.cancelled and outcome.left_running == []
    assert outcome.tree_state() == "its process tree was stopped"
    wait_until(lambda: not process_alive(int(pid_file.read_text())), timeout=10)


def test_an_orphan_that_left_the_session_is_stopped_when_the_script_ends(tmp_path: Path) -> None:
    # The script exits at once; its grandchild, in a session of its own, is handed to us
    # (the subreaper) rather than to init, and stopped and reaped: no zombie stays behind.
    pid_file = tmp_path / "escaped.pid"
    outcome = run_command(
        CommandSpec(argv=[sys.executable, "-c", _escaper(pid_file, "setsid", orphan=True)]),
        grace=0.3,
        **_logs(tmp_path),
    )
    assert outcome.exit_code == 0
    escaped = int(pid_file.read_text())
    wait_until(lambda: not Path(f"/proc/{escaped}").exists(), timeout=10)


def test_the_exit_status_of_our_own_subprocesses_is_never_taken(tmp_path: Path) -> None:
    # While script trees are watched (the subreaper is on), a subprocess started by other
    # code of this process keeps its exit status, and so do its own orphaned grandchildren's
    # parents: only the tree's processes are reaped, each by its pid.
    pid_file = tmp_path / "escaped.pid"
    codes: list[int] = []

    def bystanders() -> None:
        for n in range(5):
            child = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(0.2); raise SystemExit({n + 3})"])
            codes.append(child.wait(timeout=30))

    thread = threading.Thread(target=bystanders)
    thread.start()
    with pytest.raises(TaskTimeoutError):
        run_command(
            CommandSpec(argv=[sys.executable, "-c", _escaper(pid_file, "setsid")]),
            timeout=1.0,
            grace=0.2,
            **_logs(tmp_path),
        )
    thread.join(timeout=30)
    assert codes == [3, 4, 5, 6, 7]


def test_a_tree_finds_members_by_token_after_their_parent_died(tmp_path: Path) -> None:
    tree = ProcessTree()
    pid_file = tmp_path / "escaped.pid"
    leader = subprocess.Popen(
        [sys.executable, "-c", _escaper(pid_file, "setsid", orphan=True)],
        env={**os.environ, **tree.environment},
        start_new_session=True,
    )
    tree.watch(leader.pid)
    try:
        assert leader.wait(timeout=30) == 0
        escaped = int(pid_file.read_text())
        assert escaped in tree.alive()
        assert tree.stop(grace=0.2, leader=leader) == []
        assert not process_alive(escaped)
    finally:
        tree.close()


def test_the_message_names_what_could_not_be_stopped(tmp_path: Path) -> None:
    # (A process this user may not signal cannot be made here when the tests run as root;
    # the outcome of such a stop is built as run_command builds it.)
    outcome = CommandOutcome(
        exit_code=-9,
        duration_seconds=1.0,
        stdout_path=tmp_path / "out.log",
        stderr_path=tmp_path / "err.log",
        stdout_bytes=0,
        stderr_bytes=0,
        stdout_tail="",
        stderr_tail="",
        cancelled=True,
        left_running=[4711, 4712],
    )
    assert outcome.tree_state() == "2 process(es) of its tree could not be stopped (pid 4711, 4712)"
    assert outcome.summary()["left_running"] == [4711, 4712]
