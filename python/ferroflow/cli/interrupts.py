"""Ctrl+C during ``ferroflow run``: the first stops starting tasks, the second exits at once.

The first ``SIGINT`` (or ``SIGTERM``) stops the run from starting tasks (the
engine's interrupt), stops script process trees, and says so: running Python
tasks are waited for. A second one abandons them: script trees and process
workers get ``SIGKILL``, every run in progress is recorded ``cancelled``
(resumable), and the process exits with code 130 at once, without waiting for
threads that cannot be stopped.

The second signal is seen by a watcher thread reading the interpreter's
signal wake-up file descriptor, because the main thread may be inside the
scheduler, which no longer looks at signals once it is winding down.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from ._output import EXIT_INTERRUPTED, Output

__all__ = ["interrupt_handling"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def interrupt_handling(out: Output, on_first: Callable[[], None]) -> Iterator[None]:
    """Handle ``SIGINT`` / ``SIGTERM`` for one run (on the main thread; elsewhere a no-op).

    Args:
        out: Where the messages go.
        on_first: Called on the first signal, before the run is interrupted (e.g. stop script trees).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        if first.is_set():
            # (The watcher thread usually gets there first; this covers the main thread
            # being in the interpreter's exit, waiting for a task's thread.)
            _abandon(out)
        first.set()
        on_first()
        out.warn("interrupted: no new task starts; waiting for the running ones (press Ctrl+C again to abandon them)")
        raise KeyboardInterrupt

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(reader, done, out, on_first), name="ferroflow-interrupts", daemon=True
    )
    watcher.start()
    try:
        yield
    finally:
        # Interrupted, the process is on its way out but may still wait for the threads of
        # running tasks (the interpreter joins them at exit): a second signal must still end
        # it at once, so the handlers stay. Otherwise they are put back.
        if not first.is_set():
            done.set()
            signal.set_wakeup_fd(old_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            try:
                writer.send(b"\0")  # wake the watcher so that it ends
            except OSError:
                pass
            watcher.join(timeout=5)
            reader.close()
            writer.close()


def _watch(reader: socket.socket, done: threading.Event, out: Output, on_first: Callable[[], None]) -> None:
    seen = 0
    while not done.is_set():
        try:
            data = reader.recv(64)
        except OSError:
            return
        if done.is_set() or not data:
            return
        seen += sum(1 for byte in data if byte in _SIGNALS)
        if seen == 1:
            on_first()  # at once, even while the main thread cannot run the Python handler
        if seen >= 2:
            _abandon(out)


_ABANDONING = threading.Lock()


def _abandon(out: Output) -> None:
    """The second interrupt: kill what can be killed, record the runs cancelled, exit 130 now.

    Called by the watcher thread or by the signal handler, whichever comes first; the other
    waits here for the exit.
    """
    _ABANDONING.acquire()
    from ..engine.finishing import abandon_runs
    from ..executors.process import kill_workers
    from ..processes import kill_watched_trees

    kill_watched_trees()
    kill_workers()
    try:
        run_ids = abandon_runs()
    except BaseException as exc:  # noqa: BLE001 - exiting regardless; say what went wrong
        out.warn(f"interrupted again: could not record the run as cancelled ({type(exc).__name__}: {exc})")
        run_ids = []
    for run_id in run_ids:
        out.warn(
            f"interrupted again: abandoned the running tasks; run {run_id} recorded as cancelled "
            f"(resume it with --resume {run_id})"
        )
    if not run_ids:
        out.warn("interrupted again: abandoned the running tasks")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(EXIT_INTERRUPTED)
