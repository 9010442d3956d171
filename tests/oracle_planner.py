"""The row-by-row planner: the oracle the production planner (domain/plan.py over domain/route_index.py
and domain/route_scores.py) must agree with, plan for plan, in the property tests (tests/unit/test_plan_index.py).

It is the planner Routeway ran before every plan went through the index: each filter written as a test on
one row (`row_filter`, in policy.FIXED_REASONS' order, first reason wins), each score as Python floats over a
list of rows (`score_rows`), the task's pool chosen from rows (`choose_pool`), and the plan assembled
from the same production steps (plan_steps: provider order, cooldowns, attempts). It is slow on purpose:
plain loops, easy to read against policy.py's docstring, and independent of numpy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from routeway.domain.auto import live_pools
from routeway.domain.candidates import STRUCTURED_PARAMETERS, Row, check_provider_names, openrouter_rows
from routeway.domain.catalog import Catalog
from routeway.domain.estimate import est_cost_per_1k_tokens
from routeway.domain.globs import NO_GLOBS, GlobSet
from routeway.domain.goals import RoutingGoals
from routeway.domain.plan import alias_groups, check_vision, fixed_groups
from routeway.domain.plan_steps import (
    DEFAULT_FAN_OUT,
    FAN_OUT_MODE,
    FREE_MODE,
    ROUTER_MODES,
    Cooldown,
    Group,
    Plan,
    attempt_limits,
    candidates_of,
    diverse,
    no_route,
    order_providers,
    pick_attempts,
    routable,
)
from routeway.domain.policy import BALANCED_WEIGHTS, FilterContext, Filtered, Scored, matches_provider
from routeway.domain.requirements import SAME_PARAMETER, Requirements
from routeway.domain.special import special_purpose
from routeway.domain.tasks import detect_task


def est_cost_per_1k(row: Row, needs: Requirements) -> float:
    return est_cost_per_1k_tokens(row.prompt_price, row.completion_price, needs.prompt_tokens, needs.completion_tokens)


def expected_cost_usd(row: Row, needs: Requirements) -> float:
    images = 1 if "image" in needs.output_modalities and "image" in row.outputs else 0
    return (
        row.prompt_price * needs.prompt_tokens
        + row.completion_price * needs.completion_tokens
        + row.request_price
        + row.image_price * images
    )


def _over_max_price(row: Row, limits: Mapping[str, float] | None) -> bool:
    """OpenRouter's max_price: USD per million tokens for prompt/completion, per request, per image."""
    if not limits:
        return False
    actual = {
        "prompt": row.prompt_price * 1e6,
        "completion": row.completion_price * 1e6,
        "request": row.request_price,
        "image": row.image_price,
    }
    return any(name in actual and actual[name] > limit for name, limit in limits.items())


def exclusion(row: Row, ctx: FilterContext) -> str | None:
    """The first reason this row cannot serve the request, or None."""
    return row_filter(ctx)(row)


def row_filter(ctx: FilterContext) -> Callable[[Row], str | None]:
    """`exclusion` with its request-side work (which filters are on, the modalities wanted, the token
    total) done once per request instead of once per row."""
    goals, needs, prefs = ctx.goals, ctx.needs, ctx.goals.provider
    key_models, allowed, blocked = ctx.key_models or None, goals.allowed or None, goals.blocked or None
    special, exclude_variable, backends = ctx.special_purpose, ctx.exclude_variable_price, ctx.available_backends
    inputs = needs.input_modalities
    outputs = needs.output_modalities | ({"text"} if ctx.require_text_output and not needs.output_modalities else set())
    parameters = needs.parameters if prefs.require_parameters else None
    if needs.structured_output:  # sent with require_parameters; the format itself is no_structured_output's
        parameters = needs.parameters - STRUCTURED_PARAMETERS
    total = needs.prompt_tokens + needs.completion_tokens
    completion_limit = needs.completion_tokens if needs.max_tokens_given else None
    only, ignore, quantizations = prefs.only, prefs.ignore, prefs.quantizations
    cap, max_price = goals.max_cost_per_1k_tokens, prefs.max_price

    def first_reason(row: Row) -> str | None:
        model_id = row.model.id
        if key_models is not None and not key_models.matches(model_id):
            return "key_model_not_allowed"
        if allowed is not None and not allowed.matches(model_id):
            return "not_allowed"
        if blocked is not None and blocked.matches(model_id):
            return "blocked_models"
        if model_id in special:
            return "special_purpose"
        if row.variable_price and exclude_variable:
            return "variable_price"
        if row.backend not in backends:
            return "backend_unavailable"
        if not inputs <= row.inputs:
            return f"missing_input_modality:{min(inputs - row.inputs)}"
        if not outputs <= row.outputs:
            return f"missing_output_modality:{min(outputs - row.outputs)}"
        if needs.tools and "tools" not in row.parameters:
            return "no_tools"
        if needs.structured_output and not STRUCTURED_PARAMETERS & row.parameters:
            return "no_structured_output"
        if parameters is not None and not parameters <= row.parameters | {
            same for same, listed in SAME_PARAMETER.items() if listed in row.parameters
        }:
            return "unsupported_parameters"
        if row.context_length and total > row.context_length:
            return "context_too_small"
        if completion_limit is not None and row.max_completion_tokens and completion_limit > row.max_completion_tokens:
            return "completion_limit"
        if only and not matches_provider(row, only):
            return "provider_policy"
        if ignore and matches_provider(row, ignore):
            return "provider_policy"
        if quantizations and row.quantization not in quantizations:
            return "quantization"
        if cap is not None and (row.variable_price or est_cost_per_1k(row, needs) > cap):
            return "variable_price" if row.variable_price else "over_max_cost"
        if max_price and _over_max_price(row, max_price):
            return "over_max_cost"
        return None

    return first_reason


