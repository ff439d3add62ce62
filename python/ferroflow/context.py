"""The context of the task that is running now.

The engine sets it around every task attempt (on whatever thread, process or
coroutine runs the task); task code, log capture and script tasks read it.

Example:
    >>> from ferroflow.context import current_task
    >>> current_task() is None   # outside a run
    True
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CURRENT_TASK", "LOADING_TARGET", "TaskContext", "TaskSlot", "current_task"]


@dataclass(slots=True)
class TaskContext:
    """Who is running.

    Attributes:
        run_id: The run's id.
        workflow: The workflow's name.
        task: The task's name.
        attempt: 1 for the first attempt, 2 for the first retry, ...
        params: The run parameters.
        logs: Log lines captured for this task so far: records of the ``ferroflow``
            log capture, and what the task printed (``stdout: ...`` / ``stderr: ...``).
    """

    run_id: str
    workflow: str
    task: str
    attempt: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    # Printed text not ended by a newline yet, and lines kept so far, per stream name.
    _partial: dict[str, str] | None = field(default=None, repr=False, compare=False)
    _kept: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def __init__(
        self,
        run_id: str,
        workflow: str,
        task: str,
        attempt: int = 1,
        params: dict[str, Any] | None = None,
        logs: list[str] | None = None,
    ) -> None:
        # Written out (not generated) because the engine makes one per task attempt: this
        # is measurably cheaper than the generated ``default_factory`` calls.
        self.run_id = run_id
        self.workflow = workflow
        self.task = task
        self.attempt = attempt
        self.params = {} if params is None else params
        self.logs = [] if logs is None else logs
        self._partial = None
        self._kept = None

    def take_output(self, stream: str, text: str) -> None:
        """Keep ``text`` the task wrote to ``stream`` (``"stdout"``/``"stderr"``), a line at a
        time; at most :data:`MAX_OUTPUT_LINES` lines per stream, the rest are counted.

        Example:
            >>> ctx = TaskContext("run", "wf", "t")
            >>> ctx.take_output("stdout", "hello ")
            >>> ctx.take_output("stdout", "world\\nand ")
            >>> ctx.flush_output(); ctx.logs
            ['stdout: hello world', 'stdout: and ']
        """
        partial = self._partial
        if partial is None:
            partial = self._partial = {}
        lines = (partial.get(stream, "") + text).split("\n")
        partial[stream] = lines.pop()
        for line in lines:
            self._keep(stream, line)

    def flush_output(self) -> None:
        """Keep the printed text still waiting for its newline (the task has ended)."""
        partial, self._partial = self._partial, None
        for stream, rest in (partial or {}).items():
            if rest:
                self._keep(stream, rest)
        kept, self._kept = self._kept, None
        for stream, count in (kept or {}).items():
            if count > MAX_OUTPUT_LINES:
                self.logs.append(f"{stream}: ... {count - MAX_OUTPUT_LINES} more line(s) not kept")

    def _keep(self, stream: str, line: str) -> None:
        kept = self._kept
        if kept is None:
            kept = self._kept = {}
        count = kept[stream] = kept.get(stream, 0) + 1
        if count <= MAX_OUTPUT_LINES:
            self.logs.append(f"{stream}: {line}")


MAX_OUTPUT_LINES = 1000
"""Printed lines kept per stream and task attempt (later ones are only counted)."""


class TaskSlot:
    """Which task of a run a thread is running now, for runs that set the context once per
    thread instead of once per task.

    The engine's fast path writes the running node into ``node`` (-1 between tasks); the
    :class:`TaskContext` is only built when task code asks for it (:func:`current_task`),
    and the engine collects it (:meth:`taken`) when the task ends. A context is kept
    together with the node it was built for, so it never passes to another task.

    One slot serves every task the thread runs: code a task leaves running in the
    background (a thread started with a copy of its context, say) and that asks for
    :func:`current_task` after the task ended sees the thread's task of the moment, or
    None. Such code should take ``current_task()`` inside the task and pass it on.

    Example:
        >>> slot = TaskSlot(lambda node: TaskContext("run", "wf", f"t{node}"))
        >>> slot.context() is None
        True
        >>> slot.node = 3
        >>> slot.context().task
        't3'
        >>> slot.taken(3).task, slot.taken(3)
        ('t3', None)
    """

    __slots__ = ("built", "make", "node")

    def __init__(self, make: Callable[[int], TaskContext]) -> None:
        self.make = make
        self.node = -1
        self.built: tuple[int, TaskContext] | None = None

    def context(self) -> TaskContext | None:
        """The context of the task running now (built on first use), if any."""
        node = self.node
        if node < 0:
            return None
        built = self.built
        if built is not None and built[0] == node:
            return built[1]
        ctx = self.make(node)
        self.built = (node, ctx)
        return ctx

    def taken(self, node: int) -> TaskContext | None:
        """The context built for task ``node``, which just ended, if any (and forget it)."""
        built, self.built = self.built, None
        return built[1] if built is not None and built[0] == node else None


#: What runs in this thread / coroutine: a task's context, the slot of a run's thread
#: (which builds the context on first use), or None. Set by the run path and executors.
CURRENT_TASK: ContextVar[TaskContext | TaskSlot | None] = ContextVar("ferroflow_task", default=None)


def current_task() -> TaskContext | None:
    """The context of the task running in this thread / coroutine, if any."""
    cur = CURRENT_TASK.get()
    if isinstance(cur, TaskSlot):
        return cur.context()
    return cur


LOADING_TARGET: ContextVar[str | None] = ContextVar("ferroflow_loading_target", default=None)
"""The target ``ferroflow`` is importing to find its workflow (``ferroflow graph etl.py``), if any.

While it is set, a run started by the imported code is refused: the file should expose
its workflow, not run it at import.
"""
