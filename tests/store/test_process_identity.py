"""A recorded process is its host, pid and start time: a reused pid is another process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from ferroflow.processes import process_birth, same_process
from ferroflow.store.sessions import list_sessions
from ferroflow.store.store import Store


def test_a_live_pid_with_another_birth_is_not_the_same_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        birth = process_birth(child.pid)
        assert birth is not None and same_process(child.pid, birth)
        assert not same_process(child.pid, process_birth(os.getpid()))  # alive, but born at another time
        assert same_process(child.pid, None)  # nothing recorded: alive is all that can be said
    finally:
        child.kill()
        child.wait()
    assert not same_process(child.pid, birth)


def test_a_watch_session_whose_pid_was_reused_is_interrupted(tmp_path: Path) -> None:
    code = """
        import os, sys
        from ferroflow.store.store import open_store
        from ferroflow.store.sessions import begin_session
        begin_session(open_store(sys.argv[1]), "inbox", roots=["/data"], handlers=[])
        os.kill(os.getpid(), 9)
    """
    dead = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(tmp_path)], check=False, timeout=60)
    assert dead.returncode == -signal.SIGKILL
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        with sqlite3.connect(tmp_path / "ferroflow.db") as conn:
            conn.execute("UPDATE watch_sessions SET pid = ?", (other.pid,))
        conn.close()
        store = Store(tmp_path / "ferroflow.db")
        assert [(s.app, s.status) for s in list_sessions(store)] == [("inbox", "interrupted")]
        store.close()
    finally:
        other.kill()
        other.wait()
