"""The Dask executor on a real distributed setup: a ``dask scheduler`` process and ``dask
worker`` processes on 127.0.0.1, reached by address as on any cluster; workers and clients
killed with SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest
from ferroflow import FerroflowError, SequentialExecutor, Task, TaskStatus, Workflow
from ferroflow.executors.dask import DaskExecutor

from .test_equivalence import fail_if_multiple_of_7, outcome, random_workflow

DASK = Path(sys.executable).with_name("dask")
REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # ferroflow and the tests' functions
    return env


def _wait(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Cluster:
    """A scheduler process and worker processes (no nanny: SIGKILL ends a worker for good)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []
        sched_file = root / "scheduler.json"
        self.scheduler = self._start(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(sched_file)],
            "scheduler",
        )
        _wait(lambda: sched_file.exists() and sched_file.stat().st_size > 0, "the scheduler file")
        _wait(lambda: "address" in json.loads(sched_file.read_text() or "{}"), "the scheduler address")
        self.address: str = json.loads(sched_file.read_text())["address"]
        self.client = distributed.Client(self.address, set_as_default=False, timeout=30)

    def _start(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the process's life
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env or _env(), cwd=self.root)
        log.close()
        self.procs.append(proc)
        return proc

    def add_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        before = len(self.client.scheduler_info()["workers"])
        proc = self._start(
            [str(DASK), "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
            + ["--host", "127.0.0.1", "--memory-limit", "0"],
            f"worker-{len(self.procs)}",
            env,
        )
        _wait(lambda: len(self.client.scheduler_info()["workers"]) > before, "a worker to join")
        return proc

    def close(self) -> None:
        self.client.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        c.add_worker()
        c.add_worker()
        yield c
    finally:
        c.close()


def test_by_address_the_same_outcomes_as_the_oracle(cluster: Cluster) -> None:
    oracle = outcome(random_workflow(8, 120, fn=fail_if_multiple_of_7).run(store=None, raise_on_failure=False))
    got = random_workflow(8, 120, fn=fail_if_multiple_of_7).run(
        executor=DaskExecutor(address=cluster.address), store=None, raise_on_failure=False
    )
    assert outcome(got) == oracle
    assert cluster.client.status == "running"  # a cluster reached by address is left running
    assert len(cluster.client.scheduler_info()["workers"]) == 2


def test_the_address_from_the_environment(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROFLOW_DASK_ADDRESS", cluster.address)
    wf = random_workflow(3, 30)
    assert dict(wf.run(executor="dask", store=None)) == dict(random_workflow(3, 30).run(executor=SequentialExecutor()))


def _step(marker_dir: str, name: str, *ups: Any) -> str:
    time.sleep(0.15)
    with open(Path(marker_dir) / name, "a") as f:
        f.write("x")
    return name


def test_kill_9_of_a_worker_mid_run(cluster: Cluster, tmp_path: Path) -> None:
    victim = cluster.add_worker()  # a third worker, killed mid-run; the others finish the run
    markers = tmp_path / "markers"
    markers.mkdir()
    wf = Workflow("survives")
    for layer in range(6):
        for k in range(8):
            name = f"t{layer}_{k}"
            ups = [f"t{layer - 1}_{j}" for j in (k, (k + 1) % 8)] if layer else []
            wf.add_task(Task(fn=lambda *u, _n=name: _step(str(markers), _n, *u), name=name), depends_on=ups)

    def kill_when_busy() -> None:
        _wait(lambda: len(list(markers.iterdir())) >= 10, "ten tasks to finish")
        victim.send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    try:
        result = wf.run(executor=DaskExecutor(address=cluster.address), store=tmp_path)
    finally:
        killer.join(90)
    assert victim.wait(10) == -signal.SIGKILL
    assert result.status == "completed" and len(result) == 48
    with sqlite3.connect(tmp_path / "ferroflow.db") as db:
        rows = db.execute("SELECT name, status FROM tasks WHERE run_id = ?", (result.run_id,)).fetchall()
    assert sorted(name for name, _ in rows) == sorted(wf.get_all_tasks())  # each exactly once
    assert {status for _, status in rows} == {"completed"}


CLIENT_SCRIPT = """
import sys, time
from pathlib import Path
from ferroflow import Task, Workflow
from ferroflow.executors.dask import DaskExecutor

markers = Path(sys.argv[2])

def step(name, *ups):
    time.sleep(0.2)
    with open(markers / name, "a") as f:
        f.write("x")
    return name

wf = Workflow("killed-client")
for i in range(25):
    wf.add_task(Task(fn=lambda *u, _n=f"s{i}": step(_n, *u), name=f"s{i}"), depends_on=[f"s{i - 1}"] if i else [])
result = wf.run(executor=DaskExecutor(address=sys.argv[1]), store=sys.argv[3], resume=len(sys.argv) > 4 or None)
print(result.status, sum(r.resumed for r in result.records.values()))
"""


def test_kill_9_of_the_client_then_resume_runs_only_what_had_not_completed(cluster: Cluster, tmp_path: Path) -> None:
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(CLIENT_SCRIPT))
    markers, home = tmp_path / "markers", tmp_path / "home"
    markers.mkdir()
    argv = [sys.executable, str(script), cluster.address, str(markers), str(home)]
    client = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: len(list(markers.iterdir())) >= 6, "six tasks to finish")
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait(10)
    with sqlite3.connect(home / "ferroflow.db") as db:
        done_before = {n for (n,) in db.execute("SELECT name FROM tasks WHERE status = 'completed'")}
    assert len(done_before) >= 3
    resumed = subprocess.run([*argv, "resume"], env=_env(), capture_output=True, text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    status, n_resumed = resumed.stdout.split()
    assert status == "completed" and int(n_resumed) == len(done_before)
    for name in done_before:
        assert (markers / name).read_text() == "x", f"{name} completed before the kill and ran again"
    assert {p.name for p in markers.iterdir()} == {f"s{i}" for i in range(25)}


def test_a_worker_with_another_ferroflow_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "fake" / "ferroflow"
    (fake / "executors").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "executors" / "__init__.py").write_text("")
    (fake / "executors" / "dask_worker.py").write_text("def worker_version():\n    return '0.0.1-other'\n")
    other = Cluster(tmp_path)
    try:
        other.add_worker(env={**os.environ, "PYTHONPATH": str(fake.parent)})
        (worker,) = other.client.scheduler_info()["workers"]
        wf = Workflow("versions")
        wf.add_task(Task(fn=lambda: 1, name="one"))
        with pytest.raises(FerroflowError, match=f"Dask worker {worker} runs ferroflow 0.0.1-other"):
            wf.run(executor=DaskExecutor(address=other.address), store=None)
    finally:
        other.close()


