"""The run progress display: a Rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io
import time

from ferroflow.cli._output import Output
from ferroflow.cli.progress import RunProgress
from ferroflow.results import TaskRecord, TaskStatus
from rich.console import Console


def _records() -> list[TaskRecord]:
    now = time.time()
    return [
        TaskRecord("a", TaskStatus.COMPLETED, attempts=1, started_at=now, finished_at=now + 0.5),
        TaskRecord("b", TaskStatus.FAILED, attempts=3, started_at=now, finished_at=now + 1, reason=None),
        TaskRecord("c", TaskStatus.UPSTREAM_FAILED, reason="upstream task 'b' failed"),
    ]


def test_terminal_shows_a_bar_with_done_total_failures_and_running_tasks() -> None:
    output = Output()
    buffer = io.StringIO()
    output.err = Console(file=buffer, force_terminal=True, color_system=None, width=140)
    assert output.live
    with RunProgress(output, "wf", 3) as progress:
        progress.task_started("a")
        progress.task_started("b")
        assert progress._live is not None
        progress._live._bar.refresh()
        for record in _records():
            progress(record)
    text = buffer.getvalue()
    # Failures count FAILED tasks only, as the run's stats and the summary do.
    assert "3/3" in text and "1 failed" in text and "c upstream_failed: upstream task 'b' failed" in text
    assert "running: a, b" in text
    assert (progress.done, progress.failed) == (3, 1)


def test_plain_lines_when_not_a_terminal(capsys: object) -> None:
    output = Output()
    assert not output.is_tty
    with RunProgress(output, "wf", 3) as progress:
        for record in _records():
            progress(record)
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert out.splitlines() == [
        "running wf (3 tasks)",
        "[1/3] a completed in 0.50s",
        "[2/3] b failed in 1.00s after 3 attempts",
        "[3/3] c upstream_failed: upstream task 'b' failed",
    ]
