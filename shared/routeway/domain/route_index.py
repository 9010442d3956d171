"""A columnar index of the catalog's OpenRouter rows, built once per snapshot, for the routing modes.

`auto`, `free` and `bodybuilder` look at every (model, provider) row: hundreds on the real catalog,
thousands on a large one. Here each row property is one numpy array (prices, context, limits, speed,
reliability) or one boolean mask per value (modalities, parameters, provider names, quantizations), so
the filters of domain/policy.py become mask operations and its scores vector operations, with the
same results: the same first exclusion reason per row, the same floating-point values (the same
operations in the same order; Python's `round` where numpy's could differ). Python objects are made
only for the rows a plan returns (domain/pool_plan.py). numpy is imported with this module, which
domain/plan.py loads on the first routing-mode request, never at import time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from routeway.domain.candidates import Row, openrouter_rows
from routeway.domain.catalog import Catalog, Model
from routeway.domain.globs import GlobSet
from routeway.domain.policy import BALANCED_WEIGHTS, FilterContext
from routeway.domain.requirements import Requirements
from routeway.domain.special import special_purpose

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
MEMO_KEY = "route_index"
MAX_CACHED_MASKS = 256  # per-model masks: glob sets (a key's model list, allowed/blocked), routable sets, pools
MAX_CACHED_SPEEDS = 32  # log10 speed columns, one per completion size (max_tokens) seen
NO_LIMIT = np.iinfo(np.int64).max
KEY_SCALE = 2_000_000  # a rounded score s in [-1, 2] becomes the integer KEY_SCALE - s × 10⁶, in [0, 3 × 10⁶]
KEY_WIDTH = 3 * KEY_SCALE // 2 + 1  # (score, tiebreak) as one integer: score × KEY_WIDTH + tiebreak, below 9.1 × 10¹²


def _masks(values: Sequence[Collection[str]], size: int) -> dict[str, Mask]:
    out: dict[str, Mask] = {}
    for position, names in enumerate(values):
        for name in names:
            out.setdefault(name, np.zeros(size, dtype=np.bool_))[position] = True
    return out


def _ranks(values: list[str]) -> Ints:
    """Each value's position in sorted order, so a numeric sort orders them as Python orders strings."""
    order = {value: rank for rank, value in enumerate(sorted(set(values)))}
    return np.array([order[v] for v in values], dtype=np.int64)


