"""Failed tasks in full for the terminal: every failed attempt's error and traceback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.text import Text

from ..safetext import safe_str
from ..store.records import TaskSummary, attempts_of

__all__ = ["failed_attempts", "render_failures"]


def failed_attempts(tasks: Sequence[TaskSummary]) -> dict[str, list[dict[str, Any]]]:
    """Task name -> its failed attempts (``number``, ``error``, ``traceback``, times), for tasks that have any."""
    found = {t.name: attempts_of(t) for t in tasks}
    return {name: attempts for name, attempts in found.items() if attempts}


def render_failures(tasks: Sequence[TaskSummary]) -> Group | None:
    """Each task's failed attempts: a heading per attempt, its error and its traceback; None without any."""
    parts: list[Text] = []
    for name, attempts in failed_attempts(tasks).items():
        for attempt in attempts:
            number = attempt.get("number") or "?"
            parts.append(Text.assemble("\n", (f"{name}", "bold"), (f" attempt {number} failed", "red")))
            error = safe_str(attempt.get("error") or "").strip()
            trace = safe_str(attempt.get("traceback") or "").rstrip()
            if error:
                parts.append(Text(error, style="red"))
            if trace:
                parts.append(Text(trace, style="dim"))
    return Group(Text("failures", style="bold red"), *parts) if parts else None
