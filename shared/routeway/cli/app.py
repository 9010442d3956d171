"""The `routeway` command, assembled from its groups. Errors print one line (code and message) and exit 1."""

from __future__ import annotations

import typer

from routeway.cli.browse import models, preview
from routeway.cli.catalog import catalog_app
from routeway.cli.configure import configure
from routeway.cli.keys import keys_app
from routeway.cli.ops import explain, smoke
from routeway.cli.run import run
from routeway.cli.serve import serve
from routeway.cli.store import store_app
from routeway.cli.teams import teams_app

app = typer.Typer(
    help="Routeway: a self-hosted LLM routing gateway. Examples:\n\n"
    "  routeway configure --openrouter-key sk-or-...\n\n"
    '  routeway run "hello" --model auto\n\n'
    "  routeway serve --port 8080\n\n"
    "  routeway models --output image,text --match all\n\n"
    "  routeway preview --model auto --objective cheapest --allow 'openai/*'\n\n"
    "  routeway keys create ci-bot --rpm 60\n\n"
    "  routeway catalog refresh --source openrouter",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(keys_app, name="keys")
app.add_typer(teams_app, name="teams")
app.add_typer(catalog_app, name="catalog")
app.add_typer(store_app, name="store")
app.command()(explain)
app.command()(smoke)
app.command()(run)
app.command()(configure)
app.command()(serve)
app.command()(models)
app.command()(preview)


def main() -> None:
    app()
