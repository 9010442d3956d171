"""POST /v1/route/preview: the ranked candidates a chat request would use, without calling any model."""

from __future__ import annotations

from functools import partial
from typing import Any

from routeway.domain.content import many_parts
from routeway.domain.goals import DEFAULT_TOP_N
from routeway.domain.records import ApiKeyRecord
from routeway.domain.wire import ChatRequest
from routeway.gateway import Gateway
from routeway.off_loop import cpu_bound_if
from routeway.services.routing import plan_for, resolve_names, upstream_warnings


async def preview(gateway: Gateway, request: ChatRequest, key: ApiKeyRecord | None = None) -> dict[str, Any]:
    catalog = await gateway.catalog.current()
    requested = request.model
    request, resolved = resolve_names(catalog, request)
    heavy = many_parts(request.messages)  # a huge conversation is planned in a thread
    plan, goals, needs = await cpu_bound_if(heavy, partial(plan_for, preview=True), gateway, catalog, request, key)
    top_n = goals.top_n or DEFAULT_TOP_N
    return {
        "object": "route.preview",
        "requested_model": requested,
        "mode": plan.mode,
        "alias": plan.alias,
        "objective": plan.objective,
        "task": plan.task,
        "estimated_prompt_tokens": needs.prompt_tokens,
        "attempts": len(plan.attempts),
        "candidates": [c.preview(rank) for rank, c in enumerate(plan.ranked[:top_n], start=1)],
        "excluded": plan.excluded,
        "notes": [*resolved, *plan.notes],
        "warnings": upstream_warnings(gateway, catalog),
        "catalog_version": catalog.version,
    }
