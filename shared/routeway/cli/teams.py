"""`routeway teams`: keys that share a budget (for its period) and rate limits."""

from __future__ import annotations

from typing import Annotated

import typer

from routeway.cli.common import console, fail, gateway_from_env, print_json
from routeway.cli.limits import AlertAt, Budget, Clear, Parallel, Period, Rpm, Tpm, given
from routeway.errors import ConflictError, GatewayError

teams_app = typer.Typer(help="Teams: a budget and rate limits shared by their keys.", no_args_is_help=True)


@teams_app.command("create")
def teams_create(
    name: Annotated[str, typer.Argument(help="The team's name, e.g. research.")],
    budget_usd: Budget = None,
    period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    max_parallel: Parallel = None,
    alert_at: AlertAt = None,
) -> None:
    """Create a team; add keys with `routeway keys create NAME --team TEAM` (or `keys update --team`).

    Example: routeway teams create research --budget-usd 100 --period month --alert-at 0.5,0.9
    """
    from routeway.services.people import create_team, team_summary

    gateway = gateway_from_env()
    fields = given(budget_usd=budget_usd, period=period, rpm=rpm, tpm=tpm, max_parallel=max_parallel, alert_at=alert_at)
    try:
        record = create_team(gateway.state.sync, gateway.clock, name, fields)
    except ConflictError:
        fail("team_exists", f"a team named {name!r} exists; change it with `routeway teams update`")
    except GatewayError as exc:
        fail(exc.code, exc.message)
    print_json(team_summary(record))


@teams_app.command("update")
def teams_update(
    name: Annotated[str, typer.Argument(help="The team's name.")],
    budget_usd: Budget = None,
    period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    max_parallel: Parallel = None,
    alert_at: AlertAt = None,
    clear: Clear = None,
) -> None:
    """Change a team's limits in place; the next request of each of its keys answers to them. A new period
    starts now, with nothing spent."""
    from routeway.services.people import team_summary, update_team

    gateway = gateway_from_env()
    fields = given(
        clear, budget_usd=budget_usd, period=period, rpm=rpm, tpm=tpm, max_parallel=max_parallel, alert_at=alert_at
    )
    try:
        record = update_team(gateway.state.sync, gateway.clock, name, fields)
    except GatewayError as exc:
        fail(exc.code, exc.message)
    print_json(team_summary(record))


@teams_app.command("list")
def teams_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List teams and their limits."""
    from routeway.services.people import team_summary

    try:
        rows = [team_summary(t) for t in gateway_from_env().state.sync.list_teams()]
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if as_json:
        print_json({"teams": rows})
        return
    from rich.table import Table

    table = Table("name", "budget $", "period", "rpm", "tpm", "parallel", "alerts")
    for r in rows:
        table.add_row(
            r["name"],
            "-" if r["budget_usd"] is None else f"{r['budget_usd']:.2f}",
            r["period"],
            *("-" if r[f] is None else str(r[f]) for f in ("rpm", "tpm", "max_parallel")),
            ",".join(f"{a:g}" for a in r["alert_at"]) or "-",
        )
    console().print(table)


@teams_app.command("show")
def teams_show(name: Annotated[str, typer.Argument(help="The team's name.")]) -> None:
    """A team's limits, as JSON."""
    from routeway.services.people import team_summary

    try:
        record = gateway_from_env().state.sync.find_team(name)
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if record is None:
        fail("not_found", f"no team named {name!r}")
    print_json(team_summary(record))
