"""Filters and scores: which candidate rows a request may use, and how good each is for an objective.

Every row removed is counted under the first filter that removed it, in a fixed order, so the
`no_route` funnel says which constraint emptied the pool.

Scores are in [0, 1], higher is better, relative to the rows being compared:
- cheapest: the request's expected cost (tokens at the row's prices, plus the per-request fee and,
  when images are asked for, one image), on a log scale;
- fastest: expected seconds = p50 latency + completion tokens / p50 throughput, on a log scale;
- reliable: uptime over the last 30 minutes (else 1 day, 5 minutes), minus 0.2 for a degraded status;
- balanced (default): 0.35 × cheapest + 0.25 × fastest + 0.15 × reliable + 0.25 × capable, where
  capable is what the catalog says about a model without benchmarks: reasoning (0.3), tools (0.2),
  structured output (0.1), a context of 128k or more (0.2), and recency (0.2, the newest scoring most).
Ties break on model id and provider slug, so the same request and catalog give the same order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from routeway.domain.candidates import STRUCTURED_PARAMETERS, Row
from routeway.domain.estimate import est_cost_per_1k_tokens
from routeway.domain.globs import NO_GLOBS, GlobSet
from routeway.domain.goals import RoutingGoals
from routeway.domain.requirements import Requirements

FIXED_REASONS = (
    "key_model_not_allowed", "not_allowed", "blocked_models", "special_purpose", "variable_price",
    "backend_unavailable", "missing_input_modality", "missing_output_modality", "no_tools", "no_structured_output",
    "unsupported_parameters", "context_too_small", "completion_limit", "provider_policy", "quantization",
    "data_collection", "over_max_cost",
)  # fmt: skip
BALANCED_WEIGHTS = {"cheapest": 0.35, "fastest": 0.25, "reliable": 0.15, "capable": 0.25}


@dataclass(frozen=True)
class FilterContext:
    goals: RoutingGoals
    needs: Requirements
    require_text_output: bool  # routing modes want a text answer unless images were asked for
    exclude_variable_price: bool
    available_backends: frozenset[str]
    key_models: GlobSet = NO_GLOBS
    special_purpose: Collection[str] = frozenset()  # model ids a routing mode must not choose (domain/special.py)


@dataclass
class Filtered:
    kept: list[Row]
    excluded: dict[str, int]
    before: int

    def funnel(self) -> list[dict[str, int | str]]:
        steps: list[dict[str, int | str]] = []
        remaining = self.before
        for reason in sorted(self.excluded, key=_reason_rank):
            remaining -= self.excluded[reason]
            steps.append({"filter": reason, "removed": self.excluded[reason], "remaining": remaining})
        return steps


def _reason_rank(reason: str) -> tuple[int, str]:
    base = reason.split(":", 1)[0]
    return (FIXED_REASONS.index(base) if base in FIXED_REASONS else len(FIXED_REASONS), reason)


def _names(row: Row) -> tuple[str, ...]:
    slug = row.provider_slug.lower() if row.provider_slug else ""
    return (row.provider_root, slug, row.provider_name.lower())


def matches_provider(row: Row, wanted: Iterable[str]) -> bool:
    names = _names(row)
    return any(w.lower() in names for w in wanted)


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
        if parameters is not None and not parameters <= row.parameters:
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


@dataclass(eq=False, slots=True)  # compared by identity: a deep compare of rows would walk whole models
class Scored:
    row: Row
    score: float
    cost_per_1k: float | None
    expected_cost: float | None
    reasons: list[str] = field(default_factory=list)
    tiebreak: float = 0.0  # the balanced score: decides between equal scores (e.g. many 100% uptimes)

    @property
    def sort_key(self) -> tuple[float, float, str, str]:
        return (-self.score, -self.tiebreak, self.row.model.id, self.row.provider_slug or "")


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


def rank(scored: Iterable[Scored]) -> list[Scored]:
    return sorted(scored, key=lambda s: s.sort_key)
