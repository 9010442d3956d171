"""Attempts the gateway gave up on after the upstream accepted them (a first-token timeout, the deadline).

They may have been billed, so each is charged what OpenRouter says it billed (`GET /generation`, looked up in
the background so the next attempt does not wait), else an estimate of its prompt; the request's one charge
waits for those figures and stays within its hold (PRODUCT.md "Money that cannot leak", RELIABILITY 67).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from routeway.gateway import Gateway
from routeway.services.attempts import AttemptResult
from routeway.services.stream_cost import billed_usage, cost_of, estimated_usage

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


@dataclass
class Abandoned:
    bound_usd: float  # what was held for it: the next attempt's hold keeps it until its cost is known
    estimate_usd: float
    lookup: asyncio.Task[None] | None = None
    billed_usd: float | None = None  # set by `lookup`

    @property
    def cost_usd(self) -> float:
        return self.billed_usd if self.billed_usd is not None else self.estimate_usd

    @property
    def reserve_usd(self) -> float:
        """What the request must keep holding for it: its cost once known, else its whole bound."""
        return self.billed_usd if self.billed_usd is not None else max(self.bound_usd, self.estimate_usd)


def start_abandoned(
    gw: Gateway, result: AttemptResult, bound_usd: float, body: Mapping[str, Any], spawn: Spawn
) -> Abandoned:
    """Start asking what the abandoned attempt billed; its record shows the estimate until the answer comes."""
    candidate = result.candidate
    estimate = estimated_usage(candidate, None, 0, body)
    entry = Abandoned(bound_usd, estimate["cost"])
    result.record.cost_usd = entry.cost_usd

    async def lookup() -> None:
        billed = await billed_usage(gw, candidate, result.upstream_id, estimate)
        entry.billed_usd = cost_of(billed)
        result.record.cost_usd = entry.billed_usd

    entry.lookup = spawn(lookup())
    return entry


async def abandoned_cost(entries: list[Abandoned], limit_usd: float | None) -> float:
    """What the abandoned attempts charge together, once their lookups end (a few seconds at most), within
    `limit_usd` (the request's hold)."""
    if not entries:
        return 0.0
    lookups = [a.lookup for a in entries if a.lookup is not None]
    await asyncio.shield(asyncio.gather(*lookups, return_exceptions=True))
    total = sum(a.cost_usd for a in entries)
    return total if limit_usd is None else min(total, limit_usd)


def with_abandoned(cost: float | None, abandoned_usd: float) -> float | None:
    """The record's cost: its answer's, plus what its abandoned attempts were charged."""
    return cost if not abandoned_usd else (cost or 0.0) + abandoned_usd
