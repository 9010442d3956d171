"""`routeway store …`: the state store itself (its layout)."""

from __future__ import annotations

import typer

from routeway.cli.common import fail, gateway_from_env, print_json
from routeway.errors import GatewayError

store_app = typer.Typer(help="The state store: migrate its layout.", no_args_is_help=True)


@store_app.command("migrate")
def store_migrate(json_out: bool = typer.Option(False, "--json", help="Print the counts as JSON.")) -> None:
    """Move every key and team item still on the layout before issue 35 to its own partition.

    Idempotent (a second run moves nothing) and resumable (each item moves in one transaction); exact while
    gateways serve, provided every gateway on the table runs this version (docs/SCALE.md). The local store
    has nothing to move.

    Example: ROUTEWAY_STORE=aws routeway store migrate
    """
    gateway = gateway_from_env()
    try:
        moved = gateway.state.sync.migrate_layout()
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if json_out:
        print_json(moved)
        return
    if not moved:
        typer.echo("nothing to migrate on this store")
        return
    typer.echo(", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in moved.items()))
