"""A columnar index of candidate rows, and the filters of domain/policy.py as mask operations over it.

Every plan filters and scores here (domain/route_scores.py holds the scores), so each filter and each
score has one implementation:
- the routing modes (`auto`, `free`, `bodybuilder`) look at every (model, provider) row of the catalog,
  hundreds on the real catalog, thousands on a large one: `route_index(catalog)`, built once per snapshot;
- a named model, a `models` chain or an alias looks at its targets' rows only: `index_runs` over those
  rows (domain/named_plan.py keeps one per chain, in a bounded LRU on the Catalog).

Each row property is one array (prices, context, limits, speed, reliability) or one boolean mask
per value (modalities, parameters, provider names, quantizations, backends). Rows come in runs, one
run per target (a model on one backend), each run's rows contiguous. The row-by-row reference these
agree with, row for row and float for float, is in the tests (tests/oracle_planner.py). The arrays are
numpy's for the catalog's index (imported with the first routing-mode plan); a named model's handful of
rows is held in domain/plain_arrays.py's lists, which stand in for numpy (`RouteIndex.arrays`), so a
chat to a named model never imports numpy, and every filter and score still has one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from types import ModuleType
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from routeway.domain.candidates import STRUCTURED_PARAMETERS, Row, openrouter_rows
from routeway.domain.catalog import Catalog, Model, PerCatalog
from routeway.domain.globs import GlobSet
from routeway.domain.policy import BALANCED_WEIGHTS, FilterContext
from routeway.domain.requirements import SAME_PARAMETER, Requirements

if TYPE_CHECKING:  # plain_arrays' columns stand in for these in a named model's index
    import numpy as np
    import numpy.typing as npt

    Mask: TypeAlias = npt.NDArray[np.bool_]
    Floats: TypeAlias = npt.NDArray[np.float64]
    Ints: TypeAlias = npt.NDArray[np.int64]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
MAX_CACHED_MASKS = 256  # per-model masks: glob sets (a key's model list, allowed/blocked), routable sets, pools
MAX_CACHED_SPEEDS = 32  # log10 speed columns, one per completion size (max_tokens) seen
NO_LIMIT = 2**63 - 1  # int64's largest


def _masks(arrays: ModuleType, values: Sequence[Collection[str]], size: int) -> dict[str, Mask]:
    out: dict[str, Mask] = {}
    for position, names in enumerate(values):
        for name in names:
            out.setdefault(name, arrays.zeros(size, dtype=bool))[position] = True
    return out


def _ranks(values: list[str]) -> list[int]:
    """Each value's position in sorted order, so a numeric sort orders them as Python orders strings."""
    order = {value: rank for rank, value in enumerate(sorted(set(values)))}
    return [order[v] for v in values]


def _limit(value: int | None) -> int:
    return value if value is not None and value > 0 else NO_LIMIT  # unknown: above any request


@dataclass(eq=False)
class RouteIndex:
    catalog: Catalog
    arrays: ModuleType  # numpy, or domain/plain_arrays.py (a named model's rows): every array operation goes here
    models: Sequence[Model]  # one per run: the catalog's models in snapshot order, or a chain's targets
    rows: tuple[Row, ...]  # run by run, each run's rows in order
    model_of: Ints  # row -> position of its run in `models`
    starts: Ints  # run position -> its first row (rows of a run are contiguous)
    model_id_rank: Ints  # run position -> rank of its model id (ties in a plan break on model id)
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
    reliable: Floats  # Row.reliability: uptime as a share, less the degraded penalty
    reliable_weighted: Floats  # the balanced score's reliability term: BALANCED_WEIGHTS["reliable"] × reliable
    capable_base: Floats  # Row.capability_base: `capable` without its recency term
    created: Floats  # model creation times (exact as floats: they are below 2⁵³)
    healthy: Ints  # 1 when status >= 0 (as integers: a model's healthy providers are a sum)
    special: Mask  # special-purpose models (domain/special.py), which routing modes never choose
    inputs: dict[str, Mask]
    outputs: dict[str, Mask]
    parameters: dict[str, Mask]
    names: dict[str, Mask]  # provider root, slug and name, lower case
    quantizations: dict[str, Mask]
    backends: dict[str, Mask]
    all_rows: Mask  # every row (read-only: shared by every request that asks for it)
    memo: dict[Hashable, Mask] = field(default_factory=dict)  # LRU: glob sets, routable sets, task pools
    speed_logs: dict[int, Floats] = field(default_factory=dict)  # LRU: completion tokens -> log10 expected seconds
    lacking: dict[tuple[str, str], Mask] = field(default_factory=dict)  # (table, value) -> rows without it
    pool_ids: dict[str, frozenset[str]] = field(default_factory=dict)  # task -> its pool's live model ids

    @property
    def size(self) -> int:
        return len(self.rows)

    def none(self) -> Mask:
        nothing: Mask = self.arrays.zeros(self.size, dtype=bool)
        return nothing

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
            cached = self.arrays.array([keep(m) for m in self.models], dtype=bool)[self.model_of]
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
        """log10 of every row's expected seconds (p50 latency + completion tokens / p50 throughput) for a
        completion of that many tokens. Few sizes are common (the default, the usual max_tokens): an LRU
        keeps the recent ones."""
        cached = _recent(self.speed_logs, completion_tokens)
        if cached is None:
            arrays = self.arrays
            cached = arrays.log10(arrays.maximum(self.latency_s + completion_tokens / self.throughput, 1e-12))
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


