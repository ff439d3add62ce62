"""StateManager: memory, JSON file and SQLite backends; TTL, metadata, threads and processes."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.synchronize
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ferroflow import StateManager, StoreError

from ..conftest import wait_until

BACKENDS = ["memory", "json", "sqlite"]


def _make(kind: str, tmp_path: Path, **kw: float) -> StateManager:
    path = {"memory": None, "json": tmp_path / "state.json", "sqlite": tmp_path / "state.db"}[kind]
    return StateManager(path, **kw)


@pytest.mark.parametrize("kind", BACKENDS)
def test_set_get_has_delete_clear_get_all(kind: str, tmp_path: Path) -> None:
    state = _make(kind, tmp_path)
    state.set("a", {"n": 1}, metadata={"source": "test"})
    state.set("b", [1, 2])
    assert state.get("a") == {"n": 1} and state.has("a") and "b" in state
    assert state.get("missing") is None and state.get("missing", 7) == 7 and not state.has("missing")
    assert state.get_metadata("a") == {"source": "test"} and state.get_metadata("b") == {}
    assert state.get_all() == {"a": {"n": 1}, "b": [1, 2]} and len(state) == 2
    state.set("a", 2)
    entry = state.get_entry("a")
    assert entry is not None and entry.value == 2 and entry.updated_at >= entry.created_at
    assert state.delete("a") is True and state.delete("a") is False
    state.clear()
    assert state.get_all() == {} and state.keys() == []


@pytest.mark.parametrize("kind", BACKENDS)
def test_values_expire_after_their_ttl(kind: str, tmp_path: Path) -> None:
    state = _make(kind, tmp_path, default_ttl=3600)
    state.set("short", 1, ttl=1.0)
    state.set("default", 2)
    assert state.get("short") == 1
    deadline = time.time() + 1.0
    wait_until(lambda: time.time() > deadline)
    assert state.get("short") is None and not state.has("short") and state.get_metadata("short") is None
    assert state.get_all() == {"default": 2}
    assert state.delete("short") is False  # an expired value counts as absent
    state.set("gone", 1, ttl=0.01)
    deadline = time.time() + 0.01
    wait_until(lambda: time.time() > deadline)
    assert state.cleanup_expired() == 1


@pytest.mark.parametrize("kind", BACKENDS)
def test_file_backends_persist_and_memory_does_not(kind: str, tmp_path: Path) -> None:
    first = _make(kind, tmp_path)
    first.set("k", "v")
    second = _make(kind, tmp_path)
    assert second.get("k") == (None if kind == "memory" else "v")


@pytest.mark.parametrize(("kind", "threads", "writes"), [("memory", 16, 1000), ("sqlite", 16, 1000), ("json", 16, 20)])
def test_concurrent_writers_lose_nothing(kind: str, threads: int, writes: int, tmp_path: Path) -> None:
    state = _make(kind, tmp_path)
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def writer(t: int) -> None:
        try:
            start.wait()
            for i in range(writes):
                state.set(f"{t}:{i}", i)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    pool = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == []
    everything = state.get_all()
    assert len(everything) == threads * writes
    assert all(everything[f"{t}:{i}"] == i for t in range(threads) for i in range(writes))


@pytest.mark.parametrize("suffix", [".json", ".db"])
def test_processes_writing_one_state_file_lose_nothing(suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"shared{suffix}"
    code = """
        import sys
        from ferroflow import StateManager
        state = StateManager(sys.argv[1])
        for i in range(40):
            state.set(f"{sys.argv[2]}:{i}", i)
        print("ok")
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(path), str(p)], stdout=subprocess.PIPE, text=True
        )
        for p in range(4)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip() == "ok"
    assert len(StateManager(path).get_all()) == 4 * 40


def test_a_json_state_file_is_never_left_half_written(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = StateManager(path)
    state.set("seed", "x" * 10_000)
    stop = threading.Event()
    seen: list[int] = []
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            text = path.read_text()
            try:
                seen.append(len(json.loads(text)["entries"]))
            except ValueError:
                bad.append(text[:80])

    th = threading.Thread(target=reader)
    th.start()
    try:
        for i in range(200):
            state.set(f"k{i}", "y" * 1000)
    finally:
        stop.set()
        th.join()
    assert bad == [] and seen
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_killed_writer_leaves_the_json_file_valid(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    code = """
        import sys
        from ferroflow import StateManager
        state = StateManager(sys.argv[1])
        i = 0
        while True:
            state.set(f"k{i}", "v" * 500)
            i += 1
    """
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path)])

    def count() -> int:
        try:
            return len(json.loads(path.read_text())["entries"])
        except (OSError, ValueError):
            return 0

    try:
        wait_until(lambda: count() >= 50, timeout=60)
    finally:
        child.kill()
        child.wait(timeout=30)
    values = StateManager(path).get_all()
    assert len(values) >= 50 and all(v == "v" * 500 for v in values.values())


