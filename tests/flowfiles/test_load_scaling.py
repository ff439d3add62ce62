"""Loading a flow file does linear work in its number of tasks (counted, not timed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import ferroflow.flowfiles as flowfiles_package
from ferroflow import load_flow

FLOWFILES_DIR = str(Path(flowfiles_package.__file__).parent)


def _write_chain(folder: Path, n: int) -> Path:
    tasks = [
        {"id": f"t{i}", "command": ["echo", f"{i}"], **({"depends_on": [f"t{i - 1}"]} if i else {})} for i in range(n)
    ]
    path = folder / f"chain{n}.json"
    path.write_text(json.dumps({"name": f"chain{n}", "tasks": tasks}))
    return path


def _lines_run(path: Path, budget: int) -> int:
    """Lines of ``ferroflow/flowfiles`` executed to load ``path`` and build its dry run; stops
    counting (and returns ``budget + 1``) once past ``budget``."""
    count = 0

    def tracer(frame: FrameType, event: str, _arg: Any) -> Any:
        nonlocal count
        if count > budget:
            frame.f_trace = None
            sys.settrace(None)
            return None
        if event == "call":
            return tracer if frame.f_code.co_filename.startswith(FLOWFILES_DIR) else None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        load_flow(path, output_dir=path.parent / "out").dry_run()
    finally:
        sys.settrace(None)
    return count


def test_loading_and_the_dry_run_do_linear_work(tmp_path: Path) -> None:
    small = _lines_run(_write_chain(tmp_path, 500), budget=10**9)
    big = _lines_run(_write_chain(tmp_path, 2000), budget=small * 8)
    # Four times the tasks: about four times the lines (a per-task scan of the tasks made it ~16).
    assert big <= small * 5, f"500 tasks: {small} lines, 2000 tasks: {big} lines"
