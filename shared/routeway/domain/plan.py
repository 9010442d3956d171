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

from routeway.domain.auto import choose_pool
from routeway.domain.candidates import Row, check_provider_names, model_rows, openrouter_rows, row_for
from routeway.domain.catalog import Alias, Catalog
from routeway.domain.globs import NO_GLOBS, GlobSet
from routeway.domain.goals import RoutingGoals
from routeway.domain.model_ref import parse_model_ref, suggest_models
from routeway.domain.plan_steps import (
    DEFAULT_FAN_OUT,
    FAN_OUT_MODE,
    FREE_MODE,
    ROUTER_MODES,
    Candidate,
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
from routeway.domain.policy import FilterContext, Scored, apply_filters, score_rows
from routeway.domain.requirements import Requirements
from routeway.domain.resolve import model_not_found
from routeway.domain.special import special_purpose
from routeway.domain.tasks import detect_task
from routeway.errors import ModelDoesNotSupportImages

__all__ = ["FAN_OUT_MODE", "FREE_MODE", "ROUTER_MODES", "Candidate", "Cooldown", "Plan", "plan_route"]


def _alias_groups(catalog: Catalog, alias: Alias) -> list[Group]:
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
                rows = list(model_rows(catalog, model))
            else:
                rows = [row_for(model, None, backend=backend.name, provider=backend.name)]
            upstream = alias.backend_models.get(backend.name, model.id)
            groups.append(Group(model, rows, upstream, alias))
    return groups


def _fixed_groups(catalog: Catalog, chain: Sequence[str]) -> tuple[list[Group], str | None]:
    groups, sort = [], None
    for index, raw in enumerate(chain):
        ref = parse_model_ref(raw, catalog.by_id)
        model = catalog.model(ref.base)
        if model is None:
            error = model_not_found(catalog, raw)
            error.param = "model" if index == 0 else f"models[{index - 1}]"
            raise error
        sort = sort or ref.sort
        groups.append(Group(model, list(model_rows(catalog, model)), ref.upstream_id))
    return groups, sort


def _pool_groups(catalog: Catalog, free_only: bool, needs: Requirements) -> list[Group]:
    """A text task's pool has text-output models; an image task's adds the image-output ones; music
    and speech models join only when audio output is asked for."""
    rows = openrouter_rows(catalog)
    outputs = needs.output_modalities | {"text"}
    return [Group(m, list(rows[m.id]), m.id) for m in catalog.snapshot.models if routable(m, free_only, outputs)]


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
    indexed: bool = True,
) -> Plan:
    """Routing modes plan over the columnar index (domain/pool_plan.py); `indexed=False` runs the
    row-by-row loop below instead, which the tests keep as the reference the index must agree with."""
    check_provider_names(catalog, goals.provider)
    alias = catalog.aliases.get(model)
    sort = goals.provider.sort
    if model in ROUTER_MODES or model in (FREE_MODE, FAN_OUT_MODE):
        mode = "auto" if model in ROUTER_MODES else model
        if indexed:
            from routeway.domain.pool_plan import plan_pool  # numpy loads with the first routing-mode request

            return plan_pool(
                catalog,
                mode=mode,
                goals=goals,
                needs=needs,
                messages_text=messages_text,
                available_backends=available_backends,
                cooldowns=cooldowns,
                now=now,
                seed=seed,
                key_models=key_models,
            )
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
        raise no_route(filtered, {r.provider_name for r in all_rows if r.provider_slug or r.backend != "openrouter"})
    notes = [detected.note] if detected else []
    rows, rest = filtered.kept, []
    if detected and mode in ("auto", FAN_OUT_MODE):
        choice = choose_pool(catalog, detected.task, filtered.kept)
        rows, rest = choice.rows, choice.rest
        notes.append(choice.note)
    rng = random.Random(seed)
    per_model, total = attempt_limits(mode, goals.objective, len(groups))
    ordered = _order(groups, rows, needs, goals, sort, rng, by_score=pool_mode)
    if rest:  # the pool first; the rest of the filtered catalog only after it
        ordered += _order(groups, rest, needs, goals, sort, rng, by_score=True)
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
                s.reasons.append(how)
            if providers:  # `provider.order` without fallbacks leaves a model none of the named providers
                ordered.append((group, providers))
    if by_score:
        ordered.sort(key=lambda gp: min(s.sort_key for s in gp[1]))
    return ordered


def _check_vision(catalog: Catalog, groups: list[Group], needs: Requirements) -> None:
    if "image" in needs.input_modalities and not any("image" in g.model.modalities.input for g in groups):
        vision = [m.id for m in catalog.snapshot.models if "image" in m.modalities.input]
        suggestions = suggest_models(groups[0].model.id, vision) or vision[:5]
        raise ModelDoesNotSupportImages(
            f"The model {groups[0].model.id!r} does not accept images. Vision-capable models include: "
            f"{', '.join(suggestions)}.",
            param="model",
            suggestions=suggestions,
        )
