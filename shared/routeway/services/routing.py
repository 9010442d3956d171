"""From a parsed chat request to a routing plan: goals, requirements, health, the key's model list.

Preview and chat both come through here, with the same seed for the same body, so the first
preview candidate is what chat tries first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from routeway.config import available_backends
from routeway.domain.catalog import Catalog
from routeway.domain.globs import NO_GLOBS, parse_globs
from routeway.domain.goals import RoutingGoals, parse_goals
from routeway.domain.native_names import resolve_native_names
from routeway.domain.plan import FAN_OUT_MODE, FREE_MODE, ROUTER_MODES, Plan, plan_route
from routeway.domain.records import ApiKeyRecord
from routeway.domain.requirements import Requirements, derive_requirements
from routeway.domain.wire import ChatRequest
from routeway.gateway import Gateway

SEED_IGNORES = ("stream", "stream_options", "top_n", "user")


def request_seed(body: Mapping[str, Any]) -> int:
    """The same request body gives the same seed, whatever the order of its keys."""
    material = {k: v for k, v in body.items() if k not in SEED_IGNORES}
    digest = hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).digest()
    return int.from_bytes(digest[:8], "big")


def message_text(messages: list[Any], limit: int = 20_000) -> str:
    """The prompt's text, for task detection only (never stored or logged)."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return "\n".join(parts)[-limit:]


def resolve_names(catalog: Catalog, request: ChatRequest) -> tuple[ChatRequest, list[str]]:
    """Vendors' own model names (`claude-sonnet-4-5`) as catalog ids, and the `model_resolved=` notes."""
    reserved = {*catalog.aliases, *ROUTER_MODES, FREE_MODE, FAN_OUT_MODE}
    return resolve_native_names(request, catalog.ids, reserved)


def plan_for(
    gateway: Gateway, catalog: Catalog, request: ChatRequest, key: ApiKeyRecord | None
) -> tuple[Plan, RoutingGoals, Requirements]:
    goals = parse_goals(request.body)
    needs = derive_requirements(request.body, request.messages, request.max_tokens)
    plan = plan_route(
        catalog,
        model=request.model,
        fallbacks=request.models,
        goals=goals,
        needs=needs,
        messages_text=message_text(request.messages),
        available_backends=frozenset(available_backends(catalog.snapshot.backends, gateway.settings)),
        cooldowns=gateway.cooldowns.active(),
        now=gateway.clock.now(),
        seed=request_seed(request.body),
        key_models=parse_globs(list(key.models), "models") if key and key.models else NO_GLOBS,
    )
    return plan, goals, needs
