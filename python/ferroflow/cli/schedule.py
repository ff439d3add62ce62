"""``ferroflow schedule add|list|remove|enable|disable|next``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ..flowfiles.params import parse_params
from ..scheduling.manager import ScheduleManager
from ..scheduling.schedules import parse_after
from ..scheduling.table import Schedule, find_schedules, last_schedule_run, list_schedules
from ._help import FlagGroup
from ._output import CliState, Output, iso_time, state, user_errors, when

if TYPE_CHECKING:
    from ..store.store import Store

__all__ = ["register", "schedule_rows"]

schedule_app = typer.Typer(
    cls=FlagGroup, help="Cron and interval schedules, run by `ferroflow scheduler`.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``schedule`` group to ``app``."""
    app.add_typer(schedule_app, name="schedule")


def _manager(st: CliState) -> ScheduleManager:
    return ScheduleManager(st.store(), flows_dir=st.flows_dir, tasks_dir=st.tasks_dir, output_dir=st.output_dir)


def _fmt(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z") if moment is not None else "-"


def schedule_rows(store: Store) -> list[dict[str, Any]]:
    """Every schedule as a plain row with its next fire time and last run."""
    rows = []
    for s in list_schedules(store):
        last = last_schedule_run(store, s.id)
        rows.append(
            {
                "id": s.id,
                "target": s.target,
                "kind": s.kind,
                "schedule": s.spec,
                "cron": s.cron or None,
                "every_seconds": s.every,
                "tz": s.tz,
                "enabled": s.enabled,
                "description": s.description,
                "next_run": s.next_fire() if s.enabled else None,
                "last_run": last.fire_time if last else None,
                "last_status": last.status if last else None,
                "last_run_id": last.run_id if last else None,
            }
        )
    return rows


def _echo_schedules(out: Output, verb: str, found: list[Schedule]) -> None:
    for s in found:
        if out.json_mode:
            out.json(f"schedule_{verb}", id=s.id, target=s.target, enabled=s.enabled)
        else:
            out.line(f"{verb} schedule {s.id} ({s.target}, {s.describe()})")


@schedule_app.command("add")
def add(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A flow name, a flow file, a .py file or a module:attr.")],
    cron: Annotated[
        str | None, typer.Option("--cron", help='5-field cron or @daily/@hourly/...: "*/15 * * * *".')
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval", help="hourly, daily, weekly (Sundays), monthly (the 1st), or a period: 30s, 5m, 2h, 1d."
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="With --interval: HH:MM (hourly: :MM); a period counts from it.")
    ] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone (default: the local one).")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="Free text.")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Add it switched off.")] = False,
    params: Annotated[
        str | None, typer.Option("--params", "-p", help="Run params: a JSON object, or a JSON file (path or @path).")
    ] = None,
) -> None:
    """Add a schedule for a flow or Python workflow."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        values = parse_params(params)
        s = _manager(st).add(
            target,
            cron=cron,
            interval=interval,
            at=at,
            tz=tz,
            description=description,
            enabled=not disabled,
            params=values,
        )
        nxt = s.next_fire() if s.enabled else None
        if out.json_mode:
            out.json(
                "schedule_added",
                id=s.id,
                target=s.target,
                cron=s.cron or None,
                tz=s.tz,
                enabled=s.enabled,
                next_run=nxt,
            )
            return
        state_text = f"next run {_fmt(nxt)}" if s.enabled else "disabled"
        out.line(f"added schedule {s.id}: {s.target} {s.describe()}, {state_text}")


@schedule_app.command("list")
def list_(ctx: typer.Context) -> None:
    """List schedules with their next and last run."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        rows = schedule_rows(st.store())
        if out.json_mode:
            for row in rows:
                out.json("schedule", **{**row, "last_run": iso_time(row["last_run"])})
            return
        if not rows:
            out.line("no schedules; add one with `ferroflow schedule add FLOW --cron '0 * * * *'`")
            return
        table = Table(title="schedules")
        for column in ("id", "target", "schedule", "next run", "last run", "enabled", "description"):
            table.add_column(column, overflow="fold")
        for r in rows:
            last = f"{when(r['last_run'], seconds=False)} {r['last_status']}" if r["last_run"] is not None else "-"
            table.add_row(
                r["id"],
                r["target"],
                f"{r['schedule']} ({r['tz']})",
                _fmt(r["next_run"]),
                last,
                "yes" if r["enabled"] else "no",
                r["description"] or "",
            )
        out.print(table)


@schedule_app.command("remove")
def remove(
    ctx: typer.Context, id_or_flow: Annotated[str, typer.Argument(help="A schedule id, or a flow (all its schedules).")]
) -> None:
    """Remove schedules."""
    st = state(ctx)
    with user_errors(st.output):
        _echo_schedules(st.output, "removed", _manager(st).remove(id_or_flow))


@schedule_app.command("enable")
def enable(
    ctx: typer.Context, id_or_flow: Annotated[str, typer.Argument(help="A schedule id, or a flow (all its schedules).")]
) -> None:
    """Switch schedules on (they restart from now; missed times are not replayed)."""
    st = state(ctx)
    with user_errors(st.output):
        _echo_schedules(st.output, "enabled", _manager(st).enable(id_or_flow))


@schedule_app.command("disable")
def disable(
    ctx: typer.Context, id_or_flow: Annotated[str, typer.Argument(help="A schedule id, or a flow (all its schedules).")]
) -> None:
    """Switch schedules off."""
    st = state(ctx)
    with user_errors(st.output):
        _echo_schedules(st.output, "disabled", _manager(st).disable(id_or_flow))


@schedule_app.command("next")
def next_(
    ctx: typer.Context,
    id_or_flow: Annotated[str, typer.Argument(help="A schedule id, or a flow (all its schedules).")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000, help="How many fire times.")] = 5,
    after: Annotated[str | None, typer.Option("--after", help="Start after this ISO-8601 time (default now).")] = None,
) -> None:
    """Print the coming fire times of schedules."""
    st = state(ctx)
    out = st.output
    with user_errors(out):
        for s in find_schedules(st.store(), id_or_flow):
            start = parse_after(after, s.tz)
            times = s.fire_times(None if start is None else start.timestamp(), count=count)
            if out.json_mode:
                out.json("schedule_next", id=s.id, target=s.target, times=[t.isoformat() for t in times])
                continue
            out.line(f"{s.id} {s.target} {s.describe()}:")
            for t in times:
                out.line(f"  {t.isoformat()}  ({t.strftime('%a %Y-%m-%d %H:%M %Z')})")