@dataclass(eq=False)
class RouteIndex:
    catalog: Catalog
    rows: tuple[Row, ...]  # model by model in snapshot order, each model's endpoints in order
    model_of: Ints  # row -> position of its model in snapshot.models
    starts: Ints  # model position -> its first row (rows of a model are contiguous)
    model_id_rank: Ints  # model position -> rank of its id (ties in a plan break on model id)
    prompt: Floats
    completion: Floats
    request: Floats
    image: Floats
    variable: Mask
    context_limit: Ints  # the row's context length, or above any request when unknown
    completion_limit: Ints  # the row's max completion tokens, or above any request when unknown
    request_fees: bool  # any row with a per-request price (else that column adds nothing)
    latency_s: Floats  # p50 latency in seconds, the default when unknown
    throughput: Floats  # p50 tokens per second, the default when unknown, at least 0.1
    reliable: Floats  # policy.reliability, per row
    reliable_weighted: Floats  # the balanced score's reliability term: BALANCED_WEIGHTS["reliable"] × reliable
    capable_base: Floats  # policy.capability without its recency term
    created: Floats  # model creation times (exact as floats: they are below 2⁵³)
    healthy: Ints  # 1 when status >= 0 (as integers: a model's healthy providers are a sum)
    special: Mask  # special-purpose models (domain/special.py), which routing modes never choose
    inputs: dict[str, Mask]
    outputs: dict[str, Mask]
    parameters: dict[str, Mask]
    names: dict[str, Mask]  # provider root, slug and name, lower case
    quantizations: dict[str, Mask]
    all_rows: Mask  # every row (read-only: shared by every request that asks for it)
    memo: dict[Hashable, Mask] = field(default_factory=dict)  # LRU: glob sets, routable sets, task pools
    speed_logs: dict[int, Floats] = field(default_factory=dict)  # LRU: completion tokens -> log10 expected seconds
    lacking: dict[tuple[str, str], Mask] = field(default_factory=dict)  # (table, value) -> rows without it
    pool_ids: dict[str, frozenset[str]] = field(default_factory=dict)  # task -> its pool's live model ids

    @property
    def size(self) -> int:
        return len(self.rows)

    def none(self) -> Mask:
        return np.zeros(self.size, dtype=np.bool_)

    def any_of(self, table: Mapping[str, Mask], wanted: tuple[str, ...] | frozenset[str]) -> Mask:
        found = self.none()
        for name in wanted:
            if name in table:
                found |= table[name]
        return found

    def models_where(self, key: Hashable, keep: Callable[[Model], bool]) -> Mask:
        """A per-model condition as a row mask, computed once per `key` and kept in a bounded LRU (requests
        bring their own globs and modalities: a stream of new ones evicts the least recently used)."""
        cached = _recent(self.memo, key)
        if cached is None:
            cached = np.array([keep(m) for m in self.catalog.snapshot.models], dtype=np.bool_)[self.model_of]
            _remember(self.memo, key, cached, MAX_CACHED_MASKS)
        return cached

    def glob_mask(self, globs: GlobSet) -> Mask:
        return self.models_where(("globs", globs), lambda m: globs.matches(m.id))

    def without(self, table: str, value: str) -> Mask:
        """Rows whose `table` (inputs, outputs, parameters) lacks `value`. Kept per value the catalog has
        (a bounded set); a value no row has gets the shared all-rows mask (never written to)."""
        found: Mapping[str, Mask] = getattr(self, table)
        if value not in found:
            return self.all_rows
        cached = self.lacking.get((table, value))
        if cached is None:
            cached = ~found[value]
            self.lacking[(table, value)] = cached
        return cached

    def speed_log(self, completion_tokens: int) -> Floats:
        """log10 of every row's expected seconds (policy.expected_seconds) for a completion of that many
        tokens. Few sizes are common (the default, the usual max_tokens): an LRU keeps the recent ones."""
        cached = _recent(self.speed_logs, completion_tokens)
        if cached is None:
            cached = np.log10(np.maximum(self.latency_s + completion_tokens / self.throughput, 1e-12))
            _remember(self.speed_logs, completion_tokens, cached, MAX_CACHED_SPEEDS)
        return cached


def _recent(cache: dict[K, V], key: K) -> V | None:
    """An LRU read: a hit moves to the end (dicts keep insertion order)."""
    found = cache.pop(key, None)
    if found is not None:
        cache[key] = found
    return found


def _remember(cache: dict[K, V], key: K, value: V, limit: int) -> None:
    while len(cache) >= limit:
        cache.pop(next(iter(cache)))  # the least recently used
    cache[key] = value


def _read_only(mask: Mask) -> Mask:
    mask.flags.writeable = False
    return mask


def build_index(catalog: Catalog) -> RouteIndex:
    by_model = openrouter_rows(catalog)
    models = catalog.snapshot.models
    rows = tuple(r for m in models for r in by_model[m.id])
    counts = [len(by_model[m.id]) for m in models]
    model_of = np.repeat(np.arange(len(models), dtype=np.int64), counts)
    size = len(rows)
    floats = np.float64
    context = np.array([r.context_length or 0 for r in rows], dtype=np.int64)
    max_completion = np.array([r.max_completion_tokens or 0 for r in rows], dtype=np.int64)
    model_rank = _ranks([m.id for m in models])
    reliable = np.array([r.reliability for r in rows], dtype=floats)
    special = special_purpose(catalog)
    return RouteIndex(
        catalog=catalog,
        rows=rows,
        model_of=model_of,
        starts=np.concatenate(([0], np.cumsum(counts, dtype=np.int64))).astype(np.int64),
        model_id_rank=model_rank,
        prompt=np.array([r.prompt_price for r in rows], dtype=floats),
        completion=np.array([r.completion_price for r in rows], dtype=floats),
        request=np.array([r.request_price for r in rows], dtype=floats),
        image=np.array([r.image_price for r in rows], dtype=floats),
        variable=np.array([r.variable_price for r in rows], dtype=np.bool_),
        context_limit=np.where(context > 0, context, NO_LIMIT),
        completion_limit=np.where(max_completion > 0, max_completion, NO_LIMIT),
        request_fees=any(r.request_price for r in rows),
        latency_s=np.array([r.seconds_p50 for r in rows], dtype=floats),
        throughput=np.array([r.tokens_per_s for r in rows], dtype=floats),
        reliable=reliable,
        reliable_weighted=BALANCED_WEIGHTS["reliable"] * reliable,
        capable_base=np.array([r.capability_base for r in rows], dtype=floats),
        created=np.array([r.model.created for r in rows], dtype=floats),
        healthy=np.array([r.status >= 0 for r in rows], dtype=np.int64),
        special=np.array([m.id in special for m in models], dtype=np.bool_)[model_of],
        all_rows=_read_only(np.ones(size, dtype=np.bool_)),
        inputs=_masks([r.inputs for r in rows], size),
        outputs=_masks([r.outputs for r in rows], size),
        parameters=_masks([r.parameters for r in rows], size),
        names=_masks([(r.provider_root, (r.provider_slug or "").lower(), r.provider_name.lower()) for r in rows], size),
        quantizations=_masks([(r.quantization,) for r in rows], size),
    )


