"""What a completion cost and how old the catalog was: the figures a record, a charge and the metrics need."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from routeway.domain.catalog import Catalog
from routeway.domain.estimate import cost_from_usage
from routeway.domain.plan import Candidate


def with_cost(completion: dict[str, Any], candidate: Candidate) -> None:
    """`usage.cost` as the upstream reported it, else from catalog prices: tokens, request fee, images."""
    usage = completion.get("usage")
    if isinstance(usage, dict) and not isinstance(usage.get("cost"), int | float):
        row = candidate.row
        pricing = row.endpoint.pricing if row.endpoint else row.model.pricing
        cost = cost_from_usage(pricing, usage)
        if cost is not None:
            images = sum(
                len((choice.get("message") or {}).get("images") or [])
                for choice in completion.get("choices") or []
                if isinstance(choice, dict)
            )
            usage["cost"] = cost + row.image_price * images


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
