"""Result cache: stable keys, what they cover, hits across processes, expiry and refresh."""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ferroflow import UncacheableWarning, Workflow, task
from ferroflow.store.cache import cache_key, stable_digest
from ferroflow.store.store import open_store

from ..conftest import wait_until


def _task(fn: Callable[..., Any], name: str | None = None, **kw: Any) -> SimpleNamespace:
    return SimpleNamespace(
        name=name or fn.__name__, fn=fn, cache_key=kw.get("cache_key"), cache_version=kw.get("cache_version")
    )


def add(x: int, y: int = 1) -> int:
    return x + y


FACTOR = 3
HISTORY: list[int] = []


def classify(word: str) -> bool:
    return word in {"alpha", "beta", "gamma", "delta"}  # a frozenset constant: hash-ordered


def scaled(x: int) -> int:
    HISTORY.append(x)
    return x * FACTOR


@dataclasses.dataclass(frozen=True)
class Limits:
    low: int
    high: int


# ---------------------------------------------------------------- keys


def test_keys_depend_on_inputs_not_on_how_they_are_passed() -> None:
    t = _task(add)
    k = cache_key(t, (1,), {})
    assert k is not None and len(k) == 64
    assert k == cache_key(t, (), {"x": 1}) == cache_key(t, (1, 1), {})
    assert k != cache_key(t, (2,), {})
    assert k != cache_key(_task(add, name="other"), (1,), {})


def test_dict_and_set_inputs_hash_the_same_in_any_order() -> None:
    t = _task(add)
    a = {"b": {3, 1, 2}, "a": [{"y": 1, "x": 2}]}
    b = {"a": [{"x": 2, "y": 1}], "b": {2, 3, 1}}
    assert cache_key(t, (a,), {}) == cache_key(t, (b,), {})
    assert stable_digest(frozenset({"a", "b"})) != stable_digest({"a", "b"})


def test_keys_are_the_same_in_another_process_with_another_hash_seed() -> None:
    t = _task(add)
    inputs = ({"s": {"alpha", "beta", "gamma"}, "n": 1.5}, (b"x", None))
    code = """
        import sys
        from types import SimpleNamespace
        sys.path.insert(0, sys.argv[1])
        from tests.store.test_cache import add, classify
        from ferroflow.store.cache import cache_key
        t = SimpleNamespace(name="add", fn=add, cache_key=None, cache_version=None)
        c = SimpleNamespace(name="classify", fn=classify, cache_key=None, cache_version=None)
        print(cache_key(t, ({"s": {"gamma", "alpha", "beta"}, "n": 1.5}, (b"x", None)), {}), cache_key(c, ("x",), {}))
    """
    root = str(Path(__file__).resolve().parents[2])
    keys = {
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code), root],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2", "random")
    }
    c = _task(classify)
    assert keys == {f"{cache_key(t, inputs, {})} {cache_key(c, ('x',), {})}"}


def test_identical_bodies_with_different_closures_never_share_a_key() -> None:
    def make(n: int, limits: Limits) -> Callable[[int], int]:
        def body(x: int) -> int:
            return x + n + limits.low

        return body

    k1 = cache_key(_task(make(1, Limits(0, 9)), name="t"), (5,), {})
    assert k1 == cache_key(_task(make(1, Limits(0, 9)), name="t"), (5,), {})
    assert k1 != cache_key(_task(make(2, Limits(0, 9)), name="t"), (5,), {})
    assert k1 != cache_key(_task(make(1, Limits(1, 9)), name="t"), (5,), {})


def test_closed_over_functions_are_fingerprinted() -> None:
    def make(helper: Callable[[int], int]) -> Callable[[int], int]:
        return lambda x: helper(x)

    assert cache_key(_task(make(lambda v: v + 1), name="t"), (1,), {}) != cache_key(
        _task(make(lambda v: v + 2), name="t"), (1,), {}
    )


def test_mutable_closure_state_does_not_change_the_key() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def body(x: int) -> int:
        with lock:
            calls.append(x)
        return x

    k = cache_key(_task(body), (1,), {})
    calls.extend(range(10))
    assert k is not None and cache_key(_task(body), (1,), {}) == k


def test_plain_globals_are_covered_and_mutable_ones_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    k = cache_key(_task(scaled), (2,), {})
    HISTORY.append(99)
    assert cache_key(_task(scaled), (2,), {}) == k
    monkeypatch.setattr(sys.modules[__name__], "FACTOR", 4)
    assert cache_key(_task(scaled), (2,), {}) != k


def test_cache_version_changes_the_key() -> None:
    assert cache_key(_task(add, cache_version=1), (1,), {}) != cache_key(_task(add, cache_version=2), (1,), {})
    assert cache_key(_task(add, cache_version=1), (1,), {}) == cache_key(_task(add, cache_version=1), (1,), {})


def test_editing_the_task_source_changes_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = tmp_path / "edited_task_mod.py"
    mod.write_text("def work(x):\n    return x + 1\n")
    module = importlib.import_module("edited_task_mod")
    k1 = cache_key(_task(module.work), (1,), {})
    mod.write_text("def work(x):\n    return x + 2  # changed\n")
    importlib.invalidate_caches()
    module = importlib.reload(module)
    k2 = cache_key(_task(module.work), (1,), {})
    sys.modules.pop("edited_task_mod", None)
    assert k1 != k2


