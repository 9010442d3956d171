"""`routeway explain` and `routeway smoke`: what happened to a request, and whether each alias works now."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import typer

from routeway.cli.common import console, fail, gateway_from_env, print_json
from routeway.errors import GatewayError

SMOKE_PROMPT = "Reply with the single word OK."


def explain(
    generation_id: Annotated[
        str, typer.Argument(help="A past request's x-routeway-generation-id, or its chat, msg_… or resp_… id.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as GET /v1/route/explain/ID.")] = False,
) -> None:
    """Show how a past request was routed: the plan's mode, each attempt, the winner, usage and cost.

    Example: routeway explain gen-rw-3f2a...
    """
    from routeway.services.explain import OPERATOR
    from routeway.services.explain import explain as explain_record

    try:
        record = asyncio.run(explain_record(gateway_from_env(), generation_id, reader=OPERATOR))
    except GatewayError as exc:
        fail(exc.code, exc.message)
    if as_json:
        print_json(record)
        return
    from rich.table import Table

    route = record["route"]
    out = console()
    out.print(
        f"{record['id']}: {record['status']} (HTTP {record['http_status']}"
        + (f", {record['error_code']}" if record["error_code"] else "")
        + f"), requested {record['requested_model']!r} → {route.get('model', '-')} via {route.get('provider', '-')}"
        + f" [{route.get('mode', '-')}, {route.get('objective', '-')}], cost {record['cost_usd']}"
        + (f" (the upstream billed ${record['excess_usd']:.6f} more, not charged)" if record.get("excess_usd") else "")
    )
    table = Table("#", "model", "provider", "backend", "status", "error", "ms", "applied")
    for index, attempt in enumerate(route.get("attempts", []), start=1):
        table.add_row(
            str(index),
            attempt.get("model", "-"),
            str(attempt.get("provider") or "-"),
            attempt.get("backend", "-"),
            str(attempt.get("status") or "-"),
            str(attempt.get("error_code") or ""),
            str(attempt.get("latency_ms", "")),
            ",".join(attempt.get("applied") or []),
        )
    out.print(table)


def _smoke_body(target: str, image_output: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": target, "messages": [{"role": "user", "content": SMOKE_PROMPT}], "max_tokens": 16}
    if image_output:
        body.update(modalities=["image", "text"], messages=[{"role": "user", "content": "A small red square."}])
    return body


def smoke(
    targets: Annotated[list[str] | None, typer.Argument(help="Aliases or model ids (default: every alias).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Send one tiny request to each alias or model and report OK or the error code, with latency.

    Example: routeway smoke flagship nano-banana openai/gpt-5.4-mini
    """
    from routeway.domain.wire import parse_chat_request
    from routeway.services.completions import CompletionsService
    from routeway.services.results import Completion

    gateway = gateway_from_env()
    catalog = gateway.catalog.current_blocking()
    names = targets or [a.alias for a in catalog.snapshot.aliases]

    async def one(service: CompletionsService, name: str) -> dict[str, Any]:
        alias = catalog.aliases.get(name)
        model = catalog.model(name)
        image_output = bool(alias and alias.image_output) or bool(model and "image" in model.modalities.output)
        started = time.perf_counter()
        row: dict[str, Any] = {"target": name}
        try:
            result = await service.chat(parse_chat_request(_smoke_body(name, image_output)), None)
        except GatewayError as exc:
            row.update(ok=False, code=exc.code, message=exc.message[:120])
        else:
            proof = result.proof
            row.update(
                ok=isinstance(result, Completion),
                code=None,
                model=proof.model,
                provider=proof.provider,
                attempts=len(proof.attempts),
            )
        row["latency_ms"] = round((time.perf_counter() - started) * 1000)
        return row

    async def run() -> list[dict[str, Any]]:
        service = CompletionsService(gateway)
        try:
            return [await one(service, name) for name in names]
        finally:
            await gateway.upstreams.aclose()

    rows = asyncio.run(run())
    if as_json:
        print_json({"results": rows})
    else:
        from rich.table import Table

        table = Table("target", "result", "model", "provider", "attempts", "ms")
        for row in rows:
            result = "OK" if row["ok"] else f"error: {row['code']}"
            table.add_row(
                row["target"],
                result,
                row.get("model") or "-",
                row.get("provider") or "-",
                str(row.get("attempts") or "-"),
                str(row["latency_ms"]),
            )
        console().print(table)
    if not all(row["ok"] for row in rows):
        raise typer.Exit(1)