def apply_filters(rows: Sequence[Row], ctx: FilterContext) -> Filtered:
    kept: list[Row] = []
    excluded: dict[str, int] = {}
    first_reason = row_filter(ctx)
    for row in rows:
        reason = first_reason(row)
        if reason is None:
            kept.append(row)
        else:
            excluded[reason] = excluded.get(reason, 0) + 1
    return Filtered(kept=kept, excluded=excluded, before=len(rows))


def round6(value: float) -> float:
    """round(value, 6), about four times quicker. Python's round gives the double nearest to n / 10⁶, where
    n is value × 10⁶ (exactly) rounded half to even; so does n / 1e6 (one correctly rounded division),
    and round(value × 1e6) is that n unless value × 1e6's own rounding lands near a half-way case,
    which goes to Python's round (so do zero, for its sign, and values that are not small and finite)."""
    scaled = value * 1e6
    if -1e15 < scaled < 1e15:
        nearest = round(scaled)
        if nearest and abs(scaled - nearest) < 0.499:
            return nearest / 1e6
    return round(value, 6)


def _log_scaled(values: Sequence[float], lower_is_better: bool) -> list[float]:
    logs = [math.log10(max(v, 1e-12)) for v in values]
    low, high = min(logs), max(logs)
    if high - low < 1e-12:
        return [1.0 for _ in logs]
    scaled = [(v - low) / (high - low) for v in logs]
    return [1 - s for s in scaled] if lower_is_better else scaled


def expected_seconds(row: Row, needs: Requirements) -> float:
    return row.seconds_p50 + needs.completion_tokens / row.tokens_per_s


def reliability(row: Row) -> float:
    """Uptime (30 minutes, else 1 day, else 5 minutes) as a share, less DEGRADED_PENALTY for a degraded status."""
    return row.reliability


def capability(row: Row, newest: int, oldest: int) -> float:
    """Reasoning 0.3, tools 0.2, structured output 0.1, a LARGE_CONTEXT 0.2 (row.capability_base), recency 0.2."""
    recency = (row.model.created - oldest) / (newest - oldest) if newest > oldest else 1.0
    return row.capability_base + 0.2 * recency


def score_rows(rows: Sequence[Row], needs: Requirements, objective: str) -> list[Scored]:
    if not rows:
        return []
    costs = [math.inf if r.variable_price else expected_cost_usd(r, needs) for r in rows]
    finite = [c for c in costs if c != math.inf] or [1.0]
    ceiling = max(finite) * 10
    cost_scores = _log_scaled([c if c != math.inf else ceiling for c in costs], lower_is_better=True)
    speed_scores = _log_scaled([expected_seconds(r, needs) for r in rows], lower_is_better=True)
    reliable_scores = [r.reliability for r in rows]
    created = [r.model.created for r in rows]
    newest, oldest = max(created), min(created)
    capable_scores = [capability(r, newest, oldest) for r in rows]
    by_objective = {
        "cheapest": cost_scores,
        "fastest": speed_scores,
        "reliable": reliable_scores,
        "capable": capable_scores,
    }
    chosen = None if objective == "balanced" else by_objective[objective]
    cheap_weight, fast_weight, reliable_weight, capable_weight = BALANCED_WEIGHTS.values()
    scored = []
    for index, row in enumerate(rows):
        balanced = (  # the weights in BALANCED_WEIGHTS' order, added left to right (route_index.score does the same)
            cheap_weight * cost_scores[index]
            + fast_weight * speed_scores[index]
            + reliable_weight * reliable_scores[index]
            + capable_weight * capable_scores[index]
        )
        value = balanced if chosen is None else chosen[index]
        variable = row.variable_price
        scored.append(
            Scored(
                row,
                round6(min(1.0, value)),
                None if variable else est_cost_per_1k(row, needs),
                None if variable else costs[index],
                [f"{objective} score {value:.3f}"],
                round6(balanced),
            )
        )
    return scored