def route_index(catalog: Catalog) -> RouteIndex:
    """The catalog's index, built on first use and kept on the Catalog (one per snapshot)."""
    cached = catalog.memo.get(MEMO_KEY)
    if not isinstance(cached, RouteIndex):
        cached = build_index(catalog)
        catalog.memo[MEMO_KEY] = cached
    return cached


def exclusions(index: RouteIndex, among: Mask, ctx: FilterContext) -> tuple[Mask, dict[str, int]]:
    """policy.apply_filters over the rows in `among`: the rows kept, and each removed row counted under
    the first filter that removed it (the filters in policy.exclusion's order). Routing modes exclude
    the catalog's special-purpose models (the index's own mask) whenever `ctx.special_purpose` is set."""
    goals, needs, prefs = ctx.goals, ctx.needs, ctx.goals.provider
    remaining = among.copy()
    excluded: dict[str, int] = {}

    def drop(reason: str, mask: Mask) -> None:
        hit = remaining & mask
        count = int(np.count_nonzero(hit))
        if count:
            excluded[reason] = excluded.get(reason, 0) + count
            np.logical_xor(remaining, hit, out=remaining)

    if ctx.key_models:
        drop("key_model_not_allowed", ~index.glob_mask(ctx.key_models))
    if goals.allowed:
        drop("not_allowed", ~index.glob_mask(goals.allowed))
    if goals.blocked:
        drop("blocked_models", index.glob_mask(goals.blocked))
    if ctx.special_purpose:
        drop("special_purpose", index.special)
    if ctx.exclude_variable_price:
        drop("variable_price", index.variable)
    if "openrouter" not in ctx.available_backends:
        drop("backend_unavailable", index.all_rows)
    for modality in sorted(needs.input_modalities):
        drop(f"missing_input_modality:{modality}", index.without("inputs", modality))
    wanted_outputs = needs.output_modalities | (
        {"text"} if ctx.require_text_output and not needs.output_modalities else set()
    )
    for modality in sorted(wanted_outputs):
        drop(f"missing_output_modality:{modality}", index.without("outputs", modality))
    if needs.tools:
        drop("no_tools", index.without("parameters", "tools"))
    if needs.structured_output:
        drop(
            "no_structured_output",
            index.without("parameters", "response_format") & index.without("parameters", "structured_outputs"),
        )
    if prefs.require_parameters:
        for parameter in needs.parameters:
            drop("unsupported_parameters", index.without("parameters", parameter))
    drop("context_too_small", needs.prompt_tokens + needs.completion_tokens > index.context_limit)
    if needs.max_tokens_given:
        drop("completion_limit", needs.completion_tokens > index.completion_limit)
    if prefs.only:
        drop("provider_policy", ~index.any_of(index.names, tuple(w.lower() for w in prefs.only)))
    if prefs.ignore:
        drop("provider_policy", index.any_of(index.names, tuple(w.lower() for w in prefs.ignore)))
    if prefs.quantizations:
        drop("quantization", ~index.any_of(index.quantizations, prefs.quantizations))
    if goals.max_cost_per_1k_tokens is not None:
        over = est_cost_per_1k(index, needs) > goals.max_cost_per_1k_tokens
        if ctx.exclude_variable_price:  # the variable prices are gone already: only the cap is left to apply
            drop("over_max_cost", over)
        else:
            both = remaining & (index.variable | over)
            drop("variable_price", both & index.variable)
            drop("over_max_cost", both & ~index.variable)
    if prefs.max_price:
        drop("over_max_cost", _over_max_price(index, prefs.max_price))
    return remaining, excluded


