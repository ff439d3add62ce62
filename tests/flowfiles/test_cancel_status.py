"""A script stopped by a cancel of its run is ``cancelled`` with the reason, not ``failed``."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from ferroflow import TaskStatus, load_flow
from ferroflow.store.store import Store

from tests.conftest import wait_until


def test_a_cancelled_script_and_its_downstream_are_cancelled(tmp_path: Path) -> None:
    started = tmp_path / "started"
    code = f"import pathlib, time; pathlib.Path({str(started)!r}).write_text('1'); time.sleep(120)"
    flow = tmp_path / "slow.json"
    flow.write_text(
        json.dumps(
            {
                "name": "slow",
                "tasks": [
                    {"id": "sleep", "command": [sys.executable, "-c", code], "retries": 2, "retry_delay": 0},
                    {"id": "after", "command": ["true"], "depends_on": ["sleep"]},
                ],
            }
        )
    )
    workflow = load_flow(flow, output_dir=tmp_path / "out")
    store = Store(tmp_path / "s.db")
    box: list[Any] = []
    runner = threading.Thread(target=lambda: box.append(workflow.run(store=store, raise_on_failure=False)))
    runner.start()
    wait_until(started.exists, timeout=30)
    workflow.flow.cancel.set()
    runner.join(timeout=60)
    assert not runner.is_alive()
    (result,) = box
    assert result.status == "cancelled" and not result.errors
    sleep = result.records["sleep"]
    assert sleep.status is TaskStatus.CANCELLED and sleep.attempts == 1
    assert sleep.reason is not None and "stopped by a cancel of the run" in sleep.reason
    assert "exit code" not in sleep.reason
    assert result.records["after"].status is TaskStatus.CANCELLED
    run = store.get_run(result.run_id)
    assert run.run.status == "cancelled"
    assert run.task("sleep").status == "cancelled" and run.task("sleep").error is None
    steps = {s.id: s for s in result.report.steps}
    assert steps["sleep"].status.value == "SKIPPED"
    assert any("stopped by a cancel of the run" in note for note in steps["sleep"].notes)
    store.close()
