"""`routeway serve`: every route on one local server (uvicorn), with a first key made when there is none."""

from __future__ import annotations

import gc
import logging
import socket
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from routeway.cli.common import fail, gateway_from_env
from routeway.errors import GatewayError

if TYPE_CHECKING:
    from routeway.gateway import Gateway


class ClosingUpstreams:
    """The app, plus the ASGI lifespan: at start, the holds a dead predecessor left are charged; on shutdown,
    the money writes still running land, then the upstream connections are closed (aiohttp's sessions
    complain on stderr when a process exits with them open)."""

    def __init__(self, app: Any, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await reconcile_at_start(self.gateway)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                from routeway.services.written import drained

                await drained(SHUTDOWN_DRAIN_S)  # money writes still running (a retried settle, a lookup) land first
                await self.gateway.upstreams.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def reconcile_at_start(gateway: Gateway) -> None:
    """Charge what a predecessor left held (it died before settling) before taking requests; lookups that take
    longer than RECONCILE_AT_START_S go on in the background."""
    import asyncio

    from routeway.services.written import in_background

    started = in_background(_reconcile(gateway))
    await asyncio.wait({started}, timeout=RECONCILE_AT_START_S)


async def _reconcile(gateway: Gateway) -> None:
    from routeway.services.reconcile import reconcile_holds

    count = await reconcile_holds(gateway, at_start=True)
    if count:
        logging.getLogger("routeway.serve").warning(f"reconciled {count} hold(s) a stopped process left")


RECONCILE_AT_START_S = 15.0
# The event loop gives up the GIL at every system call (a socket write, os.urandom); when a store thread is running
# Python meanwhile, the loop waits for it until the switch interval ends: 5 ms by default, the loop's stalls under
# load (a stall monitor, bench/NOTES.md). A shorter interval bounds that wait.
GIL_SWITCH_S = 0.0005
SHUTDOWN_DRAIN_S = 20.0


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is announced; a taken port is one clear line, exit 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "is already in use" if exc.errno in (98, 48, 10048) else f"cannot be used ({exc.strerror})"
        fail(
            "port_unavailable",
            f"port {port} on {host} {reason}; pick another with --port, or PORT= with make (make serve PORT=9000)",
        )
    sock.listen(2048)
    return sock


UPSTREAM_FIELDS = ("status", "model", "provider", "backend", "stream", "error_code", "upstream_error")


class StderrFormatter(logging.Formatter):
    """One line per record, with the upstream facts a record carries as fields (status, model, ...)."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        facts = [f"{name}={getattr(record, name)!r}" for name in UPSTREAM_FIELDS if hasattr(record, name)]
        return f"{line}: {' '.join(facts)}" if facts else line


def log_warnings_to_stderr() -> None:
    """Under `serve`, the `routeway` logger's warnings (upstream errors among them) reach stderr."""
    logger = logging.getLogger("routeway")
    if any(getattr(h, "routeway_serve", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(StderrFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.routeway_serve = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Run the gateway with every route on one local server.

    The store is ROUTEWAY_HOME (default ~/.routeway), shared with every other routeway command.

    Example: routeway serve --port 8080
    """
    import uvicorn

    from routeway.http.serve_app import serve_app
    from routeway.http.serve_timeouts import header_timeout_protocol
    from routeway.request_log import to_stderr
    from routeway.services.keys import create_key

    gateway = gateway_from_env(aiohttp_client=True)  # a long-lived server: aiohttp's import is paid once
    sock = bind(host, port)
    log_warnings_to_stderr()
    if gateway.settings.store == "local":
        typer.echo(f"store: {gateway.settings.home.resolve()} (ROUTEWAY_HOME)")
    if gateway.settings.auth == "off":
        typer.echo("warning: ROUTEWAY_AUTH=off: every route is open to anyone who can reach this port", err=True)
    else:
        try:
            if not gateway.state.sync.list_keys():
                key, _ = create_key(gateway.state.sync, gateway.clock, "default")
                typer.echo("No gateway key existed, so one was created (it is shown only once):")
                typer.echo(f"routeway key: {key}")
        except GatewayError as exc:
            sock.close()
            fail(exc.code, exc.message)
    catalog = gateway.catalog.current_blocking()
    shown_host = f"[{host}]" if ":" in host else host
    typer.echo(
        f"catalog {catalog.version} ({catalog.source}, {len(catalog.snapshot.models)} models); "
        f"listening on http://{shown_host}:{port}"
    )
    settings = gateway.settings
    config = uvicorn.Config(
        ClosingUpstreams(serve_app(gateway, settings, to_stderr), gateway),
        log_level="warning",
        access_log=False,
        http=header_timeout_protocol(settings.serve_header_timeout_s),  # slow headers: closed
        timeout_keep_alive=settings.serve_idle_timeout_s,  # type: ignore[arg-type]  # idle: closed (a float)
    )
    server = uvicorn.Server(config)
    gc.freeze()  # what start-up built (modules, the catalog) lives as long as the process: no collection walks it
    sys.setswitchinterval(GIL_SWITCH_S)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