def test_json_state_only_takes_json_values(tmp_path: Path) -> None:
    state = StateManager(tmp_path / "s.json")
    with pytest.raises(TypeError, match="JSON values only"):
        state.set("k", {1, 2})
    assert state.get_all() == {}


def test_sqlite_state_takes_any_picklable_value(tmp_path: Path) -> None:
    state = StateManager(tmp_path / "s.db")
    state.set("k", {1, 2}, metadata={"kind": "set"})
    assert state.get("k") == {1, 2}
    with pytest.raises(TypeError, match="cannot be pickled"):
        state.set("lock", threading.Lock())


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [("s.json", b"{not json", "not a ferroflow state file"), ("s.db", b"garbage" * 200, "not a valid SQLite")],
)
def test_a_corrupt_state_file_gives_a_store_error_and_is_left_alone(
    name: str, content: bytes, match: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(StoreError, match=match) as info:
        StateManager(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == content


def test_keys_must_be_strings() -> None:
    with pytest.raises(TypeError, match="state keys are str"):
        StateManager().set(1, "x")  # type: ignore[arg-type]


def _hammer(state: StateManager, n: int) -> Callable[[], None]:
    def run() -> None:
        for i in range(n):
            state.set("counter", i)
            state.get("counter")

    return run


def test_readers_and_writers_on_sqlite_state_do_not_see_lock_errors(tmp_path: Path) -> None:
    state = StateManager(tmp_path / "busy.db")
    threads = [threading.Thread(target=_hammer(state, 300)) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert state.get("counter") == 299
    assert os.path.exists(tmp_path / "busy.db")


# ---------------------------------------------------------------- atomic read-modify-write


def _count_up(path: str, times: int, start: multiprocessing.synchronize.Event) -> None:
    state = StateManager(path)
    start.wait(60)
    for _ in range(times):
        state.incr("counter")
        state.update("log", lambda seen: [*seen, os.getpid()], default=[])
    state.close()


@pytest.mark.parametrize("suffix", [".json", ".db"])
def test_four_processes_incrementing_one_counter_lose_nothing(suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"counter{suffix}"
    StateManager(path).set("counter", 0)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    times = 150
    procs = [ctx.Process(target=_count_up, args=(str(path), times, start)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()  # all four at once: they contend for every increment
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    state = StateManager(path)
    assert state.get("counter") == 4 * times
    log = state.get("log")
    assert len(log) == 4 * times and sorted(set(log)) == sorted(p.pid for p in procs)


@pytest.mark.parametrize("kind", BACKENDS)
def test_update_and_incr_keep_ttl_and_metadata_unless_given(kind: str, tmp_path: Path) -> None:
    state = _make(kind, tmp_path)
    state.set("n", 5, ttl=3600, metadata={"by": "importer"})
    expires = state.get_entry("n").expires_at  # type: ignore[union-attr]
    assert state.incr("n", 2) == 7 and state.incr("n", by=0.5) == 7.5
    entry = state.get_entry("n")
    assert entry is not None and entry.expires_at == expires and entry.metadata == {"by": "importer"}
    assert state.update("n", lambda v: v * 2, metadata={"by": "doubler"}) == 15
    assert state.get_metadata("n") == {"by": "doubler"}
    assert state.incr("fresh") == 1 and state.get_entry("fresh").expires_at is None  # type: ignore[union-attr]
    state.set("gone", 100, ttl=0.01)
    wait_until(lambda: not state.has("gone"), timeout=10)
    assert state.incr("gone", ttl=60) == 1  # expired: starts from 0 again
    assert state.update("names", lambda names: [*names, "a"], default=[]) == ["a"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_incr_on_a_value_that_is_not_a_number_names_the_key_and_changes_nothing(kind: str, tmp_path: Path) -> None:
    state = _make(kind, tmp_path)
    state.set("name", "abc")
    with pytest.raises(TypeError, match=r"state key 'name' holds str, not a number"):
        state.incr("name")
    assert state.get("name") == "abc"


def test_temporary_files_of_a_killed_json_writer_are_removed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    code = """
        import sys
        from ferroflow import StateManager
        state = StateManager(sys.argv[1])
        i = 0
        while True:  # big saves: a temporary file is there most of the time
            state.set(f"k{i % 20}", "v" * 400_000)
            i += 1
    """
    leftovers: list[str] = []
    for _ in range(20):  # until a kill lands in the middle of a save
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path)])
        try:
            wait_until(lambda: any(p.name.endswith(".tmp") for p in tmp_path.iterdir()), timeout=60, interval=0.001)
        finally:
            child.kill()
            child.wait(timeout=30)
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        if leftovers:
            break
    assert leftovers, "no kill landed in the middle of a save"
    state = StateManager(path)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert all(v == "v" * 400_000 for v in state.get_all().values())