def _over_max_price(index: RouteIndex, limits: Mapping[str, float]) -> Mask:
    actual = {"prompt": index.prompt * 1e6, "completion": index.completion * 1e6, "request": index.request}
    actual["image"] = index.image
    over = index.none()
    for name, limit in limits.items():
        if name in actual:
            over |= actual[name] > limit
    return over


def est_cost_per_1k(index: RouteIndex, needs: Requirements) -> Floats:
    """estimate.est_cost_per_1k_tokens for every row."""
    total = needs.prompt_tokens + needs.completion_tokens
    if total <= 0:
        return np.zeros(index.size, dtype=np.float64)
    weighted: Floats = index.prompt * needs.prompt_tokens + index.completion * needs.completion_tokens
    return 1000 * weighted / total


@dataclass(frozen=True)
class Scores:
    """policy.score_rows for the rows `at` (positions in the index), as columns."""

    at: Ints
    value: Floats  # the objective's score, unrounded (for the reason text)
    score: Ints  # min(1, value) rounded to 6 places, × 10⁶ (n / 1e6 is the double Python's round gives)
    tiebreak: Ints  # the balanced score rounded to 6 places, × 10⁶
    tokens: Floats  # prompt and completion tokens at the row's prices (est. cost per 1k: 1000 × tokens / total)
    total_tokens: int
    expected_cost: Floats  # inf for variable prices
    keys: Ints  # policy.Scored.sort_key's (-score, -tiebreak) as one integer, lower first


def _log_scaled(logs: Floats) -> Floats:
    """policy._log_scaled with lower_is_better, from the values' log10."""
    low, high = float(logs.min()), float(logs.max())
    if high - low < 1e-12:
        return np.ones(len(logs), dtype=np.float64)
    return 1 - (logs - low) / (high - low)


def micros(values: Floats) -> Ints:
    """Python's round(v, 6) × 10⁶ for every value, as integers: numpy's rint of v × 10⁶, redone in Python
    near a half-way case (where v × 10⁶'s own rounding could tip it)."""
    scaled = values * 1e6
    rounded = np.rint(scaled)
    for position in (np.abs(scaled - rounded) > 0.499).nonzero()[0].tolist():
        rounded[position] = round(round(float(values[position]), 6) * 1e6)
    return rounded.astype(np.int64)


def score(index: RouteIndex, at: Ints, needs: Requirements, objective: str) -> Scores:
    """The same operations as policy.score_rows in the same order (terms that add an exact 0.0 are left
    out), so the same floats; rows are ordered by integer keys made from the rounded scores."""
    tokens = index.prompt[at] * needs.prompt_tokens + index.completion[at] * needs.completion_tokens
    cost = tokens + index.request[at] if index.request_fees else tokens  # new arrays below: tokens stays
    if "image" in needs.output_modalities:
        cost = cost + index.image[at] * index.outputs.get("image", index.none())[at]
    variable = index.variable[at]
    priced = cost
    if variable.any():
        finite = cost[~variable]
        priced = np.where(variable, float(finite.max()) * 10 if len(finite) else 10.0, cost)
        cost = np.where(variable, math.inf, cost)
    cheap = _log_scaled(np.log10(np.maximum(priced, 1e-12)))
    fast = _log_scaled(index.speed_log(needs.completion_tokens)[at])
    created = index.created[at]
    newest, oldest = float(created.max()), float(created.min())
    recency = (created - oldest) / (newest - oldest) if newest > oldest else np.ones(len(at), dtype=np.float64)
    capable = index.capable_base[at] + 0.2 * recency
    balanced = (
        BALANCED_WEIGHTS["cheapest"] * cheap
        + BALANCED_WEIGHTS["fastest"] * fast
        + index.reliable_weighted[at]
        + BALANCED_WEIGHTS["capable"] * capable
    )
    tiebreak = micros(balanced)
    if objective == "balanced":
        value, score_micros = balanced, np.minimum(tiebreak, 1_000_000)
    else:
        columns = {"cheapest": cheap, "fastest": fast, "capable": capable}
        value = columns[objective] if objective in columns else index.reliable[at]
        score_micros = np.minimum(micros(value), 1_000_000)
    keys = KEY_SCALE * (KEY_WIDTH + 1) - (score_micros * KEY_WIDTH + tiebreak)  # (S - s) × W + (S - t)
    return Scores(
        at=at,
        value=value,
        score=score_micros,
        tiebreak=tiebreak,
        tokens=tokens,
        total_tokens=needs.prompt_tokens + needs.completion_tokens,
        expected_cost=cost,
        keys=keys,
    )
