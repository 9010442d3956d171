"""`routeway keys`: gateway API keys. A key is shown once, when it is made; only its hash is stored."""

from __future__ import annotations

from typing import Annotated

import typer

from routeway.cli.common import console, fail, gateway_from_env, print_json
from routeway.cli.limits import AlertAt, Budget, Clear, Expires, Models, Parallel, Period, Rpm, Team, Tpm, given
from routeway.errors import ConflictError, GatewayError

keys_app = typer.Typer(
    help="Gateway API keys: create (shown once), list, revoke, shard, reconcile.", no_args_is_help=True
)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="A name for the key's owner, e.g. ci-bot.")],
    budget_usd: Budget = None,
    period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    max_parallel: Parallel = None,
    models: Models = None,
    team: Team = None,
    expires: Expires = None,
    alert_at: AlertAt = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key: /admin/v1 only, no model calls.")] = False,
) -> None:
    """Create a key. It is printed once, on the last line; only its hash is stored.

    Example: routeway keys create ci-bot --budget-usd 20 --period month --rpm 60 --models 'anthropic/*'
    """
    from routeway.services.keys import create_key

    gateway = gateway_from_env()
    fields = given(period=period, tpm=tpm, max_parallel=max_parallel, team=team, expires_at=expires, alert_at=alert_at)
    try:
        key, record = create_key(
            gateway.state.sync,
            gateway.clock,
            name,
            budget_usd=budget_usd,
            rpm=rpm,
            models=tuple(models or ()),
            admin=admin,
            **fields,
        )
    except ConflictError:
        fail("key_exists", f"a key named {name!r} exists; revoke it or choose another name")
    except GatewayError as exc:
        fail(exc.code, exc.message)
    typer.echo(f"created key {record.name!r} ({record.prefix}…); store it now, it will not be shown again:")
    typer.echo(key)


@keys_app.command("update")
def keys_update(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    budget_usd: Budget = None,
    period: Period = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    max_parallel: Parallel = None,
    models: Models = None,
    team: Team = None,
    expires: Expires = None,
    alert_at: AlertAt = None,
    clear: Clear = None,
) -> None:
    """Change a key's limits in place; its next request answers to them. A new period starts now, with
    nothing spent, so an old period's spend never locks the key out.

    Example: routeway keys update ci-bot --budget-usd 50 --period week --clear rpm
    """
    from routeway.services.people import update_key

    gateway = gateway_from_env()
    fields = given(
        clear,
        budget_usd=budget_usd,
        period=period,
        rpm=rpm,
        tpm=tpm,
        max_parallel=max_parallel,
        models=models,
        team=team,
        expires_at=expires,
        alert_at=alert_at,
    )
    try:
        record = update_key(gateway.state.sync, gateway.clock, name, fields)
    except GatewayError as exc:
        fail(exc.code, exc.message)
    print_json(record.model_dump(exclude={"key_hash", "period_anchor"}))


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys: name, display prefix, limits, spend. Never the key itself."""
    try:
        records = gateway_from_env().state.sync.list_keys()
    except GatewayError as exc:
        fail(exc.code, exc.message)
    rows = [r.model_dump(exclude={"key_hash"}) | ({"shards": r.shards} if r.shards > 1 else {}) for r in records]
    if as_json:
        print_json({"keys": rows})
        return
    from rich.table import Table

    table = Table(
        "name", "prefix", "team", "created", "revoked", "budget $", "period", "rpm", "models", "spend $", "shards"
    )
    for r in rows:
        table.add_row(
            r["name"] + (" (admin)" if r["admin"] else ""),
            r["prefix"],
            r["team"] or "-",
            r["created_at"],
            "yes" if r["revoked"] else "no",
            "-" if r["budget_usd"] is None else f"{r['budget_usd']:.2f}",
            r["period"],
            "-" if r["rpm"] is None else str(r["rpm"]),
            ",".join(r["models"]) or "*",
            f"{r['spend_usd']:.4f}",
            str(r.get("shards", 1)),
        )
    console().print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key by name; requests with it get 401 from then on."""
    try:
        revoked = gateway_from_env().state.sync.revoke_key(name)
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if not revoked:
        fail("key_not_found", f"no key named {name!r}")
    typer.echo(f"revoked key {name!r}")


@keys_app.command("shard")
def keys_shard(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    shards: Annotated[int, typer.Option("--shards", help="How many items carry its budget and rpm (1-99).")],
) -> None:
    """Spread a hot key's budget and rpm counters over several DynamoDB items (the AWS store only).

    One item takes about 1,000 writes a second, so one key tops out near 200 requests a second; K shards
    raise that about K times (docs/SCALE.md section 4). Shards can be added, not taken away; the key's
    spend, holds in flight and limits stay exact while it is resharded.

    Example: routeway keys shard batch-job --shards 8
    """
    from routeway.services.keys import shard_key

    gateway = gateway_from_env()
    try:
        before = shard_key(gateway.state.sync, gateway.clock, name, shards)
    except ConflictError as exc:
        fail("key_busy", f"{exc}; try again")
    except GatewayError as exc:
        fail(exc.code, exc.message)
    typer.echo(f"key {name!r}: {before} -> {shards} shards")


@keys_app.command("reconcile")
def keys_reconcile() -> None:
    """Charge the expired holds of requests whose process died: each attempt it noted at what the upstream
    says it billed (else its estimate), within the hold; holds with no attempt are released.

    A refused reservation does this for its own key, and `routeway serve` at start; this does it for every
    key now (on the AWS store it scans the table for holds).
    """
    import asyncio

    from routeway.services.reconcile import reconcile_holds

    gateway = gateway_from_env()

    async def run() -> int:
        try:
            return await reconcile_holds(gateway)
        finally:
            await gateway.upstreams.aclose()

    try:
        count = asyncio.run(run())
    except GatewayError as exc:
        fail(exc.code, exc.message)
    typer.echo(f"reconciled {count} hold(s)")