def test_the_cli_runs_on_the_cluster_by_address(cluster: Cluster, tmp_path: Path) -> None:
    target = tmp_path / "flow_on_dask.py"
    target.write_text(
        "from ferroflow import Workflow, task\n"
        "wf = Workflow('cli-dask')\n"
        "wf.add_task(task(lambda: 20, name='a'))\n"
        "wf.add_task(task(lambda a: a + 1, name='b'))\n"
    )
    argv = [sys.executable, "-m", "ferroflow", "--home", str(tmp_path), "run", str(target), "-e", "dask"]
    done = subprocess.run(
        [*argv, "--dask-address", cluster.address], env=_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(tmp_path / "ferroflow.db") as db:
        assert db.execute("SELECT count(*) FROM tasks WHERE status = 'completed'").fetchone() == (2,)
    wrong = subprocess.run(
        [*argv[:-2], "--dask-address", cluster.address], env=_env(), capture_output=True, text=True, check=False
    )
    assert wrong.returncode == 2 and "--dask-address needs --executor dask" in wrong.stdout + wrong.stderr


MISSING_EXTRA = """
import sys
sys.modules["distributed"] = None  # as if ferroflow[dask] were not installed
{body}
"""


def test_without_the_extra_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    body = (
        "from ferroflow import FerroflowError, Workflow, task\n"
        "wf = Workflow('x'); wf.add_task(task(lambda: 1, name='a'))\n"
        "try:\n    wf.run(executor='dask', store=None)\n"
        "except FerroflowError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", MISSING_EXTRA.format(body=body)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "pip install 'ferroflow[dask]'" in done.stdout, done.stderr
    target = tmp_path / "flow.py"
    target.write_text(
        "from ferroflow import Workflow, task\nwf = Workflow('w')\nwf.add_task(task(lambda: 1, name='a'))\n"
    )
    body = (
        f"from ferroflow.cli.app import main\nsys.argv = ['ferroflow', 'run', {str(target)!r}, '-e', 'dask']\nmain()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", MISSING_EXTRA.format(body=body)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "pip install 'ferroflow[dask]'" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_the_statuses_of_a_run_by_address(cluster: Cluster) -> None:
    seen: list[TaskStatus] = []
    wf = Workflow("statuses")
    wf.add_task(Task(fn=lambda: 1, name="one", on_status_change=lambda _n, s: seen.append(s)))
    wf.run(executor=DaskExecutor(address=cluster.address), store=None)
    assert seen == [TaskStatus.RUNNING, TaskStatus.COMPLETED]
