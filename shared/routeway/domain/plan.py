"""Turn a request and the catalog into an ordered, explained plan of (model, provider, backend) attempts.

Modes (the `model` field):
- a catalog id (with variants), plus the `models` fallback list: those models, in that order;
- an alias: its targets, each across its backend chain (e.g. vLLM → Ollama → OpenRouter);
- `auto` / `router` / `openrouter/auto`: the request's task is detected (domain/tasks.py); the task's
  pool of strong general models (domain/auto.py), filtered by what the request needs, is ranked by
  the objective, and the rest of the filtered catalog follows it as a last resort; a pool the filters
  empty falls back to the filtered catalog;
- `free`: only zero-price models, falling through the pool (one provider each) on failures;
- `bodybuilder`: the top `top_n` (default 3) models of the task's pool, from different authors, for a fan-out.

Routing modes never choose a special-purpose model (domain/special.py: guards, apply models, embedding,
image-only...): they are excluded with reason `special_purpose`. Naming one explicitly still works.

Providers of one model follow OpenRouter's default unless told otherwise: providers cooling down
go last, then a first pick weighted by the inverse square of price, the rest cheapest first.
`provider.order`, `provider.sort`, `:nitro`/`:floor` and an explicit objective replace the weighting.
The weighting draws from an RNG seeded by the caller (per request), so a preview and the chat that
follows agree.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from routeway.domain.auto import choose_pool
from routeway.domain.candidates import Row, check_provider_names, openrouter_rows, row_for
from routeway.domain.catalog import Alias, Catalog, Model
from routeway.domain.globs import NO_GLOBS, GlobSet
from routeway.domain.goals import ProviderPrefs, RoutingGoals
from routeway.domain.model_ref import parse_model_ref, suggest_models
from routeway.domain.policy import FilterContext, Scored, apply_filters, matches_provider, rank, score_rows
from routeway.domain.requirements import Requirements
from routeway.domain.resolve import model_not_found
from routeway.domain.special import special_purpose
from routeway.domain.tasks import detect_task
from routeway.errors import ModelDoesNotSupportImages, NoRoute

ROUTER_MODES = frozenset({"auto", "router", "openrouter/auto"})
FREE_MODE, FAN_OUT_MODE = "free", "bodybuilder"
DEFAULT_FAN_OUT = 3


@dataclass(frozen=True)
class Cooldown:
    status: int | None
    until: float


@dataclass(eq=False)
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
    ranked: list[Candidate]
    excluded: dict[str, int]
    provider_prefs: ProviderPrefs = field(default_factory=ProviderPrefs)
    alias_fallback_on: str | None = None  # "hard": a composite alias moves on only after hard failures
    fan_out: bool = False
    sort: str | None = None
    notes: list[str] = field(default_factory=list)
    task: str | None = None  # the detected task, for routing modes (domain/tasks.py)


@dataclass
class _Group:
    """Rows of one target (a model on one backend) in the order they were named."""

    model: Model
    rows: list[Row]
    upstream_model: str
    alias: Alias | None = None


def _alias_groups(catalog: Catalog, alias: Alias) -> list[_Group]:
    groups = []
    for model_id in alias.targets:
        model = catalog.model(model_id)
        if model is None:
            continue
        for backend_name in alias.backends:
            backend = catalog.backends.get(backend_name)
            if backend is None:
                continue
            if backend.kind == "openrouter":
                rows = list(openrouter_rows(catalog)[model.id])
            else:
                rows = [row_for(model, None, backend=backend.name, provider=backend.name)]
            upstream = alias.backend_models.get(backend.name, model.id)
            groups.append(_Group(model, rows, upstream, alias))
    return groups


def _fixed_groups(catalog: Catalog, chain: Sequence[str]) -> tuple[list[_Group], str | None]:
    groups, sort = [], None
    for index, raw in enumerate(chain):
        ref = parse_model_ref(raw, catalog.by_id)
        model = catalog.model(ref.base)
        if model is None:
            error = model_not_found(catalog, raw)
            error.param = "model" if index == 0 else f"models[{index - 1}]"
            raise error
        sort = sort or ref.sort
        groups.append(_Group(model, list(openrouter_rows(catalog)[model.id]), ref.upstream_id))
    return groups, sort


def _routable(model: Model, free_only: bool, outputs: frozenset[str]) -> bool:
    """In the pools of routing modes: real models (no pointers, no routers) that output only what was asked."""
    if model.id.startswith(("~", "openrouter/")) or not model.output_set <= outputs:
        return False
    is_free = model.id.endswith(":free") or model.pricing.is_free
    return is_free if free_only else not model.id.endswith(":free")


def _pool_groups(catalog: Catalog, free_only: bool, needs: Requirements) -> list[_Group]:
    """A text task's pool has text-output models; an image task's adds the image-output ones; music
    and speech models join only when audio output is asked for."""
    rows = openrouter_rows(catalog)
    outputs = needs.output_modalities | {"text"}
    return [_Group(m, list(rows[m.id]), m.id) for m in catalog.snapshot.models if _routable(m, free_only, outputs)]


def _order_providers(
    scored: list[Scored], goals: RoutingGoals, sort: str | None, rng: random.Random
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
    healthy = sorted((s for s in scored if s.row.status >= 0), key=lambda s: (s.expected_cost or 0.0, s.row.key))
    degraded = sorted((s for s in scored if s.row.status < 0), key=lambda s: (s.expected_cost or 0.0, s.row.key))
    if len(healthy) > 1:
        cheapest = min(s.expected_cost or 0.0 for s in healthy)
        floor = cheapest / 2 if cheapest > 0 else 1e-9
        weights = [1 / max(s.expected_cost or 0.0, floor) ** 2 for s in healthy]
        pick = rng.random() * sum(weights)
        for index, weight in enumerate(weights):
            pick -= weight
            if pick <= 0:
                healthy.insert(0, healthy.pop(index))
                break
    return healthy + degraded, "weighted by inverse square of price"


def _attempt_limits(mode: str, objective: str, targets: int) -> tuple[int, int]:
    """(providers per model, total attempts): more fallbacks for `reliable`."""
    extra = 2 if objective == "reliable" else 0
    if mode == FREE_MODE:
        return 1, 5 + extra
    per_model = (3 if targets == 1 else 2) + extra
    return per_model, 6 + 2 * extra


def plan_route(
    catalog: Catalog,
    *,
    model: str,
    fallbacks: Sequence[str],
    goals: RoutingGoals,
    needs: Requirements,
    messages_text: str,
    available_backends: frozenset[str],
    cooldowns: Mapping[str, Cooldown],
    now: float,
    seed: int,
    key_models: GlobSet = NO_GLOBS,
) -> Plan:
    check_provider_names(catalog, goals.provider)
    alias = catalog.aliases.get(model)
    sort = goals.provider.sort
    if model in ROUTER_MODES or model in (FREE_MODE, FAN_OUT_MODE):
        mode = "auto" if model in ROUTER_MODES else model
        groups = _pool_groups(catalog, free_only=mode == FREE_MODE, needs=needs)
    elif alias is not None:
        mode, groups = "alias", _alias_groups(catalog, alias)
    else:
        chain = [model, *[m for m in fallbacks if m != model]]
        mode = "fallbacks" if len(chain) > 1 else "fixed"
        groups, variant_sort = _fixed_groups(catalog, chain)
        sort = sort or variant_sort
        _check_vision(catalog, groups, needs)
    pool_mode = mode in ("auto", FREE_MODE, FAN_OUT_MODE)
    detected = detect_task(needs, messages_text) if pool_mode else None
    ctx = FilterContext(
        goals=goals,
        needs=needs,
        require_text_output=pool_mode,
        exclude_variable_price=pool_mode
        and (goals.objective == "cheapest" or goals.max_cost_per_1k_tokens is not None),
        available_backends=available_backends,
        key_models=key_models,
        special_purpose=special_purpose(catalog).keys() if pool_mode else frozenset(),
    )
    all_rows = [r for g in groups for r in g.rows]
    filtered = apply_filters(all_rows, ctx)
    if not filtered.kept:
        hint = (
            " Some candidates need a backend that is not configured here (see /v1/info)."
            if "backend_unavailable" in filtered.excluded
            else ""
        )
        raise NoRoute(
            f"No model and provider satisfy the request's constraints; see `funnel` for what removed them.{hint}",
            funnel=filtered.funnel(),
            available_providers=sorted(
                {r.provider_name for r in all_rows if r.provider_slug or r.backend != "openrouter"}
            ),
        )
    notes = [detected.note] if detected else []
    rows, rest = filtered.kept, []
    if detected and mode in ("auto", FAN_OUT_MODE):
        choice = choose_pool(catalog, detected.task, filtered.kept)
        rows, rest = choice.rows, choice.rest
        notes.append(choice.note)
    rng = random.Random(seed)
    per_model, total = _attempt_limits(mode, goals.objective, len(groups))
    ordered = _order(groups, rows, needs, goals, sort, rng, by_score=pool_mode)
    if rest:  # the pool first; the rest of the filtered catalog only after it
        ordered += _order(groups, rest, needs, goals, sort, rng, by_score=True)
    if mode == FAN_OUT_MODE:
        ordered = _diverse(ordered, goals.top_n or DEFAULT_FAN_OUT)
    candidates = _candidates(ordered, mode, cooldowns, now)
    attempts = _pick_attempts(candidates, ordered, mode, per_model, total, goals.provider.allow_fallbacks)
    chosen = {id(c) for c in attempts}
    return Plan(
        mode=mode,
        objective=goals.objective,
        alias=alias.alias if alias else None,
        attempts=attempts,
        ranked=attempts + [c for c in candidates if id(c) not in chosen],
        excluded=filtered.excluded,
        provider_prefs=goals.provider,
        alias_fallback_on=alias.fallback_on if alias else None,
        fan_out=mode == FAN_OUT_MODE,
        sort=sort,
        notes=notes,
        task=detected.task if detected else None,
    )


def _order(
    groups: list[_Group],
    rows: list[Row],
    needs: Requirements,
    goals: RoutingGoals,
    sort: str | None,
    rng: random.Random,
    *,
    by_score: bool,
) -> list[tuple[_Group, list[Scored]]]:
    """Score `rows` against each other for the objective and order each group's providers; routing modes
    then put the best group first, aliases and named models keep the order they were named in."""
    scored = {id(s.row): s for s in score_rows(rows, needs, goals.objective)}
    ordered: list[tuple[_Group, list[Scored]]] = []
    for group in groups:
        kept = [scored[id(r)] for r in group.rows if id(r) in scored]
        if kept:
            providers, how = _order_providers(kept, goals, sort, rng)
            for s in providers:
                s.reasons.append(how)
            ordered.append((group, providers))
    if by_score:
        ordered.sort(key=lambda gp: min(s.sort_key for s in gp[1]))
    return ordered


def _check_vision(catalog: Catalog, groups: list[_Group], needs: Requirements) -> None:
    if "image" in needs.input_modalities and not any("image" in g.model.modalities.input for g in groups):
        vision = [m.id for m in catalog.snapshot.models if "image" in m.modalities.input]
        suggestions = suggest_models(groups[0].model.id, vision) or vision[:5]
        raise ModelDoesNotSupportImages(
            f"The model {groups[0].model.id!r} does not accept images. Vision-capable models include: "
            f"{', '.join(suggestions)}.",
            param="model",
            suggestions=suggestions,
        )


def _diverse(ordered: list[tuple[_Group, list[Scored]]], count: int) -> list[tuple[_Group, list[Scored]]]:
    """The best model of each author, up to `count`, for a fan-out that compares different families."""
    picked, authors = [], set()
    for group, rows in ordered:
        if group.model.author not in authors:
            authors.add(group.model.author)
            picked.append((group, rows))
        if len(picked) == count:
            break
    return picked


def _candidates(
    ordered: list[tuple[_Group, list[Scored]]], mode: str, cooldowns: Mapping[str, Cooldown], now: float
) -> list[Candidate]:
    healthy, cooling = [], []
    for group, rows in ordered:
        for s in rows:
            candidate = Candidate(s, group.upstream_model, group.alias)
            if mode == "alias":
                s.reasons.insert(0, f"alias target via {s.row.backend}")
            cooldown = cooldowns.get(s.row.key)
            if cooldown is not None and cooldown.until > now:
                candidate.cooling = (
                    f"cooling_down ({cooldown.status or 'error'}, {int(cooldown.until - now) + 1} s left)"
                )
                cooling.append(candidate)
            else:
                healthy.append(candidate)
    return healthy + cooling  # a cooling target is still tried when nothing healthy is left


def _pick_attempts(
    candidates: list[Candidate],
    ordered: list[tuple[_Group, list[Scored]]],
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
