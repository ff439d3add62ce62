"""The executor protocol: recognised by its methods, usable by a third party, documented."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from ferroflow import BaseExecutor as PublicBase
from ferroflow import Workflow, task
from ferroflow.engine.executor import AsyncPlanExecutor, BaseExecutor, PlanExecutor, resolve_executor
from ferroflow.engine.plan import RunPlan
from ferroflow.executors import ThreadedExecutor

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-an-executor.md"


def _wf() -> Workflow:
    wf = Workflow("proto")
    wf.add_task(task(lambda: 1, name="one"))
    wf.add_task(task(lambda one: one + 1, name="two"))
    return wf


class OnlyRunPlan:
    def __init__(self) -> None:
        self.plans: list[RunPlan] = []

    def run_plan(self, plan: RunPlan) -> None:
        self.plans.append(plan)
        for i in plan.graph.topological_ids():
            plan.execute(i)


class OnlyAsync:
    async def arun_plan(self, plan: RunPlan) -> None:
        for i in plan.graph.topological_ids():
            await plan.execute_async(i)


def test_an_object_with_only_run_plan_is_an_executor() -> None:
    ex = OnlyRunPlan()
    assert isinstance(ex, BaseExecutor) and isinstance(ex, PlanExecutor)
    assert not isinstance(ex, AsyncPlanExecutor)
    assert resolve_executor(ex, None) is ex
    assert _wf().run(executor=ex, store=None)["two"] == 2
    assert len(ex.plans) == 1 and [t.name for t in ex.plans[0].tasks] == ["one", "two"]


def test_an_object_with_only_arun_plan_runs_sync_and_async() -> None:
    ex = OnlyAsync()
    assert isinstance(ex, BaseExecutor) and isinstance(ex, AsyncPlanExecutor)
    assert _wf().run(executor=ex, store=None)["two"] == 2
    assert asyncio.run(_wf().execute_async(executor=ex, store=None))["two"] == 2


def test_other_objects_are_not_executors() -> None:
    assert not isinstance(object(), BaseExecutor)
    with pytest.raises(TypeError, match="executor must be a name or an executor object, got int"):
        _wf().run(executor=3, store=None)
    with pytest.raises(ValueError, match="unknown executor 'fast'"):
        _wf().run(executor="fast", store=None)


def test_the_shipped_executors_subclass_the_public_base() -> None:
    assert PublicBase is BaseExecutor
    ex = resolve_executor("thread", 3)
    assert isinstance(ex, ThreadedExecutor) and ex.max_workers == 3


def test_the_writing_an_executor_page_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102 - the page is ours; its asserts check the results
    ex = namespace["InOrderExecutor"]()  # type: ignore[operator]
    failing = Workflow("failing")
    failing.add_task(task(lambda: 1 / 0, name="boom"))
    failing.add_task(task(lambda boom: boom, name="after"))
    result = failing.run(executor=ex, store=None, raise_on_failure=False)
    assert result.records["boom"].status.value == "failed"
    assert result.records["after"].status.value == "upstream_failed"
