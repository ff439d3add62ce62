"""Facts about processes on this machine, and stopping a process tree that tried to escape.

:func:`process_alive` is shared by the store and the scheduler daemon.
:class:`ProcessTree` finds every descendant of a process started by ferroflow,
including those that left its process group (``setsid``, ``setpgid``) or whose
parent exited, and stops them all (see :meth:`ProcessTree.stop`).

How descendants are found, on Linux:

* the child is started with an environment variable holding a token unique to
  it (:data:`TREE_VARIABLE`); descendants inherit it unless they clear their
  environment;
* while a tree is being watched this process is a *child subreaper*
  (``PR_SET_CHILD_SUBREAPER``), so a descendant whose parent exits is handed to
  this process rather than to ``init``: it stays in our process tree;
* :meth:`ProcessTree.members` walks ``/proc``: the leader's descendants, the
  members of its process group, and our own children carrying the token, with
  all their descendants.

Only the processes found that way are ever reaped, each by its pid
(``waitpid(pid)``, never ``waitpid(-1)``), so the exit status of a subprocess
that other code in this process started is never taken from it. Elsewhere
(no ``/proc``) only the process group is known: a descendant that leaves it
is not found.

A pid alone does not name a process: once it exits, the kernel hands the same
number to the next process that needs one. :func:`process_birth` gives a token
that tells two processes with the same pid apart (on Linux the boot id plus the
start time in clock ticks, field 22 of ``/proc/PID/stat``), and
:func:`same_process` checks a recorded ``(pid, birth)`` pair against what runs
now. Off Linux no birth is known (``None``) and a pid that is alive counts as
the same process.

Example:
    >>> import os
    >>> process_alive(os.getpid())
    True
    >>> same_process(os.getpid(), process_birth(os.getpid()))
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = [
    "DIE_WITH_PARENT",
    "TREE_VARIABLE",
    "ProcessInfo",
    "ProcessTree",
    "describe",
    "environ_value",
    "flock_holders",
    "kill_watched_trees",
    "live_children",
    "parent_death_signal",
    "process_alive",
    "process_birth",
    "process_start_time",
    "process_started_at",
    "process_table",
    "same_process",
    "spawn",
    "subreaper",
]

#: The environment variable that marks every process of one tree (its value: the tree's token).
TREE_VARIABLE = "FERROFLOW_PROCESS_TREE"
_PROC = Path("/proc")
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not alive.
    info = _read_info(pid)
    return info is None or info.state != "Z"


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_birth(pid: int) -> str | None:
    """A token naming process ``pid`` apart from any other that had or will have its pid.

    ``None`` when it cannot be known (the process is gone, or no ``/proc``).

    Example:
        >>> import os
        >>> process_birth(os.getpid()) == process_birth(os.getpid())
        True
    """
    ticks = process_start_time(pid)
    if ticks is None:
        return None
    return f"{_boot_id()}:{ticks}"


def same_process(pid: int, birth: str | None) -> bool:
    """Whether ``pid`` is alive and is the process whose :func:`process_birth` was ``birth``.

    A ``birth`` of ``None`` (recorded where none could be known) or a process
    whose birth cannot be read now leaves the decision to :func:`process_alive`.
    """
    if not process_alive(pid):
        return False
    if birth is None:
        return True
    now = process_birth(pid)
    return now is None or now == birth


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds, to the clock tick), or ``None`` when unknown."""
    ticks = process_start_time(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/stat") as fh:
            boot = next(float(line.split()[1]) for line in fh if line.startswith("btime "))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return min(time.time(), boot + ticks / os.sysconf("SC_CLK_TCK"))


def flock_holders(path: Path) -> list[tuple[int, bool]] | None:
    """The processes holding an ``flock`` on ``path``: ``[(pid, exclusive), ...]``.

    Read from the kernel's lock table (``/proc/locks``) without taking any lock.
    ``None`` when that table is not available (off Linux) or the file is missing;
    an empty list when nobody holds a lock on it.
    """
    try:
        st = path.stat()
        with open("/proc/locks") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders: list[tuple[int, bool]] = []
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:10026136 0 EOF"; waiters have "->" after the number.
        if len(parts) < 6 or parts[1] != "FLOCK" or parts[5] != wanted:
            continue
        try:
            pid = int(parts[4])
        except ValueError:
            continue
        holders.append((pid, parts[3] == "WRITE"))
    return holders


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One line of the process table.

    Attributes:
        pid: Process id.
        ppid: Parent's pid.
        pgid: Process group id.
        state: One-letter state (``R``, ``S``, ``D``, ``Z``, ...).
        start: Start time in clock ticks since boot (with the pid, identifies the process).
        name: The command name.
    """

    pid: int
    ppid: int
    pgid: int
    state: str
    start: int
    name: str


def _read_info(pid: int) -> ProcessInfo | None:
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        try:
            stat = os.read(fd, 4096).decode("utf-8", errors="replace")
        finally:
            os.close(fd)
    except OSError:
        return None
    head, _, tail = stat.rpartition(")")
    fields = tail.split()
    if len(fields) < 20:
        return None
    name = head.partition("(")[2]
    try:
        return ProcessInfo(pid, int(fields[1]), int(fields[2]), fields[0], int(fields[19]), name)
    except ValueError:
        return None


def process_table() -> dict[int, ProcessInfo]:
    """Every process of the machine by pid (empty where there is no ``/proc``)."""
    table: dict[int, ProcessInfo] = {}
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return table
    for entry in entries:
        if entry.isdigit() and (info := _read_info(int(entry))) is not None:
            table[info.pid] = info
    return table


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot), ``None`` if unknown or gone."""
    info = _read_info(pid)
    return info.start if info is not None else None


def environ_value(pid: int, name: str) -> str | None:
    """The value of variable ``name`` in the environment ``pid`` started with (``None``: absent or unreadable)."""
    try:
        data = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode("utf-8", errors="replace")
    return None


def live_children(table: dict[int, ProcessInfo]) -> dict[int, list[int]]:
    """Parent pid to the pids of its children, from a process table."""
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    return children


# ---------------------------------------------------------------- prctl


def _prctl() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


_PRCTL = _prctl()


class _Subreaper:
    """Reference-counted ``PR_SET_CHILD_SUBREAPER``: on while any tree is watched, off after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self.active = False

    def acquire(self) -> bool:
        with self._lock:
            self._users += 1
            if self._users == 1 and _PRCTL is not None:
                self.active = _PRCTL(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
            return self.active

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self.active and _PRCTL is not None:
                _PRCTL(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
                self.active = False


#: The process-wide subreaper switch (see :class:`ProcessTree`).
subreaper = _Subreaper()


def parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """In a child between ``fork`` and ``exec``: receive ``sig`` when the thread that forked it exits.

    Meant for ``preexec_fn``. Returns whether the OS supports it (Linux). When the
    parent died before the call, the child exits at once.
    """
    if _PRCTL is None:
        return False
    parent = os.getppid()
    _PRCTL(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    return True


def _die_with_parent() -> None:
    parent_death_signal(signal.SIGKILL)


#: ``preexec_fn`` for children that must not outlive this process (``None`` off Linux).
DIE_WITH_PARENT: Callable[[], None] | None = _die_with_parent if _PRCTL is not None else None


class _Spawner:
    """One thread, as long-lived as this process, that starts the children that must die with it.

    The parent-death signal fires when the *thread* that forked the child exits,
    not the process; children started from a worker thread that ends before them
    would be killed early. Starting them all here ties them to the process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = -1

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which starts a child) on the spawner thread and return its result."""
        if DIE_WITH_PARENT is None:
            return fn()
        with self._lock:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._serve, args=(self._queue,), daemon=True, name="ferroflow-spawner"
                )
                self._pid = os.getpid()
                self._thread.start()
            jobs = self._queue
        future: Future[T] = Future()
        jobs.put((fn, future))
        return future.result()

    @staticmethod
    def _serve(jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
        while True:
            fn, future = jobs.get()
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
                future.set_exception(exc)


_SPAWNER = _Spawner()


def spawn(fn: Callable[[], T]) -> T:
    """Call ``fn``, which starts a child process with ``preexec_fn=DIE_WITH_PARENT``, on the spawner thread.

    The child then gets ``SIGKILL`` when this process dies, even by ``kill -9``
    (Linux). Elsewhere ``fn`` runs on the calling thread.
    """
    return _SPAWNER.call(fn)


# ---------------------------------------------------------------- trees


class ProcessTree:
    """Every process descending from one child this process started, found and stopped together.

    Create it before starting the child and put :attr:`environment` into the
    child's environment; call :meth:`watch` with the child's pid once it runs and
    :meth:`close` when done with it (the subreaper is on between the two).

    Example:
        >>> import subprocess, sys
        >>> tree = ProcessTree()
        >>> env = {**os.environ, **tree.environment}
        >>> child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env,
        ...                          start_new_session=True)
        >>> tree.watch(child.pid)
        >>> tree.stop(grace=1.0, leader=child)
        []
        >>> tree.close()
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token or uuid.uuid4().hex
        self.leader: int | None = None
        self.leader_start: int | None = None
        self._watching = False
        self._adopted = False

    @classmethod
    def adopt(cls, token: str, leader: int, leader_start: int | None) -> ProcessTree:
        """The tree of a process another (dead) ferroflow process started, found by its token.

        Its members are the processes carrying ``token`` in their environment,
        whoever their parent, and the members of the leader's process group if
        that group is still the one recorded (``leader`` with ``leader_start``).
        """
        tree = cls(token)
        tree.leader = leader
        tree.leader_start = leader_start
        tree._adopted = True
        return tree

    @property
    def environment(self) -> dict[str, str]:
        """The variables that mark the tree's processes."""
        return {TREE_VARIABLE: self.token}

    def watch(self, leader: int) -> None:
        """Start watching the tree of ``leader`` (started with :attr:`environment`, in its own session)."""
        self.leader = leader
        if not self._watching:
            self._watching = True
            subreaper.acquire()
            with _LIVE_LOCK:
                _LIVE[id(self)] = self

    def close(self) -> None:
        """Stop watching (reap what is left of the tree first)."""
        self._reap(self._found)
        if self._watching:
            self._watching = False
            subreaper.release()
            with _LIVE_LOCK:
                _LIVE.pop(id(self), None)

    _found: frozenset[int] = frozenset()

    def members(self, table: dict[int, ProcessInfo] | None = None) -> dict[int, ProcessInfo]:
        """The live and zombie processes of the tree (the leader included while it exists)."""
        if table is None:
            table = process_table()
        leader = self.leader
        if leader is None or not table:
            return {}
        me = os.getpid()
        roots: set[int] = set()
        if not self._adopted or (leader not in table or table[leader].start == self.leader_start):
            # (An adopted tree's group counts while its pid was not reused by another process.)
            roots.update(p for p, info in table.items() if info.pgid == leader)
            if leader in table:
                roots.add(leader)
        roots.update(
            p
            for p, info in table.items()
            if (self._adopted or info.ppid == me) and environ_value(p, TREE_VARIABLE) == self.token
        )
        children = live_children(table)
        found: dict[int, ProcessInfo] = {}
        stack = list(roots)
        while stack:
            pid = stack.pop()
            if pid in found or pid == me or pid not in table:
                continue
            found[pid] = table[pid]
            stack.extend(children.get(pid, ()))
        self._found = self._found | frozenset(found)
        return found

    def alive(self) -> dict[int, ProcessInfo]:
        """The members that have not exited (zombies excluded)."""
        return {p: i for p, i in self.members().items() if i.state not in ("Z", "X")}

    def signal(self, sig: int) -> list[int]:
        """Send ``sig`` to the group and to every live member; the pids that could not be signalled."""
        refused: list[int] = []
        if self.leader is not None and not self._adopted:
            try:
                os.killpg(self.leader, sig)
            except OSError:
                pass
        for pid in self.alive():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            except PermissionError:
                refused.append(pid)
        return refused

    def stop(self, grace: float = 3.0, leader: object = None) -> list[ProcessInfo]:
        """``SIGTERM`` every member, wait up to ``grace`` seconds, ``SIGKILL`` what is left.

        Args:
            grace: Seconds the tree gets to exit after ``SIGTERM``.
            leader: The leader's ``subprocess.Popen`` (polled, so that it is reaped).

        Returns:
            The processes still running afterwards (empty when the whole tree stopped).
        """
        poll = getattr(leader, "poll", None)
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        left = self._settle(poll)
        while left and time.monotonic() < deadline:
            time.sleep(0.02)
            # Members started since the last round get the signal too.
            self.signal(signal.SIGTERM)
            left = self._settle(poll)
        for _ in range(50):
            if not left:
                break
            self.signal(signal.SIGKILL)
            time.sleep(0.02)
            left = self._settle(poll)
        wait = getattr(leader, "wait", None)
        if wait is not None and not left:
            wait(5.0)  # the leader has exited (maybe a zombie): collect its exit code
        return sorted(left.values(), key=lambda i: i.pid)

    def _settle(self, poll: object) -> dict[int, ProcessInfo]:
        if callable(poll):
            poll()
        self._reap(self._found)
        return self.alive()

    def _reap(self, pids: Iterable[int]) -> None:
        """Reap the tree's zombies that are our children (by pid: nobody else's exit status is taken)."""
        me = os.getpid()
        for pid in pids:
            if pid == self.leader:
                continue  # its Popen reaps it and keeps its exit code
            info = _read_info(pid)
            if info is None or info.ppid != me or info.state != "Z":
                continue
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


_LIVE: dict[int, ProcessTree] = {}
_LIVE_LOCK = threading.Lock()


def kill_watched_trees() -> int:
    """``SIGKILL`` every process tree being watched in this process (before exiting at once); how many."""
    with _LIVE_LOCK:
        trees = list(_LIVE.values())
    for tree in trees:
        tree.signal(signal.SIGKILL)
    return len(trees)


def describe(processes: Iterable[ProcessInfo]) -> str:
    """``pid 12 (sleep), pid 13 (python3)``."""
    return ", ".join(f"pid {p.pid} ({p.name})" for p in processes)
