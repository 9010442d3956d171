"""`routeway models` and `routeway preview`: the catalog and the ranking a request would get, offline."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from routeway.cli.common import console, fail, gateway_from_env, print_json
from routeway.errors import GatewayError


def models(
    input: Annotated[str | None, typer.Option("--input", help="Input modalities, e.g. text,image.")] = None,
    output: Annotated[str | None, typer.Option("--output", help="Output modalities, e.g. image,text.")] = None,
    match: Annotated[str, typer.Option(help="'all': every modality given; 'any': at least one.")] = "any",
    free: Annotated[bool, typer.Option("--free", help="Only models that cost nothing.")] = False,
    provider: Annotated[str | None, typer.Option(help="Only models this provider serves (slug or name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as GET /v1/models.")] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Only the models this gateway key may use (its --models list).")
    ] = None,
) -> None:
    """List catalog models with filters.

    Example: routeway models --output image,text --match all
    """
    from routeway.services.info import InfoService
    from routeway.services.keys import find_key_blocking, key_globs

    gateway = gateway_from_env()
    try:
        allowed = key_globs(find_key_blocking(gateway.state.sync, key) if key else None)
        listing = InfoService(gateway).list_models(
            gateway.catalog.current_blocking(),
            input_modalities=input,
            output_modalities=output,
            match=match,
            free=free,
            provider=provider,
            allowed=allowed,
        )
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if as_json:
        print_json(listing)
        return
    from rich.table import Column, Table

    table = Table(
        Column("id", no_wrap=True), "input → output", "context", "$/M prompt", "$/M completion", "$/image", "providers"
    )
    for row in listing["data"]:
        arch, price = row["architecture"], row["pricing"]
        table.add_row(
            row["id"],
            f"{'+'.join(arch['input_modalities'])} → {'+'.join(arch['output_modalities'])}",
            f"{row['context_length'] or '-'}",
            _per_million(price.get("prompt")),
            _per_million(price.get("completion")),
            f"{price['image']:.4f}" if price.get("image") else "-",
            _providers(row["providers"]),
        )
    out = console()
    out.print(table)
    out.print(f"{len(listing['data'])} models")


def _providers(names: list[str], shown: int = 3) -> str:
    if not names:
        return "-"
    more = f" +{len(names) - shown}" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


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
    top: int | None,
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
    if top is not None:
        body["top_n"] = top  # --top wins over the file's top_n; without either, the service's default
    return body


def preview(
    file: Annotated[str | None, typer.Option("-f", "--file", help="A chat request as JSON ('-' for stdin).")] = None,
    model: Annotated[str | None, typer.Option(help="A model id, alias or mode (auto, free, ...).")] = None,
    prompt: Annotated[str, typer.Option(help="The prompt, when no file is given.")] = "Hello",
    objective: Annotated[str | None, typer.Option(help="cheapest, fastest, reliable or balanced.")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Cap on the estimated USD per 1k tokens.")] = None,
    allow: Annotated[list[str] | None, typer.Option(help="Allowed model globs, e.g. 'anthropic/*'.")] = None,
    block: Annotated[list[str] | None, typer.Option(help="Blocked model globs.")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Only these providers.")] = None,
    top: Annotated[
        int | None, typer.Option(help="How many candidates to show (default: the file's top_n, else 5).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as POST /v1/route/preview.")] = False,
) -> None:
    """Rank the candidates a request would be routed to, without calling any model.

    Example: routeway preview --model auto --objective cheapest --allow 'anthropic/*' --allow 'openai/*'
    """
    from routeway.domain.wire import parse_chat_request
    from routeway.services.preview import preview as preview_route

    body = _preview_body(file, model, prompt, objective, max_cost, allow, block, only, top)
    gateway = gateway_from_env()
    try:
        result = asyncio.run(preview_route(gateway, parse_chat_request(body)))
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
    for note in result["notes"]:  # why the order is what it is: the task detected, its pool, names resolved
        out.print(f"note: {note}", markup=False, highlight=False)
    if result["excluded"]:
        out.print("excluded: " + ", ".join(f"{k} {v}" for k, v in sorted(result["excluded"].items())))
    for warning in result["warnings"]:
        out.print(f"warning: {warning}", markup=False, highlight=False)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
