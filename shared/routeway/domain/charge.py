"""What a generation charges its key, from the usage the upstream reported: never more than the hold.

PRODUCT.md "Money that cannot leak": a `usage.cost` that is missing, a bool, not a finite number, negative,
or above the hold is replaced by the catalog price of the reported usage, capped at the hold. Whatever the
upstream billed past the hold (its own figure, else the catalog's) is the excess: recorded and reported,
never charged. A key without a budget holds nothing (`hold_usd` None): its cost is not capped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from routeway.domain.catalog import Pricing
from routeway.domain.estimate import cost_from_usage


class Charge(NamedTuple):
    usd: float  # what the key is charged, and what the client's `usage.cost` says
    excess_usd: float  # what the upstream billed past the hold: recorded, never charged
    reason: str  # "reported" | "catalog" (the reported cost was not usable) | "unpriced" (nor tokens) | "over_hold"


def charge_for(
    usage: Mapping[str, Any] | None, pricing: Pricing | None, hold_usd: float | None, *, extra_usd: float = 0.0
) -> Charge:
    """The charge for one upstream answer (or a request's summed usage, with `pricing` None).

    `pricing` prices the reported tokens (plus `extra_usd`, e.g. generated images) when the upstream's own
    cost cannot be used; None when no catalog price applies (an estimate, a sum already priced).
    """
    reported = usage.get("cost") if isinstance(usage, Mapping) else None
    usable = _usable(reported)
    if usable is not None and (hold_usd is None or usable <= hold_usd):
        return Charge(usable, 0.0, "reported")
    catalog = _catalog_price(usage, pricing, extra_usd)
    if usable is None:  # no figure to trust: the catalog's, else nothing (no tokens to price)
        if catalog is None:
            return Charge(0.0, 0.0, "unpriced")
        if hold_usd is None or catalog <= hold_usd:
            return Charge(catalog, 0.0, "catalog")
        return Charge(hold_usd, catalog - hold_usd, "over_hold")
    assert hold_usd is not None  # a usable figure above the hold
    charged = hold_usd if catalog is None else min(catalog, hold_usd)
    return Charge(charged, usable - charged, "over_hold")


def _usable(cost: Any) -> float | None:
    """A cost that can be charged as it is: a finite, non-negative number (not a bool)."""
    if isinstance(cost, bool) or not isinstance(cost, int | float):
        return None
    value = float(cost)
    return value if math.isfinite(value) and value >= 0 else None


def _catalog_price(usage: Mapping[str, Any] | None, pricing: Pricing | None, extra_usd: float) -> float | None:
    if pricing is None or not isinstance(usage, Mapping):
        return None
    cost = cost_from_usage(pricing, usage)
    if cost is None or not math.isfinite(cost):
        return None
    return max(0.0, cost + extra_usd)