def test_functions_without_source_use_their_code() -> None:
    ns1: dict[str, Any] = {}
    ns2: dict[str, Any] = {}
    exec("def f(x):\n    return x * 2\n", ns1)  # noqa: S102 - a function without source on purpose
    exec("def f(x):\n    return x * 3\n", ns2)  # noqa: S102
    assert cache_key(_task(ns1["f"]), (1,), {}) != cache_key(_task(ns2["f"]), (1,), {})


def test_unpicklable_inputs_make_the_call_uncached_with_a_warning() -> None:
    with pytest.warns(UncacheableWarning, match="task 'add' is not cached"):
        assert cache_key(_task(add), (threading.Lock(),), {}) is None


def test_a_custom_cache_key_replaces_the_input_hash() -> None:
    seen: list[dict[str, Any]] = []

    def by_id(inputs: dict[str, Any]) -> str:
        seen.append(inputs)
        return str(inputs["x"]["id"])

    t = _task(add, cache_key=by_id)
    assert cache_key(t, ({"id": 7, "noise": 1},), {}) == cache_key(t, ({"id": 7, "noise": 2},), {})
    assert seen[0] == {"x": {"id": 7, "noise": 1}, "y": 1}
    with pytest.warns(UncacheableWarning, match="cache_key function raised KeyError"):
        assert cache_key(t, ({"no_id": 1},), {}) is None


# ---------------------------------------------------------------- store


def test_cache_entries_expire(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store is not None
    store.cache_put("short", "t", [1], ttl_seconds=1.0)
    store.cache_put("long", "t", [2], ttl_seconds=3600)
    store.cache_put("forever", "t", None, ttl_seconds=None)
    assert store.cache_get("short") == (True, [1])
    deadline = time.time() + 1.0
    wait_until(lambda: time.time() > deadline)
    assert store.cache_get("short") == (False, None)
    assert store.cache_get("long") == (True, [2])
    assert store.cache_get("forever") == (True, None)
    assert store.cache_clear(expired_only=True) == 1
    assert store.cache_clear("t") == 2


CACHED_WORKFLOW = """
    import os, sys
    from pathlib import Path
    from ferroflow import Workflow, task

    @task
    def source():
        return int(os.environ.get("FF_INPUT", "3"))

    @task(cache_ttl=float(os.environ.get("FF_TTL", "3600")))
    def expensive(source):
        with open(os.environ["FF_TEST_MARKS"], "a") as fh:
            fh.write("expensive\\n")
        return {"square": source * source}

    wf = Workflow("cached")
    wf.add_task(source)
    wf.add_task(expensive, depends_on=["source"])

    if __name__ == "__main__":
        result = wf.run(store=sys.argv[1], refresh="--refresh" in sys.argv)
        print(result["expensive"]["square"], result.records["expensive"].cached)
"""


def test_cached_results_are_shared_across_processes_until_they_expire(tmp_path: Path) -> None:
    script = tmp_path / "cached_flow.py"
    script.write_text(textwrap.dedent(CACHED_WORKFLOW))
    marks = tmp_path / "marks.txt"
    db = tmp_path / "shared.db"

    def run(*extra: str, **env: str) -> str:
        proc = subprocess.run(
            [sys.executable, str(script), str(db), *extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "FF_TEST_MARKS": str(marks), **env},
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def runs() -> int:
        return marks.read_text().count("expensive") if marks.exists() else 0

    assert run() == "9 False" and runs() == 1
    assert run() == "9 True" and runs() == 1  # another process: a hit
    assert run(FF_INPUT="4") == "16 False" and runs() == 2  # other inputs: a miss
    assert run("--refresh") == "9 False" and runs() == 3  # refresh recomputes
    assert run() == "9 True" and runs() == 3

    assert run(FF_INPUT="5", FF_TTL="0.3") == "25 False" and runs() == 4
    deadline = time.time() + 0.3
    wait_until(lambda: time.time() > deadline)
    assert run(FF_INPUT="5", FF_TTL="0.3") == "25 False" and runs() == 5  # expired: recomputed


def test_the_key_is_the_same_for_two_workflow_objects(tmp_path: Path) -> None:
    calls: list[int] = []

    def build() -> Workflow:
        @task(cache_ttl=60, name="double")
        def double() -> int:
            calls.append(1)
            return 2

        wf = Workflow("w")
        wf.add_task(double)
        return wf

    first = build().run(store=tmp_path)
    second = build().run(store=tmp_path)
    assert first["double"] == second["double"] == 2
    assert calls == [1] and second.records["double"].cached


def test_an_uncacheable_call_still_runs(tmp_path: Path) -> None:
    @task
    def make_lock() -> threading.Lock:
        return threading.Lock()

    @task(cache_ttl=60)
    def use(make_lock: threading.Lock) -> str:
        return "ran"

    wf = Workflow("locks")
    wf.add_task(make_lock)
    wf.add_task(use, depends_on=["make_lock"])
    with pytest.warns(UncacheableWarning):
        assert wf.run(store=tmp_path)["use"] == "ran"
