"""`routeway serve`: every route on one local server (uvicorn), with a first key made when there is none."""

from __future__ import annotations

from typing import Annotated

import typer

from routeway.cli.common import fail, gateway_from_env
from routeway.errors import GatewayError


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Run the gateway with every route on one local server.

    Example: ROUTEWAY_HOME=~/.routeway routeway serve --port 8080
    """
    import uvicorn

    from routeway.http.app import create_app
    from routeway.services.keys import create_key

    gateway = gateway_from_env()
    if gateway.settings.auth == "off":
        typer.echo("warning: ROUTEWAY_AUTH=off: every route is open to anyone who can reach this port", err=True)
    else:
        try:
            if not gateway.state.sync.list_keys():
                key, _ = create_key(gateway.state.sync, gateway.clock, "default")
                typer.echo("No gateway key existed, so one was created (it is shown only once):")
                typer.echo(f"routeway key: {key}")
        except GatewayError as exc:
            fail(exc.code, exc.message)
    catalog = gateway.catalog.current_blocking()
    typer.echo(
        f"catalog {catalog.version} ({catalog.source}, {len(catalog.snapshot.models)} models); "
        f"listening on http://{host}:{port}"
    )
    uvicorn.run(create_app(lambda: gateway, long_requests=True), host=host, port=port, log_level="warning")
