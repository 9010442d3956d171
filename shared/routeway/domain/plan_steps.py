"""The parts of a routing plan that every mode shares: what a plan reads of the request, candidates, the plan,
and the steps that order providers, apply cooldowns and pick the attempts (domain/pool_plan.py for the routing
modes, domain/named_plan.py for named models, chains and aliases)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from routeway.domain.candidates import Row
from routeway.domain.catalog import Alias, Model
from routeway.domain.globs import GlobSet
from routeway.domain.goals import ProviderPrefs, RoutingGoals
from routeway.domain.policy import FilterContext, Filtered, Scored, matches_provider, rank
from routeway.domain.requirements import Requirements
from routeway.errors import NoRoute

ROUTER_MODES = frozenset({"auto", "router", "openrouter/auto"})
FREE_MODE, FAN_OUT_MODE = "free", "bodybuilder"
DEFAULT_FAN_OUT = 3


@dataclass(frozen=True)
class Cooldown:
    status: int | None
    until: float


@dataclass(frozen=True)
class PlanInputs:
    """What a plan reads besides the catalog and the mode's targets: the same for every mode."""

    goals: RoutingGoals
    needs: Requirements
    available_backends: frozenset[str]
    cooldowns: Mapping[str, Cooldown]
    now: float
    seed: int  # the provider weighting's draws: the same body, the same plan
    key_models: GlobSet

    def filters(self, *, routing_mode: bool, special_purpose: Collection[str] = frozenset()) -> FilterContext:
        """Routing modes want a text answer, and leave out variable prices when cost decides."""
        goals = self.goals
        cost_decides = goals.objective == "cheapest" or goals.max_cost_per_1k_tokens is not None
        return FilterContext(
            goals=goals,
            needs=self.needs,
            require_text_output=routing_mode,
            exclude_variable_price=routing_mode and cost_decides,
            available_backends=self.available_backends,
            key_models=self.key_models,
            special_purpose=special_purpose,
        )


@dataclass(eq=False, slots=True)
class Candidate:
    scored: Scored
    upstream_model: str
    alias: Alias | None = None
    cooling: str | None = None

    @property
    def row(self) -> Row:
        return self.scored.row

    def preview(self, rank_number: int) -> dict[str, Any]:
        row = self.row
        reasons = list(self.scored.reasons) + ([self.cooling] if self.cooling else [])
        return {
            "rank": rank_number,
            "model": row.model.id,
            "provider": row.provider_name,
            "provider_slug": row.provider_slug,
            "backend": row.backend,
            "score": self.scored.score,
            "est_cost_per_1k_tokens": self.scored.cost_per_1k,
            "context_length": row.context_length,
            "latency_p50_ms": row.latency_p50_ms,
            "throughput_p50_tps": row.throughput_p50_tps,
            "uptime_30m": row.endpoint.uptime_last_30m if row.endpoint else None,
            "reasons": reasons,
        }


@dataclass
class Plan:
    mode: str
    objective: str
    alias: str | None
    attempts: list[Candidate]
    ranked: Sequence[Candidate]  # every candidate, attempts first; routing modes make them as they are read
    excluded: dict[str, int]
    provider_prefs: ProviderPrefs = field(default_factory=ProviderPrefs)
    alias_fallback_on: str | None = None  # "hard": a composite alias moves on only after hard failures
    fan_out: bool = False
    sort: str | None = None
    notes: list[str] = field(default_factory=list)
    task: str | None = None  # the detected task, for routing modes (domain/tasks.py)


@dataclass
class Group:
    """Rows of one target (a model on one backend) in the order they were named."""

    model: Model
    rows: list[Row]
    upstream_model: str
    alias: Alias | None = None


def order_providers(
    scored: list[Scored], goals: RoutingGoals, sort: str | None, draw: Callable[[], float]
) -> tuple[list[Scored], str]:
    prefs = goals.provider
    if prefs.order:
        named: list[Scored] = []
        for slug in prefs.order:
            named += [s for s in scored if matches_provider(s.row, [slug]) and s not in named]
        rest = [s for s in rank(scored) if s not in named] if prefs.allow_fallbacks else []
        return named + rest, "provider order from the request"
    if sort == "price":
        return sorted(scored, key=lambda s: (s.expected_cost or 0.0, s.row.provider_slug or "")), "sorted by price"
    if sort == "throughput":
        return sorted(scored, key=lambda s: (-(s.row.throughput_p50_tps or 0.0), s.row.provider_slug or "")), (
            "sorted by throughput"
        )
    if sort == "latency":
        return sorted(scored, key=lambda s: (s.row.latency_p50_ms or 1e9, s.row.provider_slug or "")), "by latency"
    if goals.objective_given:
        return rank(scored), f"ordered by {goals.objective}"
    healthy: list[Scored] = []
    degraded: list[Scored] = []
    for s in scored:
        (healthy if s.row.status >= 0 else degraded).append(s)
    healthy.sort(key=_by_cost)
    degraded.sort(key=_by_cost)
    if len(healthy) > 1:
        cheapest = min(s.expected_cost or 0.0 for s in healthy)
        floor = cheapest / 2 if cheapest > 0 else 1e-9
        weights = [1 / max(s.expected_cost or 0.0, floor) ** 2 for s in healthy]
        pick = draw() * sum(weights)
        for index, weight in enumerate(weights):
            pick -= weight
            if pick <= 0:
                healthy.insert(0, healthy.pop(index))
                break
    return healthy + degraded, "weighted by inverse square of price"


