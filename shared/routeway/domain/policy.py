"""Filters and scores: which candidate rows a request may use, and how good each is for an objective.

This module holds their rules and the types every plan shares; the one implementation of the filters is
domain/route_index.py (`exclusions`: masks over an index of rows) and of the scores domain/route_scores.py
(columns). tests/oracle_planner.py writes each rule again row by row, as the property tests' reference.

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

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from routeway.domain.candidates import Row
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


def rank(scored: Iterable[Scored]) -> list[Scored]:
    return sorted(scored, key=lambda s: s.sort_key)
