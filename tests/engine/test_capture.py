"""What Python tasks print is kept in their logs (and the report), on every executor."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from ferroflow import Task, Workflow
from ferroflow.context import MAX_OUTPUT_LINES


def talk() -> int:
    print("hello", "world")
    print("no newline at the end", end="")
    return 1


def complain(talk: int) -> None:
    print("something is off", file=sys.stderr)
    raise ValueError("broken")


async def murmur() -> int:
    print("from a coroutine")
    return 2


def quiet() -> int:
    return 3


def _workflow() -> Workflow:
    wf = Workflow("printing")
    for fn in (talk, complain, murmur, quiet):
        wf.add_task(Task(fn=fn))
    return wf


@pytest.mark.parametrize("executor", ["sequential", "thread", "async", "process"])
def test_printed_lines_are_kept_per_task(executor: str) -> None:
    before = sys.stdout, sys.stderr
    result = _workflow().run(executor=executor, store=None, raise_on_failure=False)
    logs = {name: rec.logs for name, rec in result.records.items()}
    assert logs == {
        "talk": ["stdout: hello world", "stdout: no newline at the end"],
        "complain": ["stderr: something is off"],
        "murmur": ["stdout: from a coroutine"],
        "quiet": [],
    }
    assert (sys.stdout, sys.stderr) == before  # the streams are given back


def test_printed_text_still_reaches_the_terminal_and_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    result = _workflow().run(executor="thread", raise_on_failure=False)
    out, err = capsys.readouterr()
    assert "hello world" in out and "from a coroutine" in out and "something is off" in err
    steps = {step.id: step for step in result.report.steps}
    assert steps["talk"].metadata["logs"][0] == "stdout: hello world"


def test_a_flood_of_output_is_capped_and_counted() -> None:
    def chatty() -> None:
        for i in range(MAX_OUTPUT_LINES + 5):
            print(f"line {i}")

    wf = Workflow("chatty")
    wf.add_task(Task(fn=chatty))
    logs = wf.run(executor="sequential", store=None).records["chatty"].logs
    assert len(logs) == MAX_OUTPUT_LINES + 1
    assert logs[0] == "stdout: line 0" and logs[-1] == "stdout: ... 5 more line(s) not kept"


def test_a_run_inside_a_task_keeps_the_streams_wrapped_until_the_outer_run_ends() -> None:
    seen: list[Any] = []

    def outer() -> None:
        inner = Workflow("inner")
        inner.add_task(Task(fn=lambda: print("inner speaking"), name="speak"))
        inner.run(executor="sequential", store=None)
        seen.append(type(sys.stdout).__name__)
        print("outer speaking")

    wf = Workflow("outer")
    wf.add_task(Task(fn=outer))
    result = wf.run(executor="thread", store=None)
    assert seen == ["_Tee"]
    assert result.records["outer"].logs == ["stdout: outer speaking"]


def test_output_outside_tasks_is_not_kept_anywhere(capsys: pytest.CaptureFixture[str]) -> None:
    printed: list[str] = []
    wf = Workflow("progress")
    wf.add_task(Task(fn=quiet))
    result = wf.run(executor="sequential", store=None, progress=lambda rec: print(f"done {rec.name}"))
    printed.append(capsys.readouterr().out)
    assert printed == ["done quiet\n"] and result.records["quiet"].logs == []
