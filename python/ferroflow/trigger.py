"""How a run was started: from Python, the CLI, a schedule or a file event.

The CLI, the scheduler daemon and the watcher say who they are around the runs
they start; the engine records it with the run, so the run history and the
dashboard can show what started each run.

Example:
    >>> from ferroflow.trigger import current_trigger, started_by
    >>> current_trigger().kind
    'python'
    >>> with started_by("cli", target="etl.json"):
    ...     current_trigger().target
    'etl.json'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["KINDS", "WATCH_EVENT", "Trigger", "TriggerKind", "current_trigger", "started_by"]

TriggerKind = Literal["python", "cli", "schedule", "watch", "dashboard"]
KINDS: tuple[str, ...] = ("python", "cli", "schedule", "watch", "dashboard")


@dataclass(frozen=True, slots=True)
class Trigger:
    """Who started a run.

    Attributes:
        kind: ``python``, ``cli``, ``schedule``, ``watch`` or ``dashboard``.
        target: What was run, as it can be run again (a flow name or file, ``module:attr``),
            when known.
        detail: More about the start (a schedule's id and fire time, the file event).
    """

    kind: str = "python"
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The trigger as the store keeps it."""
        return {"kind": self.kind, "target": self.target, "detail": dict(self.detail)}


_PYTHON = Trigger()
_CURRENT: ContextVar[Trigger] = ContextVar("ferroflow_trigger", default=_PYTHON)

WATCH_EVENT: ContextVar[Any] = ContextVar("ferroflow_watch_event", default=None)
"""The file event a watch handler is handling now (set by the watcher around each call;
the event itself, so that a call costs one set and one reset, and the trigger is built
only when a run starts)."""


def current_trigger() -> Trigger:
    """The trigger of runs started here now (``python`` unless someone said otherwise).

    A run started by a watch handler is started by ``watch``, with the event's change
    and path as its detail.
    """
    outer = _CURRENT.get()
    event = WATCH_EVENT.get()
    if event is None:
        return outer
    change = getattr(event.change, "name", str(event.change))
    return Trigger("watch", outer.target, {"change": change, "path": str(event.path), "root": str(event.root)})


@contextmanager
def started_by(kind: str, target: str | None = None, **detail: Any) -> Iterator[Trigger]:
    """Runs started inside the block are recorded as started by ``kind``.

    A ``target`` left out is taken from the enclosing trigger (a file event inside a
    ``ferroflow run handlers.py`` keeps the handlers' file as its target).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown trigger kind {kind!r}: use one of {', '.join(KINDS)}")
    outer = _CURRENT.get()
    trigger = Trigger(kind, target if target is not None else outer.target, detail)
    token = _CURRENT.set(trigger)
    try:
        yield trigger
    finally:
        _CURRENT.reset(token)