def build_index(catalog: Catalog) -> RouteIndex:
    """Every OpenRouter row of the catalog, model by model in snapshot order (the routing modes' index)."""
    import numpy

    from routeway.domain.special import special_purpose  # its patterns are compiled only for a routing mode

    by_model = openrouter_rows(catalog)
    models = catalog.snapshot.models
    special = special_purpose(catalog)
    index = index_runs(catalog, [(m, by_model[m.id]) for m in models], numpy, [m.id in special for m in models])
    index.all_rows.flags.writeable = False  # shared by every request that asks for it
    return index


def index_runs(
    catalog: Catalog,
    runs: Sequence[tuple[Model, Sequence[Row]]],
    arrays: ModuleType,
    special: Sequence[bool] | None = None,
) -> RouteIndex:
    """An index of `runs` (a model and its rows on one backend, in order) in `arrays` (numpy, or
    domain/plain_arrays.py); `special` marks, per run, the special-purpose models a routing mode never chooses
    (none when not given)."""
    models = [model for model, _ in runs]
    rows = tuple(r for _, run_rows in runs for r in run_rows)
    counts = [len(run_rows) for _, run_rows in runs]
    runs_of_rows = [position for position, count in enumerate(counts) for _ in range(count)]
    size = len(rows)
    array = arrays.array
    reliable = array([r.reliability for r in rows], dtype=float)
    special_runs = special if special is not None else [False] * len(models)
    return RouteIndex(
        catalog=catalog,
        arrays=arrays,
        models=models,
        rows=rows,
        model_of=array(runs_of_rows, dtype=int),
        starts=array(list(accumulate(counts, initial=0)), dtype=int),
        model_id_rank=array(_ranks([m.id for m in models]), dtype=int),
        prompt=array([r.prompt_price for r in rows], dtype=float),
        completion=array([r.completion_price for r in rows], dtype=float),
        request=array([r.request_price for r in rows], dtype=float),
        image=array([r.image_price for r in rows], dtype=float),
        variable=array([r.variable_price for r in rows], dtype=bool),
        context_limit=array([_limit(r.context_length) for r in rows], dtype=int),
        completion_limit=array([_limit(r.max_completion_tokens) for r in rows], dtype=int),
        request_fees=any(r.request_price for r in rows),
        latency_s=array([r.seconds_p50 for r in rows], dtype=float),
        throughput=array([r.tokens_per_s for r in rows], dtype=float),
        reliable=reliable,
        reliable_weighted=BALANCED_WEIGHTS["reliable"] * reliable,
        capable_base=array([r.capability_base for r in rows], dtype=float),
        created=array([r.model.created for r in rows], dtype=float),
        healthy=array([r.status >= 0 for r in rows], dtype=int),
        special=array([special_runs[run] for run in runs_of_rows], dtype=bool),
        all_rows=arrays.ones(size, dtype=bool),
        inputs=_masks(arrays, [r.inputs for r in rows], size),
        outputs=_masks(arrays, [r.outputs for r in rows], size),
        parameters=_masks(arrays, [r.parameters for r in rows], size),
        names=_masks(
            arrays, [(r.provider_root, (r.provider_slug or "").lower(), r.provider_name.lower()) for r in rows], size
        ),
        quantizations=_masks(arrays, [(r.quantization,) for r in rows], size),
        backends=_masks(arrays, [(r.backend,) for r in rows], size),
    )


def route_index(catalog: Catalog) -> RouteIndex:
    """The catalog's index, built on first use and kept on the Catalog (one per snapshot)."""
    return _ROUTE_INDEX(catalog)


def exclusions(index: RouteIndex, among: Mask, ctx: FilterContext) -> tuple[Mask, dict[str, int]]:
    """The filters over the rows in `among`: the rows kept, and each removed row counted under the first
    filter that removed it (the filters in policy.FIXED_REASONS' order). Routing modes exclude
    the catalog's special-purpose models (the index's own mask) whenever `ctx.special_purpose` is set."""
    goals, needs, prefs, arrays = ctx.goals, ctx.needs, ctx.goals.provider, index.arrays
    remaining = among.copy()
    excluded: dict[str, int] = {}

    def drop(reason: str, mask: Mask) -> None:
        hit = remaining & mask
        count = int(arrays.count_nonzero(hit))
        if count:
            excluded[reason] = excluded.get(reason, 0) + count
            arrays.logical_xor(remaining, hit, out=remaining)

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
    unavailable = tuple(name for name in index.backends if name not in ctx.available_backends)
    if unavailable:
        drop("backend_unavailable", index.any_of(index.backends, unavailable))
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
    for parameter in required_parameters(needs, prefs.require_parameters):
        lacking = index.without("parameters", parameter)
        if parameter in SAME_PARAMETER:
            lacking = lacking & index.without("parameters", SAME_PARAMETER[parameter])
        drop("unsupported_parameters", lacking)
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


def required_parameters(needs: Requirements, require_parameters: bool) -> frozenset[str]:
    """The parameters every endpoint must list. A structured request is sent with OpenRouter's
    `require_parameters` (services/attempts.py), which refuses an endpoint lacking any parameter sent, so it
    is planned as if the client had set it; its own format is `no_structured_output`'s to judge."""
    if needs.structured_output:
        return needs.parameters - STRUCTURED_PARAMETERS
    return needs.parameters if require_parameters else frozenset()


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
        nothing: Floats = index.arrays.zeros(index.size, dtype=float)
        return nothing
    weighted: Floats = index.prompt * needs.prompt_tokens + index.completion * needs.completion_tokens
    return 1000 * weighted / total


_ROUTE_INDEX = PerCatalog(build_index)
