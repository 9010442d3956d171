"""Routing modes (`auto`, `free`, `bodybuilder`) planned over the catalog's index (domain/route_index.py).

Filters as masks, scores as columns (domain/route_scores.py), the task's pool first and the rest after
it, models ordered by their best row, each model's providers ordered by plan_steps.order_providers. The
weighted provider order draws from the request's seeded RNG once per model with two healthy providers or
more, in catalog order, whichever models are read. Only the models a reader reaches become `Scored`
objects, and only the candidates it takes become `Candidate` objects (domain/pool_stream.py): the
attempts, and as much of `ranked` as is read (a preview reads its top_n). tests/unit/test_plan_index.py
checks every plan against the row-by-row oracle (tests/oracle_planner.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from routeway.domain.auto import live_pools
from routeway.domain.candidates import openrouter_rows
from routeway.domain.catalog import Catalog
from routeway.domain.goals import RoutingGoals
from routeway.domain.plan_steps import (
    DEFAULT_FAN_OUT,
    FAN_OUT_MODE,
    FREE_MODE,
    Candidate,
    Group,
    Plan,
    PlanInputs,
    attempt_limits,
    attempts_and_ranked,
    diverse,
    no_route,
    order_providers,
    routable,
)
from routeway.domain.policy import Filtered
from routeway.domain.pool_stream import CandidateStream, Offer, Ranked
from routeway.domain.requirements import Requirements
from routeway.domain.route_index import RouteIndex, exclusions, route_index
from routeway.domain.route_scores import Columns, Scores, score, scored_rows
from routeway.domain.special import special_purpose
from routeway.domain.tasks import detect_task

if TYPE_CHECKING:
    from routeway.domain.route_index import Floats, Ints, Mask

OUTSIDE_POOL = "outside the pool (fallback)"
UNCOUNTED = 10**13  # above any (score, tiebreak) key: a model ranks only by the rows it may offer
FIRST_MODELS = 16  # models put in order first; the rest are sorted only if a reader gets past them


@dataclass
class _Part:
    """Rows ranked among themselves (the pool, or the rest after it), scored as columns. Its rows come
    model by model (catalog order), so each model is a run of rows: `bounds[g]` to `bounds[g + 1]`."""

    scores: Scores
    models: Ints  # the part's models (positions in the catalog), one per run
    bounds: Ints
    order_keys: Ints  # each run's rank key: its best row's key, then its model id's rank (all distinct)
    draws: Floats  # each run's random draw for the provider weighting (0 when it draws none)

    def order(self) -> Iterator[int]:
        """Runs, best model first: the first few by a partial sort, the rest only when read."""
        keys, first = self.order_keys, min(FIRST_MODELS, len(self.order_keys))
        top = keys.argpartition(first - 1)[:first] if first < len(keys) else np.arange(len(keys))
        top = top[keys[top].argsort()]
        yield from top.tolist()
        if first < len(keys):
            yield from keys.argsort()[first:].tolist()


def plan_pool(catalog: Catalog, mode: str, inputs: PlanInputs, messages_text: str) -> Plan:
    goals, needs = inputs.goals, inputs.needs
    index = route_index(catalog)
    free_only = mode == FREE_MODE
    outputs = needs.output_modalities | {"text"}
    among = index.models_where(("routable", free_only, outputs), lambda m: routable(m, free_only, outputs))
    ctx = inputs.filters(routing_mode=True, special_purpose=special_purpose(catalog).keys())
    kept, excluded = exclusions(index, among, ctx)
    if not kept.any():
        before = int(np.count_nonzero(among))
        providers = {index.rows[i].provider_name for i in among.nonzero()[0] if index.rows[i].provider_slug}
        raise no_route(
            Filtered(kept=[], excluded=excluded, before=before), providers, structured=needs.structured_output
        )
    detected = detect_task(needs, messages_text)
    notes = [detected.note]
    parts: list[tuple[Mask, str | None]] = [(kept, None)]  # each part with its pool tier, for the reasons
    if mode in ("auto", FAN_OUT_MODE):
        parts, note = _choose_pool(index, detected.task, kept)
        notes.append(note)
    prefs = goals.provider
    weighted = not prefs.order and prefs.sort is None and not goals.objective_given
    rng = random.Random(inputs.seed) if weighted else None  # only the weighted provider order draws
    # `provider.order` without fallbacks: only the named providers are candidates, and rank their model
    counted = None  # every kept row
    if prefs.order and not prefs.allow_fallbacks:
        counted = kept & index.any_of(index.names, tuple(w.lower() for w in prefs.order))

    def part_offers(part: Mask, tier: str | None) -> Iterator[Offer]:
        ranked = _rank_part(index, part.nonzero()[0], counted, needs, goals.objective, rng)
        return _part_offers(index, ranked, goals, tier)

    # parts ranked as they are read: the rest is rarely
    offers = chain.from_iterable(part_offers(part, tier) for part, tier in parts)
    groups = int(np.count_nonzero(among[index.starts[:-1]]))
    per_model, total = attempt_limits(mode, goals.objective, groups)
    if mode == FAN_OUT_MODE:
        chosen_groups = diverse(
            ((o.group, [o.finish(s) for s in o.providers]) for o in offers), goals.top_n or DEFAULT_FAN_OUT
        )
        attempts, listed = attempts_and_ranked(chosen_groups, mode, inputs, per_model, total)
        ranked: Sequence[Candidate] = listed
    else:
        stream = CandidateStream(offers, inputs.cooldowns, inputs.now)
        attempts = stream.pick(per_model if goals.provider.allow_fallbacks else 1, total)
        ranked = Ranked(attempts, stream, int(np.count_nonzero(kept if counted is None else counted)))
    return Plan(
        mode=mode,
        objective=goals.objective,
        alias=None,
        attempts=attempts,
        ranked=ranked,
        excluded=excluded,
        provider_prefs=goals.provider,
        fan_out=mode == FAN_OUT_MODE,
        sort=goals.provider.sort,
        notes=notes,
        task=detected.task,
    )


def _choose_pool(index: RouteIndex, task: str, kept: Mask) -> tuple[list[tuple[Mask, str | None]], str]:
    """The task's pool first, the rest after (auto.py's rules), each with the reason its candidates give for
    their place; an empty pool falls back to all of them (no tier to give)."""
    ids = index.pool_ids.get(task)
    if ids is None:
        catalog = index.catalog
        ids = frozenset(m.id for m in map(catalog.model, live_pools(catalog).get(task, ())) if m is not None)
        index.pool_ids[task] = ids
    in_pool = kept & index.models_where(("pool", task), lambda m: m.id in ids)
    if in_pool.any():
        pooled = index.model_of[in_pool]  # ascending: count the runs
        models = int(np.count_nonzero(pooled[1:] != pooled[:-1])) + 1
        note = f"pool: {models} of {len(ids)} {task} pool models pass the filters"
        rest = kept ^ in_pool  # in_pool is part of kept
        pool: tuple[Mask, str | None] = (in_pool, f"in the {task} pool")
        return ([pool, (rest, OUTSIDE_POOL)] if rest.any() else [pool]), note
    if not ids:
        return [(kept, None)], f"pool: no {task} pool is configured; ranked the filtered catalog"
    return [(kept, None)], f"pool: the filters removed every {task} pool model; ranked the filtered catalog"


def _rank_part(
    index: RouteIndex, at: Ints, counted: Mask | None, needs: Requirements, objective: str, rng: random.Random | None
) -> _Part:
    """Models in the order of their best row's policy.Scored.sort_key: (-score, -tiebreak, model id). Scores
    are rounded to 6 places, so as integers they sort exactly as the floats do."""
    scores = score(index, at, needs, objective)
    models_at = index.model_of[at]
    starts = np.concatenate(([True], models_at[1:] != models_at[:-1])).nonzero()[0]
    models = models_at[starts]
    keys = scores.keys if counted is None else np.where(counted[at], scores.keys, UNCOUNTED)
    best = np.minimum.reduceat(keys, starts)
    draws = np.zeros(len(starts), dtype=np.float64)
    if rng is not None:  # once per model with two healthy providers or more, in catalog order
        drawing = (np.add.reduceat(index.healthy[at], starts) > 1).nonzero()[0]
        draws[drawing] = [rng.random() for _ in range(len(drawing))]
    return _Part(
        scores=scores,
        models=models,
        bounds=np.concatenate((starts, (len(at),))),
        order_keys=best * len(index.model_id_rank) + index.model_id_rank[models],
        draws=draws,
    )


def _part_offers(index: RouteIndex, part: _Part, goals: RoutingGoals, tier: str | None) -> Iterator[Offer]:
    """Each model of the part, best first, with its providers in order: made as they are read."""
    rows_of = openrouter_rows(index.catalog)
    models = index.catalog.snapshot.models
    columns = Columns(part.scores)
    small = len(part.models) <= Columns.WHOLE  # else index the arrays for the few models read
    bounds = part.bounds.tolist() if small else part.bounds
    part_models = part.models.tolist() if small else part.models
    for run in part.order():
        scored, values = scored_rows(index, columns, int(bounds[run]), int(bounds[run + 1]))
        providers, how = order_providers(scored, goals, goals.provider.sort, partial(float, part.draws[run]))
        model = models[int(part_models[run])]
        if providers:  # `provider.order` without fallbacks can name none of them
            group = Group(model, list(rows_of[model.id]), model.id)
            yield Offer(group, providers, values, goals.objective, how, tier)
