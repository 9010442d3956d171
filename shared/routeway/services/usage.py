"""What a completion cost and how old the catalog was: the figures a record, a charge and the metrics need."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from routeway.domain.catalog import Catalog
from routeway.domain.charge import Charge, charge_for
from routeway.domain.estimate import with_cache_prices
from routeway.domain.plan import Candidate


def with_cost(completion: dict[str, Any], candidate: Candidate, hold_usd: float | None) -> Charge:
    """Set `usage.cost` to what this answer charges (domain/charge.py): the upstream's figure when it can be
    trusted and fits the hold, else the catalog price of the usage (tokens, request fee, images), capped at the
    hold. The excess past the hold comes back with the charge, for the record."""
    usage = completion.get("usage")
    if not isinstance(usage, dict):
        return Charge(0.0, 0.0, "reported")
    row = candidate.row
    pricing = with_cache_prices(row.endpoint.pricing, row.model.pricing) if row.endpoint else row.model.pricing
    images = sum(
        len((choice.get("message") or {}).get("images") or [])
        for choice in completion.get("choices") or []
        if isinstance(choice, dict)
    )
    charge = charge_for(usage, pricing, hold_usd, extra_usd=row.image_price * images)
    if charge.reason == "unpriced":  # no usable figure and no tokens to price: none is made up
        usage.pop("cost", None)
    else:
        usage["cost"] = charge.usd
    return charge


def catalog_age_s(catalog: Catalog | None, now: float) -> float | None:
    return None if catalog is None else snapshot_age_s(catalog.snapshot.created_at, now)


def snapshot_age_s(stamp: str, now: float) -> float | None:
    """Seconds from a snapshot's `created_at` (2026-05-18T00:00:00Z, the one form snapshots carry) to `now`."""
    if len(stamp) != len("2026-05-18T00:00:00Z") or stamp[10] != "T" or not stamp.endswith("Z"):
        return None
    try:  # not strptime: its first call imports and compiles its parser, ~5 ms of every cold start
        created = datetime.fromisoformat(stamp[:-1]).replace(tzinfo=UTC)
    except ValueError:
        return None
    return max(0.0, now - created.timestamp())
