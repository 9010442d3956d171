"""From a parsed chat request to a routing plan: goals, requirements, health, the key's model list.

Preview and chat both come through here, with the same seed for the same body, so the first
preview candidate is what chat tries first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from routeway.config import available_backends, backend_status
from routeway.domain.catalog import Catalog
from routeway.domain.goals import RoutingGoals, parse_goals
from routeway.domain.native_names import resolve_native_name, resolve_native_names
from routeway.domain.plan import FAN_OUT_MODE, FREE_MODE, ROUTER_MODES, Plan, plan_route
from routeway.domain.records import ApiKeyRecord
from routeway.domain.requirements import Requirements, derive_requirements
from routeway.domain.wire import ChatRequest
from routeway.errors import BackendUnavailable, NoRoute
from routeway.gateway import Gateway
from routeway.services.keys import key_globs

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


def keyless_backends(gateway: Gateway, catalog: Catalog) -> dict[str, str]:
    """OpenRouter backends that only lack their key here: backend name -> the variable to set."""
    return {
        b.name: b.api_key_env or "OPENROUTER_API_KEY"
        for b in catalog.snapshot.backends
        if b.kind == "openrouter" and backend_status(b, gateway.settings)[0] == "unconfigured"
    }


def upstream_warnings(gateway: Gateway, catalog: Catalog) -> list[str]:
    """What a preview says when it ranks candidates no request could reach from this process yet."""
    return [
        f"backend {name!r} has no key: chat requests routed to it answer 503 backend_unavailable; "
        f"set {variable} (or run `routeway configure`)"
        for name, variable in sorted(keyless_backends(gateway, catalog).items())
    ]


def _reserved(catalog: Catalog) -> set[str]:
    """Names that are never a vendor's own: aliases and routing modes."""
    return {*catalog.aliases, *ROUTER_MODES, FREE_MODE, FAN_OUT_MODE}


def resolve_names(catalog: Catalog, request: ChatRequest) -> tuple[ChatRequest, list[str]]:
    """Vendors' own model names (`claude-sonnet-4-5`) as catalog ids, and the `model_resolved=` notes."""
    return resolve_native_names(request, catalog.ids, _reserved(catalog))


def resolve_name(catalog: Catalog, name: str) -> str | None:
    """The catalog id a vendor's own name stands for, as chat resolves it (`GET /v1/models/{id}`), or None."""
    return resolve_native_name(name, catalog.ids, _reserved(catalog))


def plan_for(
    gateway: Gateway, catalog: Catalog, request: ChatRequest, key: ApiKeyRecord | None, *, preview: bool = False
) -> tuple[Plan, RoutingGoals, Requirements]:
    """The plan for `request`. A preview ranks keyless OpenRouter backends as routable (it calls no model);
    chat that only such a backend could serve answers 503 backend_unavailable, naming what to set."""
    available = frozenset(available_backends(catalog.snapshot.backends, gateway.settings))
    keyless = keyless_backends(gateway, catalog)
    if preview:
        return _plan(gateway, catalog, request, key, available | keyless.keys())
    try:
        return _plan(gateway, catalog, request, key, available)
    except NoRoute:
        if not keyless:
            raise
        _plan(gateway, catalog, request, key, available | keyless.keys())  # still NoRoute: that answer stands
        variables = " or ".join(sorted(set(keyless.values())))
        raise BackendUnavailable(
            f"No configured backend can serve this request: OpenRouter needs a key. Set {variables} "
            "(or run `routeway configure`) and restart the gateway."
        ) from None


def _plan(
    gateway: Gateway, catalog: Catalog, request: ChatRequest, key: ApiKeyRecord | None, available: frozenset[str]
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
        available_backends=available,
        cooldowns=gateway.cooldowns.active(),
        now=gateway.clock.now(),
        seed=request_seed(request.body),
        key_models=key_globs(key),
    )
    return plan, goals, needs
