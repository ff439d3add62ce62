"""Typed stub of ``ferroflow._core``, the Rust extension module.

Names cross as ``str`` and node ids as ``int`` (dense, in insertion order).
Errors arrive as the classes of :mod:`ferroflow.errors`.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import final

__all__ = ["Graph", "ReadyTracker", "Watcher", "__version__", "check_glob", "run_graph"]

__version__: str

# ---------------------------------------------------------------- graph

@final
class Graph:
    """A directed acyclic graph of named nodes.

    Edges point downstream: ``add_edge("a", "b")`` means b runs after a. Every
    edge added one at a time is checked for a cycle at once (an online
    topological order); ``extend`` adds a batch and validates it once.
    """

    def __init__(self) -> None: ...
    def add_node(self, name: str) -> int:
        """Add a node and return its id.

        Raises:
            DuplicateTaskError: the name exists.
            TypeError: the name is not a ``str``.
        """
    def add_edge(self, src: str, dst: str) -> None:
        """Add ``src -> dst``; a duplicate edge is ignored.

        Raises:
            UnknownDependencyError: a name is not a node.
            CycleError: the edge would close a cycle (``.cycle`` is its path).
        """
    def add_edge_ids(self, src: int, dst: int) -> None:
        """Add an edge between node ids, checked like ``add_edge``."""
    def add_node_after(self, name: str, upstreams: Sequence[int]) -> int:
        """Add node ``name`` after the nodes ``upstreams`` (ids) and return its id.

        Raises:
            DuplicateTaskError: the name is taken.
            FerroflowError: an id is not a node.
            TypeError: ``name`` is not a ``str``.
        """
    def add_node_linked(self, name: str, upstreams: Sequence[int], downstreams: Sequence[int]) -> int:
        """Add node ``name`` after the nodes ``upstreams`` and before the nodes
        ``downstreams`` (ids; each of those edges checked for a cycle) and return its id.
        On any error nothing is kept.

        Raises:
            DuplicateTaskError: the name is taken.
            CycleError: an edge to a downstream closes a loop (``.cycle`` gives the path).
            FerroflowError: an id is not a node.
            TypeError: ``name`` is not a ``str``.
        """
    def extend_named(
        self,
        nodes: Iterable[str],
        upstreams: Iterable[Sequence[str]],
        edges: Sequence[tuple[int, int]] = ...,
    ) -> None:
        """Add nodes in bulk, node ``k`` after the nodes named in ``upstreams[k]`` (a list
        or tuple of names, of the batch or already in the graph), plus ``edges`` between
        ids, validating once; on any error nothing of the batch is kept.

        Raises:
            DuplicateTaskError, UnknownDependencyError, CycleError: as ``extend``.
            TypeError: an entry of ``upstreams`` is not a list or tuple of names.
            ValueError: ``upstreams`` has another length than ``nodes``.
        """
    def extend(self, nodes: Iterable[str], edges: Iterable[tuple[str, str] | Sequence[str]] | None = None) -> None:
        """Add nodes and edges in bulk, validating once in linear time.

        On any error (duplicate, unknown node, cycle) nothing of the batch is kept.
        """
    def extend_ids(self, edges: Sequence[tuple[int, int]]) -> None:
        """Add edges between existing node ids in bulk, validating once."""
    def extend_upstreams(
        self,
        nodes: Iterable[str],
        upstreams: Sequence[Sequence[int]],
        edges: Sequence[tuple[int, int]] = ...,
    ) -> None:
        """Add nodes in bulk, node ``k`` after the ids in ``upstreams[k]``, plus ``edges``
        between ids, validating once; on any error nothing of the batch is kept."""
    @property
    def node_count(self) -> int:
        """Number of nodes."""
    @property
    def edge_count(self) -> int:
        """Number of edges."""
    def __len__(self) -> int: ...
    def __contains__(self, name: object, /) -> bool: ...
    def id_of(self, name: str) -> int:
        """The id of a node (``UnknownDependencyError`` if absent)."""
    def name_of(self, node: int) -> str:
        """The name of a node id."""
    def names(self) -> list[str]:
        """All names, indexed by id."""
    def topological_order(self) -> list[str]:
        """Names in a topological order (upstream first)."""
    def topological_ids(self) -> list[int]:
        """Ids in a topological order."""
    def layers(self) -> list[list[str]]:
        """Kahn layers as names: each node sits one layer after its last upstream."""
    def layer_ids(self) -> list[list[int]]:
        """Kahn layers as ids."""
    def is_dag(self) -> bool:
        """Independent linear-time check that the graph is acyclic."""
    def ancestors(self, name: str) -> list[str]:
        """Every node ``name`` depends on, directly or not."""
    def descendants(self, name: str) -> list[str]:
        """Every node that depends on ``name``, directly or not."""
    def predecessors(self, name: str) -> list[str]:
        """Direct upstreams of ``name``, in the order they were added."""
    def successors(self, name: str) -> list[str]:
        """Direct downstreams of ``name``, in the order they were added."""
    def predecessor_ids(self, node: int) -> list[int]:
        """Direct upstream ids of a node id."""
    def predecessor_lists(self) -> list[tuple[int, ...]]:
        """The direct upstream ids of every node, by id, in the order they were added."""

@final
class ReadyTracker:
    """Hands out node ids once all their upstreams completed.

    Built from a snapshot of a :class:`Graph`. Each id is handed out at most
    once, by ``start`` or ``complete``; the caller then reports it with
    ``complete`` or ``fail``.
    """

    def __new__(cls, graph: Graph) -> ReadyTracker: ...
    def start(self) -> list[int]:
        """The ids without upstreams (the first call only; later calls return [])."""
    def complete(self, node: int) -> list[int]:
        """Report a handed-out node done; returns the ids this made ready."""
    def fail(self, node: int) -> list[int]:
        """Report a handed-out node failed; returns the descendants that can no longer run."""
    def cancel_waiting(self) -> list[int]:
        """Cancel every node not handed out yet; returns them."""
    @property
    def waiting(self) -> int:
        """Nodes not handed out yet."""
    @property
    def running(self) -> int:
        """Nodes handed out and not reported yet."""
    @property
    def done(self) -> int:
        """Nodes completed."""
    @property
    def failed(self) -> int:
        """Nodes failed."""
    @property
    def blocked(self) -> int:
        """Nodes blocked by a failed upstream."""
    @property
    def cancelled(self) -> int:
        """Nodes cancelled."""
    @property
    def is_finished(self) -> bool:
        """Whether nothing is waiting or running."""
    def __len__(self) -> int: ...

# ---------------------------------------------------------------- scheduler

def run_graph(
    graph: Graph,
    execute: Callable[[int], object],
    workers: int,
    fail_fast: bool = False,
    on_interrupt: Callable[[], object] | None = None,
) -> list[int]:
    """Run every node of ``graph`` on the Rust work-stealing scheduler.

    ``execute(node_id)`` is called exactly once for each node whose upstreams
    all completed, concurrently from ``workers`` threads. Each worker holds the
    interpreter only while it calls ``execute`` (for a short run of consecutive
    ready nodes at a time); callbacks that sleep or do I/O release it, so other
    workers proceed meanwhile. The graph is copied when the run starts, so the
    callbacks may use it.

    Args:
        graph: The nodes and their dependencies.
        execute: Called with a node id. A truthy return means completed (or
            skipped): its successors may run. A falsy one means failed: every
            descendant is blocked and never called. Raising also counts as a
            failure.
        workers: Worker threads, at least 1.
        fail_fast: After the first failure start nothing new; nodes already
            running finish, the rest are cancelled.
        on_interrupt: Called once on the calling thread when an interrupt is
            seen (before waiting for running nodes), e.g. to tell them to stop
            early; an exception it raises is reported as unraisable.

    Returns:
        The final state of each node, indexed by id: ``2`` done, ``3`` failed,
        ``4`` blocked (an upstream failed), ``5`` cancelled. An empty graph
        gives ``[]`` at once.

    Raises:
        ValueError: ``workers`` is less than 1.
        TypeError: ``execute`` (or ``on_interrupt``) is not callable.
        KeyboardInterrupt: the run was interrupted (checked every few
            milliseconds): waiting nodes were cancelled and running ones
            finished first.
        Exception: the first exception raised by ``execute``, re-raised once
            every worker stopped.

    Example:
        >>> g = Graph()
        >>> g.extend(["fetch", "parse", "report"], [("fetch", "parse"), ("parse", "report")])
        >>> run_graph(g, lambda node: g.name_of(node) != "parse", workers=2)
        [2, 3, 4]
    """

# ---------------------------------------------------------------- watch

from typing import Self as _Self
from typing import final as _final

@_final
class Watcher:
    """One watcher over all the roots of a set of subscriptions (a ``notify`` watcher in Rust).

    Each subscription is a tuple ``(root, recursive, patterns, ignore,
    default_ignores, process_existing, stable_for_seconds)``. Globs are
    compiled once and applied in Rust: a pattern without ``/`` or ``**``
    matches the file name at any depth, one with ``/`` or ``**`` the path
    relative to the root (``**/`` matches zero or more folders); ``*`` never
    crosses ``/``. Ignored folders (``.git``, ``node_modules``, caches and
    user ignores) are never walked and cost no OS watch.

    One non-recursive OS watch is put on each folder, before the folder is
    read, so a tree created in one go (``mkdir -p a/b/c`` + a write) reports
    every file in it. When the kernel event queue overflows (inotify
    ``IN_Q_OVERFLOW``) or a watch is lost, the roots are rescanned and the
    differences reported, so no created, modified or deleted file goes
    unreported.

    Linux limits that apply (``/proc/sys/fs/inotify/``): ``max_user_watches``
    bounds the folders watched natively by one user; past it, the subtree
    that could not be watched is polled instead and a warning (see
    ``take_warnings``) names it and says how to raise the limit
    (``sudo sysctl fs.inotify.max_user_watches=524288``) or to use
    ``force_polling``. With ``strict_watch_limit=True`` the constructor raises
    ``WatchError`` with that advice instead. ``max_queued_events`` (often
    16384) bounds the kernel queue; past it, events are lost and the rescan
    above recovers them. ``max_user_instances`` bounds inotify instances
    (one per ``Watcher``).

    Args:
        subscriptions: The subscriptions; events name them by index.
        debounce_ms: The window over which the changes of one path are
            coalesced (created+modified → added, created+deleted → nothing,
            deleted+created → modified, many modified → one).
        force_polling: Poll instead of using OS events (for network mounts).
        poll_interval_ms: Interval between polling passes (also for subtrees
            past the watch limit and for roots that vanished).
        strict_watch_limit: Raise instead of polling when the watch limit is hit.
        max_buffered: Events waiting for ``next_batch`` before the watcher
            stops draining (changes keep coalescing per path meanwhile).
        max_os_watches: Test only: act as if the OS refused watches past this many.

    Raises:
        WatchError: a root does not exist, is not a folder or cannot be read;
            a glob is invalid; the watch limit was hit with ``strict_watch_limit``.
    """

    def __new__(
        cls,
        subscriptions: Sequence[tuple[str, bool, Sequence[str], Sequence[str], bool, bool, float]],
        *,
        debounce_ms: int = 1600,
        force_polling: bool = False,
        poll_interval_ms: int = 1000,
        strict_watch_limit: bool = False,
        max_buffered: int = 10000,
        max_os_watches: int | None = None,
    ) -> _Self: ...
    def next_batch(
        self, timeout_ms: int = 1000, max_events: int = 10000
    ) -> list[tuple[int, str, list[int], bool]] | None:
        """Wait (GIL released, in 50 ms steps that check signals) for the next events.

        Returns:
            ``(change, path, subscriptions, existing)`` tuples, where ``change``
            is 1 added, 2 modified, 3 deleted (``ferroflow.watch.Change``),
            ``subscriptions`` the indices of the matching subscriptions and
            ``existing`` marks files reported by ``process_existing`` (listed
            first, before any live event); ``[]`` on timeout; ``None`` once closed.

        Raises:
            WatchError: the watcher thread failed since the last call.
            KeyboardInterrupt: Ctrl+C while waiting (main thread).
        """
    def close(self) -> None:
        """Stop the watcher thread and release every OS watch (idempotent)."""
    @property
    def is_closed(self) -> bool:
        """Whether ``close()`` was called."""
    def stats(self) -> dict[str, int]:
        """Counters: ``events``, ``rescans``, ``polls``, ``os_watches``, ``polled_subtrees``,
        ``known_files``, ``pending`` (in the debouncer), ``buffered`` (waiting for ``next_batch``)."""
    def take_warnings(self) -> list[str]:
        """Warnings since the last call: watch limit (with the subtree now polled), unreadable folders, lost roots."""
    def watched_dirs(self) -> list[str]:
        """Folders with an OS watch, sorted."""
    def polled_dirs(self) -> list[str]:
        """Subtrees watched by polling because the OS refused more watches."""
    def roots(self) -> list[str]:
        """The distinct roots, resolved (absolute, symlinks resolved)."""
    def _pause_reader(self) -> None:
        """Test only: stop reading OS events, so the kernel queue overflows (proves the rescan path)."""
    def _resume_reader(self) -> None:
        """Test only: read OS events again."""

def check_glob(pattern: str) -> None:
    """Raise ``WatchError`` naming ``pattern`` if it is not a valid glob."""
