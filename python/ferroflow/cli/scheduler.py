"""``ferroflow scheduler start|status|stop``."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..scheduling.daemon import AlreadyRunningError, SchedulerStatus, scheduler_status, serve, start_daemon, stop_daemon
from ..scheduling.schedules import timedelta_text
from ._help import FlagGroup
from ._output import EXIT_FAILED, Output, fail, iso_time, state, user_errors, when

__all__ = ["register", "status_renderable"]

scheduler_app = typer.Typer(cls=FlagGroup, help="The scheduler daemon that runs due schedules.", no_args_is_help=True)

_CATCHUP = ("none", "latest", "all")


def register(app: typer.Typer) -> None:
    """Add the ``scheduler`` group to ``app``."""
    app.add_typer(scheduler_app, name="scheduler")


@scheduler_app.command("start")
def start(
    ctx: typer.Context,
    foreground: Annotated[bool, typer.Option("--foreground", help="Run in this terminal instead of detached.")] = False,
    check_interval: Annotated[
        float, typer.Option("--check-interval", min=0.05, help="Longest wait (s) between reads of the schedules.")
    ] = 60.0,
    catchup: Annotated[
        str, typer.Option("--catchup", help="After downtime: none, latest (one run) or all.")
    ] = "latest",
    grace: Annotated[float, typer.Option("--grace", min=0.0, help="Seconds in-flight runs get when stopping.")] = 30.0,
) -> None:
    """Start the scheduler (one per store)."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        if catchup not in _CATCHUP:
            fail(out, f'invalid --catchup "{catchup}": use none, latest or all')
        store = st.store()
        try:
            if foreground:
                out.line(f"scheduler running in the foreground (store {store.path}); Ctrl+C to stop")
                serve(store, check_interval=check_interval, catchup=catchup, grace=grace)  # type: ignore[arg-type]
                out.line("scheduler stopped")
                return
            info, stale = start_daemon(store, check_interval=check_interval, catchup=catchup, grace=grace)  # type: ignore[arg-type]
        except AlreadyRunningError as exc:
            fail(out, str(exc), EXIT_FAILED)
        if stale is not None:
            out.line(f"removed a stale pid file left by a scheduler that is gone (pid {stale})")
        if out.json_mode:
            out.json("scheduler_started", pid=info.pid, log_file=info.log_file, store=str(store.path))
        else:
            out.line(f"scheduler started (pid {info.pid}); log: {info.log_file}")


@scheduler_app.command("stop")
def stop(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for it to exit.")] = 60.0,
) -> None:
    """Stop the running scheduler gracefully (from any shell)."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        info = stop_daemon(st.store(), timeout=timeout)
        if info is None:
            if out.json_mode:
                out.json("scheduler_stopped", pid=None, running=False)
            else:
                out.line("the scheduler is not running")
            return
        if out.json_mode:
            out.json("scheduler_stopped", pid=info.pid, running=False)
        else:
            out.line(f"scheduler stopped (pid {info.pid})")


def status_renderable(status: SchedulerStatus) -> Group:
    """The status screen: daemon line plus a table of schedules."""
    damaged: Text | None = None
    if status.running and status.info is not None and not status.pid_file_damaged:
        info = status.info
        head = Text.assemble(
            ("scheduler running", "bold green"),
            f"  pid {info.pid}  uptime {timedelta_text(info.uptime_seconds)}  "
            f"check every {info.check_interval:g}s  catch-up {info.catchup}",
        )
    elif status.running and status.info is not None:
        info = status.info
        head = Text.assemble(
            ("scheduler running", "bold green"), f"  pid {info.pid}  uptime {timedelta_text(info.uptime_seconds)}"
        )
        damaged = Text(
            f"its pid file {status.pid_file} is damaged: the pid comes from the lock the scheduler holds "
            "(it rewrites the file at its next check)",
            style="yellow",
        )
    elif status.running:
        head = Text.assemble(("scheduler running", "bold green"), "  pid unknown")
        damaged = Text(
            f"its pid file {status.pid_file} is damaged and this system does not tell which process holds "
            f"its lock; it rewrites the file at its next check, or stop it with `kill $(lsof -t {status.pid_file})`",
            style="yellow",
        )
    else:
        head = Text("scheduler not running", style="bold yellow")
    parts: list[Any] = [head]
    if damaged is not None:
        parts.append(damaged)
    if status.stale_pid is not None:
        parts.append(
            Text(f"removed a stale pid file left by a crashed scheduler (pid {status.stale_pid})", style="yellow")
        )
    table = Table(title=f"{len(status.schedules)} schedule(s)")
    for column in ("id", "target", "schedule", "next run", "last run", "status", "run id"):
        table.add_column(column, overflow="fold")
    for state_ in status.schedules:
        s, last = state_.schedule, state_.last_run
        nxt = (
            state_.next_fire.strftime("%Y-%m-%d %H:%M %Z")
            if state_.next_fire
            else ("disabled" if not s.enabled else "-")
        )
        table.add_row(
            s.id,
            s.target,
            s.describe(),
            nxt,
            when(last.fire_time) if last else "-",
            last.status if last else "-",
            (last.run_id or "") if last else "",
        )
    parts.append(table)
    return Group(*parts)


def _status_json(out: Output, status: SchedulerStatus) -> None:
    info = status.info
    out.json(
        "scheduler_status",
        running=status.running,
        pid=info.pid if info else None,
        uptime_seconds=info.uptime_seconds if info else None,
        stale_pid=status.stale_pid,
        pid_file_damaged=status.pid_file_damaged,
        schedules=[
            {
                "id": st.schedule.id,
                "target": st.schedule.target,
                "schedule": st.schedule.spec,
                "tz": st.schedule.tz,
                "enabled": st.schedule.enabled,
                "next_run": st.next_fire.isoformat() if st.next_fire else None,
                "last_run": iso_time(st.last_run.fire_time if st.last_run else None),
                "last_status": st.last_run.status if st.last_run else None,
                "last_run_id": st.last_run.run_id if st.last_run else None,
            }
            for st in status.schedules
        ],
    )


@scheduler_app.command("status")
def status(
    ctx: typer.Context,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="A live screen, until Ctrl+C.")] = False,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.1, help="Seconds between refreshes (interactive).")
    ] = 1.0,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.0, help="Stop the live screen after this many seconds.")
    ] = None,
) -> None:
    """Show the daemon (pid, uptime) and every schedule's next and last run."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        store = st.store()
        if not interactive:
            current = scheduler_status(store)
            if out.json_mode:
                _status_json(out, current)
            else:
                out.print(status_renderable(current))
            return
        if out.json_mode:
            fail(out, "--interactive draws a live screen; without it, status prints one JSON object")
        deadline = None if duration is None else time.monotonic() + duration
        try:
            with Live(status_renderable(scheduler_status(store)), console=out.out, refresh_per_second=4) as live:
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(refresh if deadline is None else max(0.0, min(refresh, deadline - time.monotonic())))
                    live.update(status_renderable(scheduler_status(store)))
        except KeyboardInterrupt:
            return
