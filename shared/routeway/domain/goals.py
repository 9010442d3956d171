"""Routing goals: Routeway's own (objective, price cap, globs, provider policy, top_n) and OpenRouter's
`provider` object, read from the body's top level or from `metadata`, validated with a `param`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routeway.domain.globs import NO_GLOBS, GlobSet, parse_globs
from routeway.errors import InvalidRequest

OBJECTIVES = ("cheapest", "fastest", "reliable", "balanced")
SORTS = ("price", "throughput", "latency")
QUANTIZATIONS = ("int4", "int8", "fp4", "fp6", "fp8", "fp16", "bf16", "fp32", "unknown")
MAX_TOP_N = 50
DEFAULT_TOP_N = 5


@dataclass(frozen=True)
class ProviderPrefs:
    """OpenRouter's `provider` object, merged with Routeway's `provider_policy`."""

    order: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    allow_fallbacks: bool = True
    require_parameters: bool = False
    data_collection: str | None = None
    quantizations: tuple[str, ...] = ()
    sort: str | None = None
    max_price: Mapping[str, float] | None = None  # USD per million tokens (prompt/completion), per request/image

    @property
    def named_slugs(self) -> tuple[str, ...]:
        return self.order + self.only + self.ignore


@dataclass(frozen=True)
class RoutingGoals:
    objective: str = "balanced"
    objective_given: bool = False
    max_cost_per_1k_tokens: float | None = None
    allowed: GlobSet = NO_GLOBS
    blocked: GlobSet = NO_GLOBS
    provider: ProviderPrefs = ProviderPrefs()
    top_n: int | None = None


def goal(body: Mapping[str, Any], name: str) -> Any:
    """A routing goal from the top level (the SDK's extra_body), else from `metadata`."""
    if name in body:
        return body[name]
    metadata = body.get("metadata")
    return metadata.get(name) if isinstance(metadata, Mapping) else None


def _number(value: Any, param: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum or value != value:
        raise InvalidRequest(f"'{param}' must be a number of at least {minimum:g}.", param=param)
    return float(value)


def _slugs(value: Any, param: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidRequest(f"'{param}' must be a list of provider slugs or names.", param=param)
    return tuple(v.strip() for v in value)


def _bool(value: Any, param: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{param}' must be true or false.", param=param)
    return value


def _provider(body: Mapping[str, Any]) -> ProviderPrefs:
    raw = body.get("provider")
    policy = goal(body, "provider_policy")
    if raw is not None and not isinstance(raw, Mapping):
        raise InvalidRequest("'provider' must be an object.", param="provider")
    if policy is not None and not isinstance(policy, Mapping):
        raise InvalidRequest("'provider_policy' must be an object.", param="provider_policy")
    raw, policy = raw or {}, policy or {}
    sort = raw.get("sort")
    if isinstance(sort, Mapping):  # OpenRouter also takes {"by": ..., "partition": ...}
        sort = sort.get("by")
    if sort is not None and sort not in SORTS:
        raise InvalidRequest(f"'provider.sort' must be one of {', '.join(SORTS)}.", param="provider.sort")
    data_collection = raw.get("data_collection")
    if data_collection is not None and data_collection not in ("allow", "deny"):
        raise InvalidRequest("'provider.data_collection' must be 'allow' or 'deny'.", param="provider.data_collection")
    quantizations = _slugs(raw.get("quantizations"), "provider.quantizations")
    unknown = [q for q in quantizations if q.lower() not in QUANTIZATIONS]
    if unknown:
        raise InvalidRequest(
            f"Unknown quantization {unknown[0]!r}; use {', '.join(QUANTIZATIONS)}.", param="provider.quantizations"
        )
    max_price = raw.get("max_price")
    if max_price is not None:
        if not isinstance(max_price, Mapping):
            raise InvalidRequest("'provider.max_price' must be an object.", param="provider.max_price")
        max_price = {k: _number(v, f"provider.max_price.{k}") for k, v in max_price.items()}
    return ProviderPrefs(
        order=_slugs(raw.get("order"), "provider.order"),
        only=_slugs(raw.get("only"), "provider.only") + _slugs(policy.get("only"), "provider_policy.only"),
        ignore=_slugs(raw.get("ignore"), "provider.ignore") + _slugs(policy.get("ignore"), "provider_policy.ignore"),
        allow_fallbacks=_bool(raw.get("allow_fallbacks"), "provider.allow_fallbacks", True)
        and _bool(policy.get("allow_fallbacks"), "provider_policy.allow_fallbacks", True),
        require_parameters=_bool(raw.get("require_parameters"), "provider.require_parameters", False),
        data_collection=data_collection,
        quantizations=tuple(q.lower() for q in quantizations),
        sort=sort,
        max_price=max_price,
    )


GOAL_FIELDS = frozenset(
    {"objective", "max_cost_per_1k_tokens", "top_n", "allowed_models", "blocked_models", "provider", "provider_policy"}
)
DEFAULT_GOALS = RoutingGoals()


def parse_goals(body: Mapping[str, Any]) -> RoutingGoals:
    if "metadata" not in body and GOAL_FIELDS.isdisjoint(body):  # most requests set none: nothing to read
        return DEFAULT_GOALS
    return read_goals(body)


def read_goals(body: Mapping[str, Any]) -> RoutingGoals:
    """Every goal field of the body, validated (parse_goals without its shortcut)."""
    objective = goal(body, "objective")
    if objective is not None and objective not in OBJECTIVES:
        raise InvalidRequest(f"'objective' must be one of {', '.join(OBJECTIVES)}.", param="objective")
    cap = goal(body, "max_cost_per_1k_tokens")
    top_n = goal(body, "top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or not 1 <= top_n <= MAX_TOP_N):
        raise InvalidRequest(f"'top_n' must be an integer from 1 to {MAX_TOP_N}.", param="top_n")
    return RoutingGoals(
        objective=objective or "balanced",
        objective_given=objective is not None,
        max_cost_per_1k_tokens=None if cap is None else _number(cap, "max_cost_per_1k_tokens"),
        allowed=parse_globs(goal(body, "allowed_models"), "allowed_models"),
        blocked=parse_globs(goal(body, "blocked_models"), "blocked_models"),
        provider=_provider(body),
        top_n=top_n,
    )
