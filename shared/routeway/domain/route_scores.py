"""The scores of domain/policy.py as column operations over a RouteIndex, and the `Scored` objects made
from them for the rows a plan returns.

The operations are policy's formulas in a fixed order (terms that add an exact 0.0 are left out), and
scores are rounded as Python's `round(value, 6)` rounds (numpy's rint, redone in Python near a
half-way case), so a plan is the same whatever the size of the catalog; tests/oracle_planner.py
computes the same floats row by row, and the property tests compare the two. Array operations go through
the index's `arrays` (numpy, or domain/plain_arrays.py for a named model's rows).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from routeway.domain.policy import BALANCED_WEIGHTS, Scored
from routeway.domain.requirements import Requirements

if TYPE_CHECKING:
    from routeway.domain.route_index import Floats, Ints, RouteIndex

KEY_SCALE = 2_000_000  # a rounded score s in [-1, 2] becomes the integer KEY_SCALE - s × 10⁶, in [0, 3 × 10⁶]
KEY_WIDTH = 3 * KEY_SCALE // 2 + 1  # (score, tiebreak) as one integer: score × KEY_WIDTH + tiebreak, below 9.1 × 10¹²


@dataclass(frozen=True)
class Scores:
    """The scores of the rows `at` (positions in the index), as columns."""

    at: Ints
    value: Floats  # the objective's score, unrounded (for the reason text)
    score: Ints  # min(1, value) rounded to 6 places, × 10⁶ (n / 1e6 is the double Python's round gives)
    tiebreak: Ints  # the balanced score rounded to 6 places, × 10⁶
    tokens: Floats  # prompt and completion tokens at the row's prices (est. cost per 1k: 1000 × tokens / total)
    total_tokens: int
    expected_cost: Floats  # inf for variable prices
    keys: Ints  # policy.Scored.sort_key's (-score, -tiebreak) as one integer, lower first


def _log_scaled(logs: Floats, arrays: ModuleType) -> Floats:
    """Values scaled to [0, 1] on a log scale, the lowest scoring 1, from the values' log10."""
    low, high = float(logs.min()), float(logs.max())
    if high - low < 1e-12:
        same: Floats = arrays.ones(len(logs), dtype=float)
        return same
    return 1 - (logs - low) / (high - low)


def micros(values: Floats, arrays: ModuleType) -> Ints:
    """Python's round(v, 6) × 10⁶ for every value, as integers: numpy's rint of v × 10⁶, redone in Python
    near a half-way case (where v × 10⁶'s own rounding could tip it)."""
    scaled = values * 1e6
    rounded: Floats = arrays.rint(scaled)
    for position in (arrays.abs(scaled - rounded) > 0.499).nonzero()[0].tolist():
        rounded[position] = round(round(float(values[position]), 6) * 1e6)
    return rounded.astype(int)


def score(index: RouteIndex, at: Ints, needs: Requirements, objective: str) -> Scores:
    """Every score of policy's docstring for the rows `at`, relative to each other; rows are ordered by
    integer keys made from the rounded scores."""
    arrays = index.arrays
    tokens = index.prompt[at] * needs.prompt_tokens + index.completion[at] * needs.completion_tokens
    cost = tokens + index.request[at] if index.request_fees else tokens  # new arrays below: tokens stays
    if "image" in needs.output_modalities:
        cost = cost + index.image[at] * index.outputs.get("image", index.none())[at]
    variable = index.variable[at]
    priced = cost
    if variable.any():
        finite = cost[~variable]
        priced = arrays.where(variable, float(finite.max()) * 10 if len(finite) else 10.0, cost)
        cost = arrays.where(variable, math.inf, cost)
    cheap = _log_scaled(arrays.log10(arrays.maximum(priced, 1e-12)), arrays)
    fast = _log_scaled(index.speed_log(needs.completion_tokens)[at], arrays)
    created = index.created[at]
    newest, oldest = float(created.max()), float(created.min())
    recency = (created - oldest) / (newest - oldest) if newest > oldest else arrays.ones(len(at), dtype=float)
    capable = index.capable_base[at] + 0.2 * recency
    balanced = (
        BALANCED_WEIGHTS["cheapest"] * cheap
        + BALANCED_WEIGHTS["fastest"] * fast
        + index.reliable_weighted[at]
        + BALANCED_WEIGHTS["capable"] * capable
    )
    tiebreak = micros(balanced, arrays)
    if objective == "balanced":
        value, score_micros = balanced, arrays.minimum(tiebreak, 1_000_000)
    else:
        columns = {"cheapest": cheap, "fastest": fast, "capable": capable}
        value = columns[objective] if objective in columns else index.reliable[at]
        score_micros = arrays.minimum(micros(value, arrays), 1_000_000)
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


def score_reason(objective: str, value: float) -> str:
    """A candidate's first reason: its objective's score, unrounded to three places."""
    return f"{objective} score {value:.3f}"


class Columns:
    """A part's score columns as Python floats, for the rows that become objects: a small part (the
    usual pool, a named model's providers) is converted at once, a large one a model's slice at a time."""

    WHOLE = 512  # rows: below this, six list conversions cost less than six slices per model read

    def __init__(self, scores: Scores) -> None:
        columns = (scores.at, scores.value, scores.score, scores.tiebreak, scores.tokens, scores.expected_cost)
        self.total_tokens = scores.total_tokens
        self._arrays = columns
        self._lists = [c.tolist() for c in columns] if len(scores.at) <= self.WHOLE else None

    def rows(self, low: int, high: int) -> Iterator[tuple[int, float, int, int, float, float]]:
        if self._lists is not None:
            return zip(*(c[low:high] for c in self._lists), strict=True)
        return zip(*(c[low:high].tolist() for c in self._arrays), strict=True)


def scored_rows(index: RouteIndex, columns: Columns, low: int, high: int) -> tuple[list[Scored], dict[int, float]]:
    """The `Scored` objects of the scored rows low..high (their reasons are written later), and each one's
    unrounded score, for its reason text."""
    made, values = [], {}
    total = columns.total_tokens  # as estimate.est_cost_per_1k_tokens; scores are never below zero: no -0.0
    for at, value, score_micros, tiebreak_micros, tokens, cost in columns.rows(low, high):
        row = index.rows[at]
        variable = row.variable_price
        cost_per_1k = None if variable else (1000 * tokens / total if total > 0 else 0.0)
        scored = Scored(row, score_micros / 1e6, cost_per_1k, None if variable else cost, [], tiebreak_micros / 1e6)
        made.append(scored)
        values[id(scored)] = value
    return made, values
