"""Facts about processes on this machine, shared by the store and the scheduler daemon.

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

import os
import time
from functools import cache
from pathlib import Path

__all__ = ["flock_holders", "process_alive", "process_birth", "process_started_at", "same_process"]


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
    fields = _stat_fields(pid)
    return fields is None or fields[0] != "Z"


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name (field 3 onwards), or ``None`` when it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces and ')'.
    return text.rsplit(")", 1)[-1].split()


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    try:
        return int(fields[19])  # field 22 overall: start time, clock ticks after boot
    except ValueError:
        return None


def process_birth(pid: int) -> str | None:
    """A token naming process ``pid`` apart from any other that had or will have its pid.

    ``None`` when it cannot be known (the process is gone, or no ``/proc``).

    Example:
        >>> import os
        >>> process_birth(os.getpid()) == process_birth(os.getpid())
        True
    """
    ticks = _start_ticks(pid)
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
    ticks = _start_ticks(pid)
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
