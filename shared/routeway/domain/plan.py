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

from collections.abc import Mapping, Sequence

from routeway.domain.candidates import bedrock_row, check_provider_names, model_rows, row_for
from routeway.domain.catalog import Alias, Catalog
from routeway.domain.globs import NO_GLOBS, GlobSet
from routeway.domain.goals import RoutingGoals
from routeway.domain.model_ref import parse_model_ref, suggest_models
from routeway.domain.plan_steps import (
    FAN_OUT_MODE,
    FREE_MODE,
    ROUTER_MODES,
    Candidate,
    Cooldown,
    Group,
    Plan,
    PlanInputs,
)
from routeway.domain.requirements import Requirements
from routeway.domain.resolve import model_not_found
from routeway.errors import ModelDoesNotSupportImages

__all__ = ["FAN_OUT_MODE", "FREE_MODE", "ROUTER_MODES", "Candidate", "Cooldown", "Plan", "plan_route"]


def alias_groups(catalog: Catalog, alias: Alias) -> list[Group]:
    groups = []
    for model_id in alias.targets:
        model = catalog.model(model_id)
        if model is None:
            continue
        for backend_name in alias.backends:
            backend = catalog.backends.get(backend_name)
            if backend is None:
                continue
            if backend.kind == "openrouter":  # an alias's chain names its backends: Bedrock's rows where it says so
                rows = [r for r in model_rows(catalog, model) if r.backend == "openrouter"]
            elif backend.kind == "bedrock":
                rows = [bedrock_row(model, backend)]
            else:
                rows = [row_for(model, None, backend=backend.name, provider=backend.name)]
            upstream = alias.backend_models.get(backend.name, model.id)
            groups.append(Group(model, rows, upstream, alias))
    return groups


def fixed_groups(catalog: Catalog, chain: Sequence[str]) -> tuple[list[Group], str | None]:
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
    """Routing modes plan over the catalog's index (domain/pool_plan.py), named models and aliases over
    an index of their targets (domain/named_plan.py, in plain lists); numpy loads with the first routing-mode
    plan, never at import nor for a named model."""
    check_provider_names(catalog, goals.provider)
    inputs = PlanInputs(goals, needs, available_backends, cooldowns, now, seed, key_models)
    if model in ROUTER_MODES or model in (FREE_MODE, FAN_OUT_MODE):
        from routeway.domain.pool_plan import plan_pool

        return plan_pool(catalog, "auto" if model in ROUTER_MODES else model, inputs, messages_text)
    from routeway.domain.named_plan import named_targets, plan_named

    alias = catalog.aliases.get(model)
    if alias is not None:
        groups, sort, index = named_targets(catalog, ("alias", model), lambda: (alias_groups(catalog, alias), None))
        return plan_named(groups, index, "alias", inputs, alias=alias)
    chain = (model, *[m for m in fallbacks if m != model])
    groups, sort, index = named_targets(catalog, ("chain", chain), lambda: fixed_groups(catalog, chain))
    check_vision(catalog, groups, needs)
    return plan_named(groups, index, "fallbacks" if len(chain) > 1 else "fixed", inputs, variant_sort=sort)


def check_vision(catalog: Catalog, groups: list[Group], needs: Requirements) -> None:
    if "image" in needs.input_modalities and not any("image" in g.model.modalities.input for g in groups):
        vision = [m.id for m in catalog.snapshot.models if "image" in m.modalities.input]
        suggestions = suggest_models(groups[0].model.id, vision) or vision[:5]
        raise ModelDoesNotSupportImages(
            f"The model {groups[0].model.id!r} does not accept images. Vision-capable models include: "
            f"{', '.join(suggestions)}.",
            param="model",
            suggestions=suggestions,
        )
