"""The `routeway` command: serve, models, keys. Errors print one line (code and message) and exit 1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from routeway.cli_catalog import catalog_app
from routeway.cli_common import console, fail, gateway_from_env, print_json
from routeway.cli_config import configure
from routeway.cli_ops import explain, smoke
from routeway.cli_run import run
from routeway.errors import ConflictError, GatewayError

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
keys_app = typer.Typer(help="Gateway API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(catalog_app, name="catalog")
app.command()(explain)
app.command()(smoke)
app.command()(run)
app.command()(configure)


@app.command()
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
            if not gateway.state.list_keys():
                key, _ = create_key(gateway.state, gateway.clock, "default")
                typer.echo("No gateway key existed, so one was created (it is shown only once):")
                typer.echo(f"routeway key: {key}")
        except GatewayError as exc:
            fail(exc.code, exc.message)
    catalog = gateway.catalog.current()
    typer.echo(
        f"catalog {catalog.version} ({catalog.source}, {len(catalog.snapshot.models)} models); "
        f"listening on http://{host}:{port}"
    )
    uvicorn.run(create_app(lambda: gateway), host=host, port=port, log_level="warning")


@app.command()
def models(
    input: Annotated[str | None, typer.Option("--input", help="Input modalities, e.g. text,image.")] = None,
    output: Annotated[str | None, typer.Option("--output", help="Output modalities, e.g. image,text.")] = None,
    match: Annotated[str, typer.Option(help="'all': every modality given; 'any': at least one.")] = "any",
    free: Annotated[bool, typer.Option("--free", help="Only models that cost nothing.")] = False,
    provider: Annotated[str | None, typer.Option(help="Only models this provider serves (slug or name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as GET /v1/models.")] = False,
) -> None:
    """List catalog models with filters.

    Example: routeway models --output image,text --match all
    """
    from routeway.services.info import InfoService

    try:
        listing = InfoService(gateway_from_env()).list_models(
            input_modalities=input, output_modalities=output, match=match, free=free, provider=provider
        )
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if as_json:
        print_json(listing)
        return
    from rich.table import Column, Table

    table = Table(Column("id", no_wrap=True), "input → output", "context", "$/M prompt", "$/M completion", "providers")
    for row in listing["data"]:
        arch, price = row["architecture"], row["pricing"]
        table.add_row(
            row["id"],
            f"{'+'.join(arch['input_modalities'])} → {'+'.join(arch['output_modalities'])}",
            f"{row['context_length'] or '-'}",
            _per_million(price.get("prompt")),
            _per_million(price.get("completion")),
            str(len(row["providers"])),
        )
    out = console()
    out.print(table)
    out.print(f"{len(listing['data'])} models")


def _per_million(price: float | None) -> str:
    if price is None:
        return "-"
    return "variable" if price < 0 else f"{price * 1_000_000:.2f}"


def _preview_body(
    file: str | None,
    model: str | None,
    prompt: str,
    objective: str | None,
    max_cost: float | None,
    allow: list[str] | None,
    block: list[str] | None,
    only: list[str] | None,
    top: int,
) -> dict[str, Any]:
    if file:
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
            body = orjson.loads(text)
        except OSError as exc:
            fail("invalid_request", f"{file}: {exc.strerror}")
        except orjson.JSONDecodeError:
            fail("invalid_request", f"{file} is not valid JSON")
        if not isinstance(body, dict):
            fail("invalid_request", f"{file} must hold a JSON object (a chat request)")
    else:
        body = {"model": model or "auto", "messages": [{"role": "user", "content": prompt}]}
    extras = {
        "objective": objective,
        "max_cost_per_1k_tokens": max_cost,
        "allowed_models": allow,
        "blocked_models": block,
    }
    body.update({k: v for k, v in extras.items() if v is not None})
    if only:
        body["provider"] = {**(body.get("provider") or {}), "only": only}
    body["top_n"] = top
    return body


@app.command()
def preview(
    file: Annotated[str | None, typer.Option("-f", "--file", help="A chat request as JSON ('-' for stdin).")] = None,
    model: Annotated[str | None, typer.Option(help="A model id, alias or mode (auto, free, ...).")] = None,
    prompt: Annotated[str, typer.Option(help="The prompt, when no file is given.")] = "Hello",
    objective: Annotated[str | None, typer.Option(help="cheapest, fastest, reliable or balanced.")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Cap on the estimated USD per 1k tokens.")] = None,
    allow: Annotated[list[str] | None, typer.Option(help="Allowed model globs, e.g. 'anthropic/*'.")] = None,
    block: Annotated[list[str] | None, typer.Option(help="Blocked model globs.")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Only these providers.")] = None,
    top: Annotated[int, typer.Option(help="How many candidates to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as POST /v1/route/preview.")] = False,
) -> None:
    """Rank the candidates a request would be routed to, without calling any model.

    Example: routeway preview --model auto --objective cheapest --allow 'anthropic/*' --allow 'openai/*'
    """
    from routeway.services.preview import PreviewService

    body = _preview_body(file, model, prompt, objective, max_cost, allow, block, only, top)
    try:
        result = PreviewService(gateway_from_env()).preview(orjson.dumps(body))
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if as_json:
        print_json(result)
        return
    from rich.table import Column, Table

    table = Table(
        "#",
        Column("model", no_wrap=True),
        "provider",
        "backend",
        "score",
        "$/1k tok",
        "context",
        "p50 ms",
        "tok/s",
        "uptime",
        "why",
        title=f"{result['mode']} · {result['objective']}",
    )
    for c in result["candidates"]:
        cost = c["est_cost_per_1k_tokens"]
        table.add_row(
            str(c["rank"]),
            c["model"],
            c["provider"],
            c["backend"],
            f"{c['score']:.3f}",
            "variable" if cost is None else f"{cost:.6f}",
            str(c["context_length"] or "-"),
            _figure(c["latency_p50_ms"]),
            _figure(c["throughput_p50_tps"]),
            _figure(c["uptime_30m"]),
            "; ".join(c["reasons"]),
        )
    out = console()
    out.print(table)
    if result["excluded"]:
        out.print("excluded: " + ", ".join(f"{k} {v}" for k, v in sorted(result["excluded"].items())))


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="A name for the key's owner, e.g. ci-bot.")],
    budget_usd: Annotated[float | None, typer.Option(help="Spend limit in USD.")] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute.")] = None,
    models: Annotated[list[str] | None, typer.Option("--models", help="Model globs this key may use.")] = None,
) -> None:
    """Create a key. It is printed once, on the last line; only its hash is stored.

    Example: routeway keys create ci-bot --budget-usd 20 --rpm 60 --models 'anthropic/*'
    """
    from routeway.services.keys import create_key

    gateway = gateway_from_env()
    try:
        key, record = create_key(
            gateway.state, gateway.clock, name, budget_usd=budget_usd, rpm=rpm, models=tuple(models or ())
        )
    except ConflictError:
        fail("key_exists", f"a key named {name!r} exists; revoke it or choose another name")
    except GatewayError as exc:
        fail(exc.code, exc.message)
    typer.echo(f"created key {record.name!r} ({record.prefix}…); store it now, it will not be shown again:")
    typer.echo(key)


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys: name, display prefix, limits, spend. Never the key itself."""
    try:
        records = gateway_from_env().state.list_keys()
    except GatewayError as exc:
        fail(exc.code, exc.message)
    rows = [r.model_dump(exclude={"key_hash"}) for r in records]
    if as_json:
        print_json({"keys": rows})
        return
    from rich.table import Table

    table = Table("name", "prefix", "created", "revoked", "budget $", "rpm", "models", "spend $")
    for r in rows:
        table.add_row(
            r["name"],
            r["prefix"],
            r["created_at"],
            "yes" if r["revoked"] else "no",
            "-" if r["budget_usd"] is None else f"{r['budget_usd']:.2f}",
            "-" if r["rpm"] is None else str(r["rpm"]),
            ",".join(r["models"]) or "*",
            f"{r['spend_usd']:.4f}",
        )
    console().print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key by name; requests with it get 401 from then on."""
    try:
        revoked = gateway_from_env().state.revoke_key(name)
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if not revoked:
        fail("key_not_found", f"no key named {name!r}")
    typer.echo(f"revoked key {name!r}")


def main() -> None:
    app()
