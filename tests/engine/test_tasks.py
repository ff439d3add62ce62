"""Tasks: the decorator, options, calling, async functions and ``>>`` / ``<<`` wiring."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest
from ferroflow import CycleError, Task, TaskStatus, Workflow, registry, task
from ferroflow.engine.retries import RetryPolicy


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()


def test_bare_decorator_keeps_the_function_callable() -> None:
    @task
    def extract() -> list[int]:
        """Read the rows."""
        return [1, 2]

    assert isinstance(extract, Task)
    assert extract.name == "extract"
    assert extract() == [1, 2]
    assert extract.fn() == [1, 2]
    assert extract.description == "Read the rows."
    assert extract.__wrapped__ is extract.fn


def test_called_decorator_sets_every_option() -> None:
    def on_status(name: str, status: TaskStatus) -> None: ...
    def on_retry(name: str, attempt: int) -> None: ...

    @task(
        retries=3,
        delay=0.5,
        backoff=3.0,
        jitter=0.2,
        max_delay=30,
        retry_on=(ValueError,),
        timeout=10,
        when=lambda size: size > 1000,
        cache_ttl=3600,
        cache_key=lambda size: str(size),
        cache_version=2,
        on_status_change=on_status,
        on_retry=on_retry,
        name="load_db",
    )
    def load(size: int) -> int:
        return size

    assert load.name == "load_db"
    assert load.retries == 3
    assert load.retry == RetryPolicy(3, 0.5, 3.0, 0.2, 30, (ValueError,))
    assert load.timeout == 10
    assert load.when is not None and load.when(2000) is True
    assert (load.cache_ttl, load.cache_version) == (3600, 2)
    assert load.on_status_change is on_status and load.on_retry is on_retry
    assert load(5) == 5
    assert load.needs_full_runner


def test_defaults_match_the_spec_table() -> None:
    t = Task(fn=lambda: 1, name="t")
    assert t.retry == RetryPolicy(retries=0, delay=1.0, backoff=2.0, jitter=0.1, max_delay=None, retry_on=(Exception,))
    assert (t.timeout, t.when, t.cache_ttl, t.cache_key, t.cache_version) == (None, None, None, None, None)
    assert (t.on_status_change, t.on_retry) == (None, None)
    assert not t.needs_full_runner


def test_task_constructor_without_decorator() -> None:
    def double(x: int) -> int:
        return 2 * x

    t = Task(fn=double, name="twice", retries=1)
    assert (t.name, t(4), t.fn is double) == ("twice", 8, True)
    assert Task(double).name == "double"


def test_async_functions_are_accepted() -> None:
    @task
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    assert fetch.is_async()
    assert asyncio.run(fetch(1)) == 2


@pytest.mark.parametrize("bad", [42, "name", None])
def test_non_callable_fn_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="callable"):
        Task(fn=bad, name="x")  # type: ignore[arg-type]


def test_lambda_needs_a_name() -> None:
    with pytest.raises(TypeError, match="needs a name"):
        Task(fn=lambda: 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries"),
        ({"delay": -1}, "delay"),
        ({"jitter": 2}, "jitter"),
        ({"timeout": 0}, "timeout"),
        ({"cache_ttl": -5}, "cache_ttl"),
        ({"retry_on": (42,)}, "retry_on"),
        ({"when": 3}, "when"),
        ({"on_retry": "x"}, "on_retry"),
    ],
)
def test_bad_options_name_the_task(options: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message) as info:
        Task(fn=lambda: 1, name="bad_task", **options)  # type: ignore[arg-type]
    assert "bad_task" in str(info.value)


def test_task_can_be_called_with_a_function_and_options() -> None:
    t = task(lambda: 1, name="x", retries=2)
    assert (t.name, t.retries, t()) == ("x", 2, 1)


def _tasks(*names: str) -> list[Task[..., int]]:
    return [Task(fn=lambda: 0, name=n) for n in names]


def test_rshift_returns_right_side_and_wires() -> None:
    a, b, c, d = _tasks("a", "b", "c", "d")
    assert (a >> b) is b
    fan = a >> [c, d]
    assert fan == [c, d]
    assert ([c, d] >> b) is b
    assert [t.name for t in b.upstream] == ["a", "c", "d"]
    assert [t.name for t in a.downstream] == ["b", "c", "d"]


def test_lshift_is_the_mirror() -> None:
    a, b, c, x, y, z, w = _tasks("a", "b", "c", "x", "y", "z", "w")
    assert (c << b << a) is a  # c depends on b, b depends on a
    assert [t.name for t in c.upstream] == ["b"]
    assert [t.name for t in b.upstream] == ["a"]
    assert (z << [x, y]) == [x, y]
    assert [t.name for t in z.upstream] == ["x", "y"]
    assert ([w] << z) is z
    assert [t.name for t in w.upstream] == ["z"]


def test_wiring_twice_adds_one_edge() -> None:
    a, b = _tasks("a", "b")
    a >> b
    a >> b
    assert b.upstream == [a]


def test_wiring_a_task_to_itself_is_a_cycle() -> None:
    (a,) = _tasks("a")
    with pytest.raises(CycleError) as info:
        a >> a
    assert info.value.cycle == ["a", "a"]


def test_wiring_to_something_else_is_a_type_error() -> None:
    (a,) = _tasks("a")
    with pytest.raises(TypeError, match="Task"):
        a >> 3  # type: ignore[operator]


def test_registry_holds_tasks_by_name_latest_wins() -> None:
    first = Task(fn=lambda: 1, name="same")
    second = Task(fn=lambda: 2, name="same")
    assert registry.get("same") is second
    assert first not in registry and second in registry
    registry.clear()
    assert len(registry) == 0


def test_registry_forgets_tasks_added_to_a_workflow_and_keeps_order() -> None:
    from ferroflow import Workflow

    a, b, c = _tasks("a", "b", "c")
    wf = Workflow("owner")
    wf.add_task(b)
    assert [t.name for t in registry] == ["a", "c"]
    b2 = Task(fn=lambda: 2, name="b")  # a new stray with the name of an owned task
    a2 = Task(fn=lambda: 3, name="a")  # replaces `a` and moves to the end
    assert registry.tasks == [c, b2, a2]
    wf.add_task(a2)
    assert registry.tasks == [c, b2]  # the replaced `a` does not come back
    registry.unregister(a)  # no longer registered: nothing happens
    assert registry.tasks == [c, b2]


def test_registry_stays_right_past_many_registrations() -> None:
    from ferroflow import Workflow

    wf = Workflow("many")
    kept = []
    for i in range(5000):
        t = Task(fn=lambda: 0, name=f"t{i % 1500}")
        if i % 7 == 0:
            wf.add_task(Task(fn=lambda: 0, name=f"owned{i}"))
        kept.append(t)
    latest = {t.name: t for t in kept}
    assert len(registry._log) < 3000  # compacted as it grew, not one entry per registration
    assert len(registry) == 1500
    assert registry.tasks == sorted(latest.values(), key=lambda t: t._seq)
    assert all(registry.get(name) is t for name, t in latest.items())


def test_a_task_can_be_in_several_registries() -> None:
    from ferroflow import TaskRegistry

    mine = TaskRegistry()
    (a,) = _tasks("a")
    mine.register(a)
    assert a in registry and a in mine
    registry.unregister(a)
    assert a not in registry and a in mine
    mine.unregister(a)
    assert len(mine) == 0


def test_task_pickles_without_its_neighbours() -> None:
    import cloudpickle

    a, b = _tasks("a", "b")
    a >> b
    copy = cloudpickle.loads(cloudpickle.dumps(b))
    assert copy.name == "b" and copy.upstream == [] and copy() == 0


def test_task_options_match_the_task_signature() -> None:
    import inspect
    import typing

    from ferroflow.engine.tasks import TaskOptions

    params = inspect.signature(Task.__init__).parameters
    assert list(TaskOptions.__annotations__) == [p for p in params if p not in ("self", "fn")]
    hints = typing.get_type_hints(TaskOptions)
    init_hints = typing.get_type_hints(Task.__init__)
    assert {k: hints[k] for k in hints} == {k: init_hints[k] for k in hints}


def test_a_callable_object_whose_class_states_its_signature() -> None:
    class Runner:
        __signature__ = inspect.Signature()

        def __init__(self, doc: str, value: int) -> None:
            self.__doc__ = doc
            self.value = value

        def __call__(self) -> int:
            return self.value

    class AsyncRunner:
        __signature__ = inspect.Signature([inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)])

        async def __call__(self, x: int) -> int:
            await asyncio.sleep(0)
            return x + 1

    first, second = Task(fn=Runner("first doc", 1), name="first"), Task(fn=Runner("second doc", 2), name="second")
    assert first.params == second.params == () and not first.is_async()
    assert (first.description, second.description) == ("first doc", "second doc")  # per object, not per class
    sink = Task(fn=AsyncRunner(), name="sink")
    assert [p.name for p in sink.params] == ["x"] and sink.is_async() and sink.named_params == ("x",)
    wf = Workflow("stated")
    wf.add_task(first)
    wf.add_task(Task(fn=AsyncRunner(), name="plus"), depends_on=["first"])
    result = wf.run(executor="sequential", store=None)
    assert result["first"] == 1 and result["plus"] == 2
