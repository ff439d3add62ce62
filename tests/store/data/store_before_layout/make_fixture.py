"""Writes the store and state files of this folder with ferroflow as it was before the package layout.

Run with the old package on the path: ``python make_fixture.py OUT_DIR``. The files
are read back by ``tests/store/test_old_files.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ferroflow import PipelineReport, RetryPolicy, StateManager, TaskStatus, Workflow, task
from ferroflow.store import DEFAULT_STORE


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def total(numbers: list[int]) -> dict[str, Any]:
    return {"sum": sum(numbers), "status": TaskStatus.COMPLETED, "policy": RetryPolicy(), "default": DEFAULT_STORE}


@task
def report() -> PipelineReport:
    return PipelineReport(stage="fixture", metadata={"k": 1})


@task(cache_ttl=1e11)  # stays valid for the life of the fixture
def cached(numbers: list[int]) -> int:
    return len(numbers)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    wf = Workflow("fixture")
    for t in (numbers, total, report, cached):
        wf.add_task(t)
    print(wf.run(store=out / "ferroflow.db", executor="sequential").status)
    StateManager(out / "state.db").set("answer", {"v": 42, "status": TaskStatus.FAILED}, metadata={"from": "fixture"})


if __name__ == "__main__":
    main(Path(sys.argv[1]))
