"""Is a new snapshot sound enough to replace the live one? And what changed between them?

Data errors (a negative price, a duplicate id, an alias pointing nowhere, an empty catalog) always
refuse. A large drop (an output-modality group vanishing or shrinking by more than max_drop)
refuses unless forced: that is how a sync that read only the default list would have deleted
every image-only model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from routeway.domain.catalog import VARIABLE_PRICE, Model, Pricing, Snapshot

DEFAULT_MAX_DROP = 0.20
PRICE_FIELDS = ("prompt", "completion", "request", "image")


@dataclass(frozen=True)
class Validation:
    errors: list[str] = field(default_factory=list)  # never publishable
    drops: list[str] = field(default_factory=list)  # publishable with force

    def refusal(self, force: bool) -> str | None:
        reasons = self.errors + ([] if force else self.drops)
        return "; ".join(reasons) if reasons else None


def modality_group(model: Model) -> str:
    return "+".join(sorted(model.modalities.output))


def _bad_prices(pricing: Pricing, allow_variable: bool) -> list[str]:
    """Negative prices, except -1 on a router model's own prompt/completion price (variable pricing)."""
    variable_ok = ("prompt", "completion") if allow_variable else ()
    return [
        name
        for name, value in pricing.model_dump().items()
        if value < 0 and not (value == VARIABLE_PRICE and name in variable_ok)
    ]


def validate_snapshot(new: Snapshot, live: Snapshot | None, max_drop: float = DEFAULT_MAX_DROP) -> Validation:
    errors: list[str] = []
    if not new.models:
        errors.append("the new catalog has no models")
    counts = Counter(m.id for m in new.models)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    if duplicates:
        errors.append(f"duplicate model ids: {', '.join(duplicates[:5])}")
    for model in new.models:
        bad = _bad_prices(model.pricing, allow_variable=True)
        for endpoint in model.endpoints:
            bad += [f"{endpoint.provider_slug}.{b}" for b in _bad_prices(endpoint.pricing, allow_variable=False)]
        if bad:
            errors.append(f"negative price on {model.id} ({', '.join(bad[:3])})")
    ids = set(counts)
    for alias in new.aliases:
        missing = [t for t in alias.targets if t not in ids]
        if missing:
            errors.append(f"alias {alias.alias!r} names models that are gone: {', '.join(missing)}")
    drops: list[str] = []
    if live is not None and live.models:
        old_groups = Counter(modality_group(m) for m in live.models)
        new_groups = Counter(modality_group(m) for m in new.models)
        for group, before in sorted(old_groups.items()):
            after = new_groups.get(group, 0)
            if after == 0:
                drops.append(f"every {group}-output model would disappear ({before} live)")
            elif (before - after) / before > max_drop:
                drops.append(f"{group}-output models would drop from {before} to {after}")
        total_before, total_after = len(live.models), len(new.models)
        if (total_before - total_after) / total_before > max_drop:
            drops.append(f"the catalog would shrink from {total_before} to {total_after} models")
    return Validation(errors=errors, drops=drops)


def _price_key(model: Model) -> tuple[float, ...]:
    return tuple(getattr(model.pricing, f) for f in PRICE_FIELDS)


def diff_snapshots(old: Snapshot | None, new: Snapshot) -> dict[str, Any]:
    """Models added, removed and repriced, overall and per output-modality group."""
    before = {m.id: m for m in old.models} if old else {}
    after = {m.id: m for m in new.models}
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    repriced = sorted(i for i in set(before) & set(after) if _price_key(before[i]) != _price_key(after[i]))
    by_modality: dict[str, dict[str, int]] = {}
    for kind, ids, source in (("added", added, after), ("removed", removed, before), ("repriced", repriced, after)):
        for model_id in ids:
            group = by_modality.setdefault(modality_group(source[model_id]), {"added": 0, "removed": 0, "repriced": 0})
            group[kind] += 1
    return {"added": added, "removed": removed, "repriced": repriced, "by_modality": by_modality}
