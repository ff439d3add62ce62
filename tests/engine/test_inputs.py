"""The input-binding rule (docs/guide/tasks.md, "How a task gets its inputs"), through real workflow runs."""

from __future__ import annotations

from typing import Any

import pytest
from ferroflow import CycleError, Task, TaskStatus, Workflow, task
from ferroflow.engine.inputs import plan_binding
from ferroflow.engine.tasks import signature_params as _signature_params


def _run(wf: Workflow, **kwargs: Any) -> Any:
    return wf.run(executor="sequential", store=None, **kwargs)


def _wf(*specs: tuple[str, Any, list[str] | None]) -> Workflow:
    wf = Workflow("inputs")
    for name, fn, deps in specs:
        wf.add_task(Task(fn=fn, name=name), depends_on=deps)
    return wf


def test_declared_upstream_fills_the_first_positional_parameter() -> None:
    wf = _wf(("extract", lambda: [1, 2], None), ("transform", lambda data: sum(data), ["extract"]))
    assert _run(wf)["transform"] == 3


def test_upstreams_fill_positionals_in_declaration_order() -> None:
    wf = _wf(
        ("a", lambda: "A", None),
        ("b", lambda: "B", None),
        ("join", lambda first, second: first + second, ["b", "a"]),
    )
    assert _run(wf)["join"] == "BA"


def test_parameter_named_after_a_task_gets_its_result_and_becomes_an_upstream() -> None:
    wf = _wf(("users", lambda: ["ann"], None), ("count", lambda users: len(users), None))
    assert wf.get_dependencies("count") == ["users"]
    assert _run(wf)["count"] == 1


def test_named_parameters_win_over_declaration_order() -> None:
    wf = _wf(
        ("a", lambda: 1, None),
        ("b", lambda: 2, None),
        ("f", lambda x, a: (x, a), ["a", "b"]),
    )
    # `a` binds by name (rule 1); the remaining upstream `b` fills `x` (rule 2).
    assert _run(wf)["f"] == (2, 1)


def test_run_params_fill_parameters_of_the_same_name() -> None:
    wf = _wf(("a", lambda: 10, None), ("scale", lambda value, factor: value * factor, ["a"]))
    assert _run(wf, params={"factor": 3})["scale"] == 30


def test_defaults_are_kept_and_zero_argument_functions_get_nothing() -> None:
    wf = _wf(("a", lambda: 1, None), ("b", lambda: "no args", ["a"]), ("c", lambda x, y=5: x + y, ["a"]))
    result = _run(wf)
    assert (result["b"], result["c"]) == ("no args", 6)


def test_extra_upstream_results_only_order() -> None:
    wf = _wf(("a", lambda: 1, None), ("b", lambda: 2, None), ("one", lambda x: x, ["a", "b"]))
    assert _run(wf)["one"] == 1


def test_var_positional_takes_the_remaining_upstreams() -> None:
    wf = _wf(
        ("a", lambda: 1, None),
        ("b", lambda: 2, None),
        ("c", lambda: 3, None),
        ("collect", lambda first, *rest: (first, rest), ["a", "b", "c"]),
    )
    assert _run(wf)["collect"] == (1, (2, 3))


def test_var_keyword_takes_unbound_upstreams_by_task_name() -> None:
    def combine(a: int, **others: int) -> dict[str, int]:
        return {"a": a, **others}

    wf = _wf(("a", lambda: 1, None), ("b", lambda: 2, None), ("c", lambda: 3, None), ("combine", combine, ["b", "c"]))
    assert _run(wf)["combine"] == {"a": 1, "b": 2, "c": 3}


def test_keyword_only_parameters_bind_by_name_only() -> None:
    def f(*, mode: str = "x", a: int) -> tuple[str, int]:
        return mode, a

    wf = _wf(("a", lambda: 7, None), ("f", f, None))
    assert _run(wf, params={"mode": "fast"})["f"] == ("fast", 7)


def test_skipped_upstream_passes_none() -> None:
    wf = Workflow("skip")
    wf.add_task(Task(fn=lambda: 1, name="maybe", when=lambda: False))
    wf.add_task(Task(fn=lambda maybe: maybe is None, name="after"))
    result = _run(wf)
    assert wf.get_task_status("maybe") is TaskStatus.SKIPPED
    assert result["after"] is True
    assert "maybe" not in result


def test_none_is_a_result_like_any_other() -> None:
    wf = _wf(("nothing", lambda: None, None), ("check", lambda nothing: nothing is None, None))
    result = _run(wf)
    assert "nothing" in result and result["nothing"] is None
    assert result["check"] is True


def test_missing_required_parameter_fails_the_task_with_a_clear_error() -> None:
    wf = _wf(("needs", lambda value: value, None))
    result = _run(wf, raise_on_failure=False)
    error = result.errors["needs"]
    assert isinstance(error, TypeError)
    assert "needs" in str(error) and "'value'" in str(error)


def test_name_injection_closing_a_loop_raises_at_add_task() -> None:
    wf = Workflow("loop")
    wf.add_task(Task(fn=lambda c: c, name="a"))  # `c` does not exist yet: no edge
    wf.add_task(Task(fn=lambda: 0, name="b"), depends_on=["a"])
    with pytest.raises(CycleError) as info:
        wf.add_task(Task(fn=lambda: 0, name="c"), depends_on=["b"])  # a needs c by name: c -> a -> b -> c
    assert info.value.cycle[0] == info.value.cycle[-1]
    assert set(info.value.cycle) == {"a", "b", "c"}
    # The rejected task left nothing behind: the workflow still works.
    assert "c" not in wf
    wf.add_task(Task(fn=lambda: 5, name="d"))
    result = _run(wf, raise_on_failure=False)
    assert isinstance(result.errors["a"], TypeError)  # its `c` has no value
    assert wf.get_task_status("b") is TaskStatus.UPSTREAM_FAILED
    assert result["d"] == 5


def test_a_parameter_named_after_a_later_task_makes_an_edge_when_it_arrives() -> None:
    wf = Workflow("later")
    wf.add_task(Task(fn=lambda source: source * 2, name="double"))
    wf.add_task(Task(fn=lambda: 21, name="source"))
    assert wf.get_dependencies("double") == ["source"]
    assert _run(wf)["double"] == 42


def test_binding_is_planned_once_with_fast_positional_ids() -> None:
    def f(x: int, y: int) -> int:
        return x + y

    b = plan_binding("f", _signature_params(f), [("a", 0), ("b", 1)], {})
    assert b.up_pos == (0, 1)
    assert b.gather([1, 2]) == ([1, 2], {})
    b2 = plan_binding("f", _signature_params(f), [("a", 0)], {"y": 5})
    assert b2.up_pos is None
    args, kwargs = b2.gather([1])
    assert f(*args, **kwargs) == 6


def test_positional_only_parameters_are_passed_positionally() -> None:
    def f(a: int, b: int = 2, /, c: int = 3) -> tuple[int, int, int]:
        return a, b, c

    b = plan_binding("f", _signature_params(f), [("x", 0)], {"c": 9})
    assert f(*b.gather([1])[0], **b.gather([1])[1]) == (1, 2, 9)


def test_a_run_parameter_keeps_its_named_parameter_from_positional_fill() -> None:
    @task
    def extract_rows() -> list[int]:
        return [1, 2]

    @task
    def tag(date: str, data: list[int]) -> tuple[str, list[int]]:
        return date, data

    wf = Workflow("by-name-first")
    wf.add_task(extract_rows)
    wf.add_task(tag, depends_on=["extract_rows"])
    assert wf.run(params={"date": "D"}, store=None)["tag"] == ("D", [1, 2])