def _by_cost(s: Scored) -> tuple[float, str]:
    return s.expected_cost or 0.0, s.row.key


def attempt_limits(mode: str, objective: str, targets: int) -> tuple[int, int]:
    """(providers per model, total attempts): more fallbacks for `reliable`."""
    extra = 2 if objective == "reliable" else 0
    if mode == FREE_MODE:
        return 1, 5 + extra
    per_model = (3 if targets == 1 else 2) + extra
    return per_model, 6 + 2 * extra


def diverse(ordered: Iterable[tuple[Group, list[Scored]]], count: int) -> list[tuple[Group, list[Scored]]]:
    """The best model of each author, up to `count`, for a fan-out that compares different families."""
    picked, authors = [], set()
    for group, rows in ordered:
        if group.model.author not in authors:
            authors.add(group.model.author)
            picked.append((group, rows))
        if len(picked) == count:
            break
    return picked


def candidates_of(
    ordered: Iterable[tuple[Group, list[Scored]]], mode: str, cooldowns: Mapping[str, Cooldown], now: float
) -> list[Candidate]:
    healthy: list[Candidate] = []
    cooling: list[Candidate] = []
    for group, rows in ordered:
        for s in rows:
            candidate = Candidate(s, group.upstream_model, group.alias)
            if mode == "alias":
                s.reasons.insert(0, f"alias target via {s.row.backend}")
            candidate.cooling = cooling_reason(s.row, cooldowns, now)
            (cooling if candidate.cooling else healthy).append(candidate)
    return healthy + cooling  # a cooling target is still tried when nothing healthy is left


def attempts_and_ranked(
    ordered: list[tuple[Group, list[Scored]]], mode: str, inputs: PlanInputs, per_model: int, total: int
) -> tuple[list[Candidate], list[Candidate]]:
    """The attempts picked from the ordered targets' candidates, and every candidate, the attempts first."""
    candidates = candidates_of(ordered, mode, inputs.cooldowns, inputs.now)
    attempts = pick_attempts(candidates, ordered, mode, per_model, total, inputs.goals.provider.allow_fallbacks)
    chosen = {id(c) for c in attempts}
    return attempts, attempts + [c for c in candidates if id(c) not in chosen]


def cooling_reason(row: Row, cooldowns: Mapping[str, Cooldown], now: float) -> str | None:
    """Why a target is tried only after the healthy ones, or None when it is not cooling down."""
    cooldown = cooldowns.get(row.key)
    if cooldown is not None and cooldown.until > now:
        return f"cooling_down ({cooldown.status or 'error'}, {int(cooldown.until - now) + 1} s left)"
    return None


def pick_attempts(
    candidates: Iterable[Candidate],
    ordered: list[tuple[Group, list[Scored]]],
    mode: str,
    per_model: int,
    total: int,
    allow_fallbacks: bool,
) -> list[Candidate]:
    if mode == FAN_OUT_MODE:
        firsts: dict[str, Candidate] = {}
        for c in candidates:
            firsts.setdefault(c.row.model.id, c)
        return [firsts[g.model.id] for g, _ in ordered if g.model.id in firsts]
    limit_per_target = 1 if not allow_fallbacks else per_model
    counts: dict[tuple[str, str], int] = {}
    attempts = []
    for c in candidates:
        target = (c.row.model.id, c.row.backend)
        if counts.get(target, 0) >= limit_per_target:
            continue
        counts[target] = counts.get(target, 0) + 1
        attempts.append(c)
        if len(attempts) == total:
            break
    return attempts


def routable(model: Model, free_only: bool, outputs: frozenset[str]) -> bool:
    """In the pools of routing modes: real models (no pointers, no routers) that output only what was asked."""
    if model.id.startswith(("~", "openrouter/")) or not model.output_set <= outputs:
        return False
    is_free = model.id.endswith(":free") or model.pricing.is_free
    return is_free if free_only else not model.id.endswith(":free")


def no_route(filtered: Filtered, providers: set[str], *, structured: bool = False) -> NoRoute:
    """The answer when the filters leave nothing: the funnel says which constraint emptied the pool (for a
    structured request, in words too: it is never answered with free text instead)."""
    hint = ""
    if "backend_unavailable" in filtered.excluded:
        hint += " Some candidates need a backend that is not configured here (see /v1/info)."
    if structured and "no_structured_output" in filtered.excluded:
        hint += " Structured outputs were asked for: `no_structured_output` removed the endpoints without them."
    if structured and "unsupported_parameters" in filtered.excluded:
        hint += (
            " A structured request is sent with OpenRouter's `require_parameters`: `unsupported_parameters`"
            " removed the endpoints that lack another parameter it sends."
        )
    return NoRoute(
        f"No model and provider satisfy the request's constraints; see `funnel` for what removed them.{hint}",
        funnel=filtered.funnel(),
        available_providers=sorted(providers),
    )
