"""Retry policy: how many attempts, which errors, and how long to wait between them.

The n-th retry (n = 1 for the first) waits ``delay * backoff**(n-1)`` seconds, capped at
``max_delay``, then moved by up to ``± jitter`` of itself at random.

Example:
    >>> from ferroflow.engine.retries import RetryPolicy
    >>> p = RetryPolicy(retries=3, delay=1.0, backoff=2.0, jitter=0.0)
    >>> [p.delay_for(n) for n in (1, 2, 3)]
    [1.0, 2.0, 4.0]
    >>> p.should_retry(ValueError("x"), attempt=1), p.should_retry(ValueError("x"), attempt=4)
    (True, False)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import TaskCancelledError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry options of a task (validated on creation).

    Attributes:
        retries: Extra attempts after a failure (0 = run once).
        delay: Seconds before the first retry.
        backoff: Multiplier per retry.
        jitter: ± fraction of random jitter on each delay (0 disables it).
        max_delay: Cap on one delay, before jitter (None = no cap).
        retry_on: Exception types that are retried; others fail at once.
        task_name: The task the policy belongs to (for error messages).
    """

    retries: int = 0
    delay: float = 1.0
    backoff: float = 2.0
    jitter: float = 0.1
    max_delay: float | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    task_name: str = field(default="?", compare=False, repr=False)

    def __post_init__(self) -> None:
        where = f"task {self.task_name!r}"
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"{where}: retries must be an int >= 0, got {self.retries!r}")
        for label, value in (("delay", self.delay), ("backoff", self.backoff), ("jitter", self.jitter)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{where}: {label} must be a number >= 0, got {value!r}")
        if self.jitter > 1:
            raise ValueError(f"{where}: jitter is a fraction of the delay in [0, 1], got {self.jitter!r}")
        if self.max_delay is not None and (not isinstance(self.max_delay, (int, float)) or self.max_delay < 0):
            raise ValueError(f"{where}: max_delay must be a number >= 0 or None, got {self.max_delay!r}")
        for exc in self.retry_on:
            if not (isinstance(exc, type) and issubclass(exc, BaseException)):
                raise TypeError(f"{where}: retry_on must hold exception types, got {exc!r}")

    @property
    def max_attempts(self) -> int:
        """Total attempts allowed (``retries + 1``)."""
        return self.retries + 1

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based) failing with ``error`` is retried.

        A :class:`~ferroflow.errors.TaskCancelledError` never is: the task was stopped, it did not fail.
        """
        return (
            attempt <= self.retries and isinstance(error, self.retry_on) and not isinstance(error, TaskCancelledError)
        )

    def delay_for(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry).

        Args:
            retry: 1 for the first retry, 2 for the second, ...
            rand: Source of uniform numbers in [0, 1) for the jitter (inject one for tests).

        Returns:
            The delay in seconds, never negative.

        Example:
            >>> RetryPolicy(retries=5, delay=1, backoff=3, max_delay=5, jitter=0).delay_for(3)
            5.0
        """
        try:
            base = float(self.delay) * float(self.backoff) ** (retry - 1)
        except OverflowError:
            base = float("inf")
        if self.max_delay is not None:
            base = min(base, float(self.max_delay))
        if self.jitter:
            base += base * self.jitter * (2.0 * rand() - 1.0)
        if self.max_delay is not None:
            base = min(base, float(self.max_delay))  # the cap bounds the delay actually slept
        return max(0.0, base)