@dataclass(frozen=True)
class PoolChoice:
    rows: list[Row]  # the pool's rows that pass the filters (or every filtered row when none does)
    rest: list[Row]  # the other filtered rows: last-resort fallbacks, and fan-out beyond the pool's authors
    note: str
    pooled: bool = False  # `rows` are the task's pool (not the whole filtered catalog)


def choose_pool(catalog: Catalog, task: str, kept: Sequence[Row]) -> PoolChoice:
    """Split the filtered rows into the task's pool and the rest; an empty pool falls back to all of them."""
    ids = {model.id for model in map(catalog.model, live_pools(catalog).get(task, ())) if model is not None}
    in_pool = [r for r in kept if r.model.id in ids]
    if in_pool:
        rest = [r for r in kept if r.model.id not in ids]
        models = len({r.model.id for r in in_pool})
        return PoolChoice(in_pool, rest, f"pool: {models} of {len(ids)} {task} pool models pass the filters", True)
    if not ids:
        return PoolChoice(list(kept), [], f"pool: no {task} pool is configured; ranked the filtered catalog")
    return PoolChoice(list(kept), [], f"pool: the filters removed every {task} pool model; ranked the filtered catalog")


def _pool_groups(catalog: Catalog, free_only: bool, needs: Requirements) -> list[Group]:
    """A text task's pool has text-output models; an image task's adds the image-output ones; music
    and speech models join only when audio output is asked for."""
    rows = openrouter_rows(catalog)
    outputs = needs.output_modalities | {"text"}
    return [Group(m, list(rows[m.id]), m.id) for m in catalog.snapshot.models if routable(m, free_only, outputs)]


def plan_reference(
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
    """The plan, row by row: what domain/plan.plan_route must return for every request."""
    check_provider_names(catalog, goals.provider)
    alias = catalog.aliases.get(model)
    sort = goals.provider.sort
    if model in ROUTER_MODES or model in (FREE_MODE, FAN_OUT_MODE):
        mode = "auto" if model in ROUTER_MODES else model
        groups = _pool_groups(catalog, free_only=mode == FREE_MODE, needs=needs)
    elif alias is not None:
        mode, groups = "alias", alias_groups(catalog, alias)
    else:
        chain = [model, *[m for m in fallbacks if m != model]]
        mode = "fallbacks" if len(chain) > 1 else "fixed"
        groups, variant_sort = fixed_groups(catalog, chain)
        sort = sort or variant_sort
        check_vision(catalog, groups, needs)
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
        named = {r.provider_name for r in all_rows if r.provider_slug or r.backend != "openrouter"}
        raise no_route(filtered, named, structured=needs.structured_output)
    notes = [detected.note] if detected else []
    rows, rest = filtered.kept, []
    tier: str | None = None
    if detected and mode in ("auto", FAN_OUT_MODE):
        choice = choose_pool(catalog, detected.task, filtered.kept)
        rows, rest = choice.rows, choice.rest
        notes.append(choice.note)
        tier = f"in the {detected.task} pool" if choice.pooled else None
    rng = random.Random(seed)
    per_model, total = attempt_limits(mode, goals.objective, len(groups))
    ordered = _order(groups, rows, needs, goals, sort, rng, by_score=pool_mode, tier=tier)
    if rest:  # the pool first; the rest of the filtered catalog only after it
        ordered += _order(groups, rest, needs, goals, sort, rng, by_score=True, tier="outside the pool (fallback)")
    if mode == FAN_OUT_MODE:
        ordered = diverse(ordered, goals.top_n or DEFAULT_FAN_OUT)
    candidates = candidates_of(ordered, mode, cooldowns, now)
    attempts = pick_attempts(candidates, ordered, mode, per_model, total, goals.provider.allow_fallbacks)
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
    groups: list[Group],
    rows: list[Row],
    needs: Requirements,
    goals: RoutingGoals,
    sort: str | None,
    rng: random.Random,
    *,
    by_score: bool,
    tier: str | None = None,
) -> list[tuple[Group, list[Scored]]]:
    """Score `rows` against each other for the objective and order each group's providers; routing modes
    then put the best group first, aliases and named models keep the order they were named in."""
    scored = {id(s.row): s for s in score_rows(rows, needs, goals.objective)}
    ordered: list[tuple[Group, list[Scored]]] = []
    for group in groups:
        kept = [scored[id(r)] for r in group.rows if id(r) in scored]
        if kept:
            providers, how = order_providers(kept, goals, sort, rng.random)
            for s in providers:
                s.reasons[:] = [*([tier] if tier else []), *s.reasons, how]
            if providers:  # `provider.order` without fallbacks leaves a model none of the named providers
                ordered.append((group, providers))
    if by_score:
        ordered.sort(key=lambda gp: min(s.sort_key for s in gp[1]))
    return ordered
