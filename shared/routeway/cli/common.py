"""What every CLI command shares: the gateway from the environment, one-line errors, JSON output."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

import orjson
import typer

if TYPE_CHECKING:
    from routeway.gateway import Gateway


def fail(code: str, message: str) -> NoReturn:
    """One clear line on stderr (the OpenAI error code and message), exit status 1, no traceback."""
    typer.echo(f"error: {code}: {message}", err=True)
    raise typer.Exit(1)


def gateway_from_env(*, aiohttp_client: bool = False) -> Gateway:
    """The gateway for this command: ROUTEWAY_HOME/config.json, overridden by the environment.
    `aiohttp_client`: upstream calls on httpx's aiohttp transport (`routeway serve`)."""
    from routeway.config import ConfigError
    from routeway.settings import Settings, SettingsError
    from routeway.wiring import build_gateway

    try:
        return build_gateway(Settings.from_process(with_config_file=True), aiohttp_client=aiohttp_client)
    except (SettingsError, ConfigError, ValueError) as exc:
        fail("invalid_configuration", str(exc))


def print_json(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


WIDTH_WHEN_PIPED = 200


def console() -> Any:
    """A rich console; when stdout is not a terminal: no colours, and wide enough that ids never wrap."""
    from rich.console import Console

    terminal = Console()
    return terminal if terminal.is_terminal else Console(width=WIDTH_WHEN_PIPED, no_color=True)
