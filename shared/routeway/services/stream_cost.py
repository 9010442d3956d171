"""What a stream that never sent its usage cost: an abandoned or cut stream is still paid for.

PRODUCT.md "Money and trust": the upstream's usage when it came; else what OpenRouter says it billed
(`GET /generation?id=`, whose figures appear a moment after the generation stops, so it is asked a few
times); else an estimate from the request's prompt and the tokens that were relayed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson

from routeway.domain.estimate import estimate_prompt_tokens
from routeway.domain.plan import Candidate
from routeway.errors import GatewayError
from routeway.gateway import Gateway
from routeway.ports import Upstream, UpstreamNoAnswer, UpstreamUnreachable
from routeway.services.attempts import upstream_for

LOOKUP_PAUSES_S = (0.3, 0.7, 1.5, 2.5)  # about five seconds in all, then the estimate
LOOKUP_TIMEOUT_S = 2.0


def cost_of(usage: Any) -> float:
    """The USD a usage block says was billed (0 when it says nothing)."""
    cost = usage.get("cost") if isinstance(usage, Mapping) else None
    return float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) and cost > 0 else 0.0


def has_cost(usage: Any) -> bool:
    return isinstance(usage, Mapping) and isinstance(usage.get("cost"), int | float)


def estimated_usage(
    candidate: Candidate, usage: dict[str, Any] | None, relayed_tokens: int, body: Mapping[str, Any]
) -> dict[str, Any]:
    """The usage the upstream did not send, estimated from the prompt and what was relayed."""
    row = candidate.row
    prompt_tokens = estimate_prompt_tokens(body.get("messages") or [])
    cost = prompt_tokens * row.prompt_price + relayed_tokens * row.completion_price + row.request_price
    estimate = {"prompt_tokens": prompt_tokens, "completion_tokens": relayed_tokens}
    return {**estimate, **(usage or {}), "cost": max(0.0, cost), "cost_source": "estimate"}


async def billed_usage(
    gateway: Gateway, candidate: Candidate, upstream_id: Any, estimate: dict[str, Any]
) -> dict[str, Any]:
    """What OpenRouter says it billed for the generation, else the estimate (a few seconds at most)."""
    if candidate.row.backend == "openrouter" and isinstance(upstream_id, str) and upstream_id:
        try:
            upstream = upstream_for(gateway, candidate, (await gateway.catalog.current()).backends)
        except GatewayError:
            return estimate
        billed = await generation_cost(upstream, upstream_id)
        if billed is not None:
            return {**estimate, "cost": billed, "cost_source": "upstream_generation"}
    return estimate


async def generation_cost(upstream: Upstream, upstream_id: str) -> float | None:
    """OpenRouter's `total_cost` for a generation, once it has one; None if it never answers with one."""
    for pause in LOOKUP_PAUSES_S:
        await asyncio.sleep(pause)
        try:
            answer = await upstream.get("generation", {"id": upstream_id}, timeout_s=LOOKUP_TIMEOUT_S)
        except (UpstreamNoAnswer, UpstreamUnreachable):
            continue
        if answer.status == 404:  # not known yet: its stats appear shortly after it stops
            continue
        if answer.status != 200:
            return None
        try:
            data = orjson.loads(answer.body).get("data")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        cost = data.get("total_cost") if isinstance(data, dict) else None
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            return float(cost)
        return None
    return None
