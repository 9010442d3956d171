"""A named model, a `models` chain or an alias, planned over an index of its targets' rows.

The targets are the chain's models (each with its OpenRouter providers) or the alias's models across
its backend chain: a handful of rows, indexed (domain/route_index.py) once per chain and kept in a
bounded LRU on the Catalog, so a request filters and scores them with the routing modes' column
operations, not a second implementation; its columns are plain lists (domain/plain_arrays.py stands in
for numpy), so a chat to a named model never imports numpy (~150 ms of a cold start). Each target's
providers are ordered as a routing mode orders a model's (plan_steps.order_providers, with the request's
seeded draws, one per target with two healthy providers or more, in the order the targets were named);
the targets keep the order they were named in.
A model named twice shares its rows' scores, reasons included, as the row-by-row reference does.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence

from routeway.domain import plain_arrays
from routeway.domain.catalog import Alias, Catalog, PerCatalog
from routeway.domain.plan_steps import (
    Group,
    Plan,
    PlanInputs,
    attempt_limits,
    attempts_and_ranked,
    no_route,
    order_providers,
)
from routeway.domain.policy import Filtered, Scored
from routeway.domain.route_index import RouteIndex, exclusions, index_runs
from routeway.domain.route_scores import Columns, score, score_reason, scored_rows

NAMED_TARGETS: PerCatalog[dict[Hashable, tuple[list[Group], str | None, RouteIndex]]] = PerCatalog(lambda _: {})
MAX_CACHED_CHAINS = 256  # requests name their own chains: a stream of new ones evicts the least recently used


def named_targets(
    catalog: Catalog, key: Hashable, targets: Callable[[], tuple[list[Group], str | None]]
) -> tuple[list[Group], str | None, RouteIndex]:
    """The targets `targets()` makes for `key` (a chain or an alias), with their variant sort and index,
    made once per key and kept on the Catalog. An error (an unknown model) is raised, never kept."""
    cache = NAMED_TARGETS(catalog)
    found = cache.pop(key, None)
    if found is None:
        groups, sort = targets()
        found = groups, sort, index_runs(catalog, [(g.model, g.rows) for g in groups], plain_arrays)
        while len(cache) >= MAX_CACHED_CHAINS:
            cache.pop(next(iter(cache)))  # the least recently used
    cache[key] = found  # most recently used last
    return found


def plan_named(
    groups: Sequence[Group],
    index: RouteIndex,
    mode: str,
    inputs: PlanInputs,
    *,
    alias: Alias | None = None,
    variant_sort: str | None = None,
) -> Plan:
    """The targets in the order they were named, each one's providers ordered (`provider.sort`, else a
    variant's, e.g. `:nitro`); scores are relative to every kept row of every target."""
    goals, needs = inputs.goals, inputs.needs
    sort = goals.provider.sort or variant_sort
    kept, excluded = exclusions(index, index.all_rows, inputs.filters(routing_mode=False))
    if not kept.any():
        named = {r.provider_name for r in index.rows if r.provider_slug or r.backend != "openrouter"}
        raise no_route(
            Filtered(kept=[], excluded=excluded, before=index.size), named, structured=needs.structured_output
        )
    at = kept.nonzero()[0]
    columns = Columns(score(index, at, needs, goals.objective))
    scored, values = scored_rows(index, columns, 0, len(at))
    by_row: dict[int, Scored] = {}  # a row named twice is one Scored object, as the reference's dict makes it
    for s in scored:
        if id(s.row) not in by_row:
            s.reasons.append(score_reason(goals.objective, values[id(s)]))
            by_row[id(s.row)] = s
    rng = random.Random(inputs.seed)
    ordered: list[tuple[Group, list[Scored]]] = []
    for group in groups:
        kept_rows = [by_row[id(r)] for r in group.rows if id(r) in by_row]
        if kept_rows:
            providers, how = order_providers(kept_rows, goals, sort, rng.random)
            for s in providers:
                s.reasons.append(how)
            if providers:  # `provider.order` without fallbacks leaves a target none of the named providers
                ordered.append((group, providers))
    per_model, total = attempt_limits(mode, goals.objective, len(groups))
    attempts, ranked = attempts_and_ranked(ordered, mode, inputs, per_model, total)
    return Plan(
        mode=mode,
        objective=goals.objective,
        alias=alias.alias if alias else None,
        attempts=attempts,
        ranked=ranked,
        excluded=excluded,
        provider_prefs=goals.provider,
        alias_fallback_on=alias.fallback_on if alias else None,
        sort=sort,
    )
