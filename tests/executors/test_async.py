"""The async executor: real concurrency, limits, sync tasks in threads, uvloop."""

from __future__ import annotations

import asyncio
import threading

from ferroflow import AsyncExecutor, Task, ThreadedExecutor, Workflow


def _fan(fn: object, n: int) -> Workflow:
    wf = Workflow("fan")
    for i in range(n):
        wf.add_task(Task(fn=fn, name=f"t{i}"))  # type: ignore[arg-type]
    return wf


def test_coroutines_run_concurrently_on_one_loop() -> None:
    n = 50
    state = {"running": 0, "peak": 0}
    loops: set[int] = set()

    async def meet() -> int:
        loops.add(id(asyncio.get_running_loop()))
        state["running"] += 1
        state["peak"] = max(state["peak"], state["running"])
        for _ in range(500):  # wait until everybody is in: only possible if all run at once
            if state["peak"] == n:
                break
            await asyncio.sleep(0.01)
        state["running"] -= 1
        return state["peak"]

    result = _fan(meet, n).run(executor="async", store=None)
    assert state["peak"] == n and all(v == n for v in result.values())
    assert len(loops) == 1


def test_max_concurrency_is_respected() -> None:
    state = {"running": 0, "peak": 0}

    async def work() -> None:
        state["running"] += 1
        state["peak"] = max(state["peak"], state["running"])
        await asyncio.sleep(0.005)
        state["running"] -= 1

    _fan(work, 30).run(executor=AsyncExecutor(max_concurrency=3), store=None)
    assert state["peak"] == 3


def test_sync_tasks_run_in_threads_off_the_loop() -> None:
    loop_threads: list[int] = []

    async def on_loop() -> int:
        loop_threads.append(threading.get_ident())
        return threading.get_ident()

    wf = Workflow("mixed")
    wf.add_task(Task(fn=on_loop, name="on_loop"))
    wf.add_task(Task(fn=lambda on_loop: threading.get_ident() != on_loop, name="in_thread"))
    assert wf.run(executor="async", store=None)["in_thread"] is True


def test_thread_executor_really_runs_tasks_in_parallel() -> None:
    barrier = threading.Barrier(4, timeout=10)

    def meet() -> int:
        return barrier.wait()  # raises BrokenBarrierError unless 4 run at once

    result = _fan(meet, 4).run(executor=ThreadedExecutor(max_workers=4), store=None)
    assert sorted(result.values()) == [0, 1, 2, 3]


def test_uvloop_option() -> None:
    names: list[str] = []

    async def which() -> None:
        names.append(type(asyncio.get_running_loop()).__module__)

    _fan(which, 2).run(executor=AsyncExecutor(use_uvloop=True), store=None)
    assert names and all(n.startswith("uvloop") for n in names)


def test_run_async_from_a_thread_whose_loop_is_running() -> None:
    async def one() -> int:
        await asyncio.sleep(0)
        return 1

    async def main() -> int:
        wf = _fan(one, 3)
        return sum(wf.run(executor="async", store=None).values())

    assert asyncio.run(main()) == 3
