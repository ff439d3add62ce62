"""Executors: where and how the tasks of a run execute (docs/guide/executors.md).

``run(executor=...)`` takes one of these names or objects:

- ``"sequential"`` / :class:`SequentialExecutor`: one thread, topological order (the reference);
- ``"thread"`` / :class:`ThreadedExecutor` (default): the Rust work-stealing scheduler;
- ``"process"`` / :class:`ProcessExecutor`: worker processes (cloudpickle);
- ``"async"`` / :class:`AsyncExecutor`: asyncio, coroutines concurrently;
- ``"dask"`` / ``DaskExecutor`` (``ferroflow.executors.dask``, extra ``ferroflow[dask]``): a
  Dask ``distributed`` cluster.
"""

from __future__ import annotations

from .aio import AsyncExecutor
from .base import BaseExecutor, Executor, resolve_executor
from .process import ProcessExecutor
from .sequential import SequentialExecutor
from .threaded import ThreadedExecutor

__all__ = [
    "AsyncExecutor",
    "BaseExecutor",
    "Executor",
    "ProcessExecutor",
    "SequentialExecutor",
    "ThreadedExecutor",
    "resolve_executor",
]
