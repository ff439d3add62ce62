"""The Dask executor: the same workflows on a Dask ``distributed`` cluster (extra ``ferroflow[dask]``).

``run(executor="dask")`` starts a ``LocalCluster`` of worker processes for the run and
closes it afterwards; ``DaskExecutor(address="tcp://host:8786")`` (or
``FERROFLOW_DASK_ADDRESS``) connects to a running scheduler and ``DaskExecutor(client=c)``
uses a client you made; both are left running. See docs/guide/dask.md.

Example:
    >>> DaskExecutor(address="tcp://127.0.0.1:8786").address
    'tcp://127.0.0.1:8786'
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from .._core import __version__
from ..errors import FerroflowError
from .base import BaseExecutor
from .dask_fusion import ShortTasks

if TYPE_CHECKING:
    from distributed import Client

    from ..engine.plan import RunPlan

__all__ = ["ADDRESS_ENV", "DaskExecutor"]

#: The environment variable naming the scheduler to connect to when no address is given.
ADDRESS_ENV = "FERROFLOW_DASK_ADDRESS"

_GATHER = ("all", "sinks")
_FUSE = ("auto", "all", "off")
_INSTALL = "the dask executor needs Dask distributed: pip install 'ferroflow[dask]'"


def _distributed() -> Any:
    """The ``distributed`` module, or a ``FerroflowError`` saying how to install it."""
    try:
        return importlib.import_module("distributed")
    except ImportError as e:
        raise FerroflowError(f"{_INSTALL} ({e})") from e


class DaskExecutor(BaseExecutor):
    """Runs each task on a Dask ``distributed`` cluster; upstream results move between workers.

    The client keeps the ready set: a task is submitted once its upstream tasks
    completed, with their futures as inputs, so Dask fetches upstream results on the
    worker from the workers that hold them (never through the client). Bindings,
    ``when`` (evaluated on the worker), retries with back-off (the client waits the delay
    and resubmits, ``on_retry`` is called on the client), statuses, status callbacks (on
    the client, in order: ``RUNNING`` when the task is submitted, then its final status
    when its outcome arrives), the store (each task recorded as its outcome arrives),
    resume, the cache (the inputs of a caching task come to the client to compute its
    key) and the run report behave as on every executor. Log records and printed lines of
    a task are captured on the worker and come back with its outcome.

    Timeouts run on the worker as on the thread executor: the attempt runs on a helper
    thread that is abandoned when the time is up (it cannot be killed and keeps running
    on the worker until its function returns); a coroutine task is cancelled.

    ``fail_fast``: after the first failure nothing new is submitted, the futures not
    finished yet are cancelled and their tasks are ``CANCELLED``. Ctrl+C does the same
    and the run is recorded as cancelled (resume it with ``resume=``).

    Args:
        address: The scheduler to connect to (``tcp://host:8786``); default
            ``FERROFLOW_DASK_ADDRESS``, else a ``LocalCluster`` is started for the run.
        client: A ``distributed.Client`` to use (not closed after the run).
        gather: ``"all"`` (default): every result comes back to the client, so the
            ``RunResult`` and the store hold every result as on any executor. ``"sinks"``:
            only the results of tasks without downstream tasks come back; the others stay
            on the cluster until no task needs them, the ``RunResult`` leaves them out,
            the store records those tasks as completed without a result (a resumed run
            runs them again), and each such task costs one more (tiny) Dask task.
        n_workers: Worker processes of the ``LocalCluster`` (default: Dask's choice).
        threads_per_worker: Threads per worker of the ``LocalCluster``.
        dashboard: Serve the Dask dashboard of the ``LocalCluster`` (default off).
        connect_timeout: Seconds to wait for the scheduler to answer.
        worker_timeout: Seconds to wait for at least one worker.
        check_versions: Refuse to run when a worker has another ferroflow version.

    Raises:
        FerroflowError: Dask is not installed (``pip install 'ferroflow[dask]'``), or a
            bad ``gather`` value. Connection problems are raised when the run starts.
    """

    name: ClassVar[str] = "dask"

    def __init__(
        self,
        address: str | None = None,
        client: Client | None = None,
        *,
        gather: str = "all",
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        dashboard: bool = False,
        connect_timeout: float = 10.0,
        worker_timeout: float = 30.0,
        check_versions: bool = True,
        fuse: str = "auto",
        short_tasks: ShortTasks = None,
        short_seconds: float = 0.01,
        group_seconds: float = 0.2,
    ) -> None:
        _distributed()
        if address is not None and client is not None:
            raise FerroflowError("DaskExecutor: give an address or a client, not both")
        if gather not in _GATHER:
            raise FerroflowError(f"DaskExecutor: gather must be 'all' or 'sinks', got {gather!r}")
        self.address = address if address is not None or client is not None else os.environ.get(ADDRESS_ENV) or None
        self.client = client
        self.gather = gather
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.dashboard = dashboard
        self.connect_timeout = connect_timeout
        self.worker_timeout = worker_timeout
        self.check_versions = check_versions
        if fuse not in _FUSE:
            raise FerroflowError(f"DaskExecutor: fuse must be 'auto', 'all' or 'off', got {fuse!r}")
        if short_seconds < 0 or group_seconds <= 0:
            raise FerroflowError("DaskExecutor: short_seconds must be >= 0 and group_seconds > 0")
        self.fuse = fuse
        self.short_tasks = short_tasks
        self.short_seconds = short_seconds
        self.group_seconds = group_seconds
        #: Units of the last run: ``{"units", "groups", "fused_tasks"}`` (a figure for benchmarks).
        self.fusion: dict[str, int] = {}
        #: Dask tasks submitted by the last run (a figure for benchmarks).
        self.submitted = 0

    # ------------------------------------------------------------ connecting

    @contextlib.contextmanager
    def connect(self) -> Iterator[Client]:
        """The client for one run: the given one, one connected to ``address``, or a new ``LocalCluster``'s.

        Waits (at most ``worker_timeout`` seconds) for a worker and checks the workers'
        ferroflow version.

        Raises:
            FerroflowError: The scheduler does not answer, no worker joins in time, or a
                worker runs another ferroflow version.
        """
        distributed = _distributed()
        if self.client is not None:
            self._check(self.client, "the given client")
            yield self.client
            return
        with contextlib.ExitStack() as stack:
            if self.address is not None:
                where = f"the Dask scheduler at {self.address}"
                try:
                    client = distributed.Client(self.address, timeout=self.connect_timeout, set_as_default=False)
                except (OSError, TimeoutError) as e:
                    raise FerroflowError(
                        f"could not connect to {where} within {self.connect_timeout:g} s "
                        f"({type(e).__name__}: {e}); check the address (tcp://host:8786) and that "
                        "`dask scheduler` runs there"
                    ) from e
                stack.callback(client.close)
            else:
                where = "the local Dask cluster"
                cluster = distributed.LocalCluster(
                    n_workers=self.n_workers,
                    threads_per_worker=self.threads_per_worker,
                    processes=True,
                    # The scheduler serves HTTP (health, metrics) even without a dashboard:
                    # on a free port, never on Dask's default 8787 another cluster may hold.
                    dashboard_address="127.0.0.1:0" if self.dashboard else None,
                    scheduler_kwargs={"dashboard": self.dashboard, "dashboard_address": "127.0.0.1:0"},
                )
                stack.callback(cluster.close)
                client = distributed.Client(cluster, set_as_default=False)
                stack.callback(client.close)
            self._check(client, where)
            yield client

    def _check(self, client: Client, where: str) -> None:
        try:
            client.wait_for_workers(1, timeout=self.worker_timeout)
        except (TimeoutError, OSError) as e:
            raise FerroflowError(
                f"{where} has no workers: none joined within {self.worker_timeout:g} s; start one with "
                f"`dask worker {client.scheduler_info().get('address', 'SCHEDULER_ADDRESS')}` (or raise worker_timeout)"
            ) from e
        if self.check_versions:
            check_worker_versions(client)

    # ------------------------------------------------------------ running

    def run_plan(self, plan: RunPlan) -> None:
        """Run ``plan`` on the cluster (blocking)."""
        from .dask_driver import DaskDriver

        if not len(plan.tasks):
            return
        with self.connect() as client:
            plan.results_elsewhere = self.gather != "all"
            driver = DaskDriver(plan, client, self.gather, self._units(plan, client))
            try:
                driver.run()
            finally:
                self.submitted = driver.submitted

    def _units(self, plan: RunPlan, client: Client) -> list[list[int]] | None:
        """The run's units: fused groups of short tasks, the other tasks alone (None: no fusion)."""
        from .dask_fusion import describe, fusable_nodes, partition

        self.fusion = {}
        if self.fuse == "off":
            return None
        fusable, seconds = fusable_nodes(plan, self.fuse, self.short_tasks, self.short_seconds)
        if not any(fusable):
            return None
        preds = [plan.graph.predecessor_ids(i) for i in range(len(plan.tasks))]
        threads = sum(client.nthreads().values()) or 1  # type: ignore[no-untyped-call]
        units = partition(
            preds,
            fusable=fusable,
            seconds=seconds,
            group_seconds=self.group_seconds,
            threads=threads,
            order=plan.graph.topological_ids(),
        )
        self.fusion = describe(units)
        return units

    def __repr__(self) -> str:
        where = f"address={self.address!r}" if self.client is None else f"client={self.client!r}"
        return f"DaskExecutor({where}, gather={self.gather!r})"


def check_worker_versions(client: Client) -> None:
    """Raise a ``FerroflowError`` naming the first worker whose ferroflow differs from ours.

    Fused groups and every attempt run ferroflow's engine on the worker, so the workers
    need the same ferroflow (and its compiled extension) as the client.
    """
    from .dask_worker import worker_version

    versions: dict[str, Any] = client.run(worker_version, on_error="return")
    for worker, version in sorted(versions.items()):
        if isinstance(version, BaseException):
            raise FerroflowError(
                f"Dask worker {worker} cannot run ferroflow ({type(version).__name__}: {version}); "
                f"install ferroflow {__version__} on every worker"
            )
        if version != __version__:
            raise FerroflowError(
                f"Dask worker {worker} runs ferroflow {version}, this client {__version__}: "
                "install the same ferroflow version on every worker"
            )
