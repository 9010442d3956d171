"""What a Bedrock model costs in the team's own account: the packaged table (data/bedrock_prices.json, region ×
Bedrock model id, USD per million tokens, with its source and date), under the operator's `prices:` in
ROUTEWAY_CONFIG's bedrock backend. Pure: the table's document is given, never read here.

A geographic inference profile (`us.anthropic…`) is priced as its region's row (Bedrock bills a geographic or
in-region call at the regional rate), a `global.` profile from the table's `global` rows. A model neither gives a
price is unpriced: listed and served, but refused to a key with a budget (its cost has no bound) with a message
naming the setting that prices it (`unpriced_message`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from routeway.domain.catalog import Pricing
from routeway.errors import RoutewayError

PER_MILLION = 1e-6
PRICE_FIELDS = {  # the table's and the config's names → the catalog's Pricing fields
    "prompt": "prompt",
    "completion": "completion",
    "cache_read": "input_cache_read",
    "cache_write": "input_cache_write",
}
GEOGRAPHIES = frozenset({"us", "eu", "apac", "us-gov", "global", "jp", "au", "ca"})


class PriceError(RoutewayError, ValueError):
    """A `prices:` entry that is not prompt/completion (and cache) figures in USD per million tokens."""


def split_profile(model_id: str) -> tuple[str | None, str]:
    """(geography, foundation model id): `us.anthropic.x-v1:0` → ("us", "anthropic.x-v1:0"); a model id as is."""
    head, _, rest = model_id.partition(".")
    if rest and head in GEOGRAPHIES:
        return head, rest
    return None, model_id


def pricing_of(entry: Any, where: str) -> Pricing:
    """One price row (USD per million tokens) as the catalog's Pricing (USD per token)."""
    if not isinstance(entry, Mapping) or not {"prompt", "completion"} <= set(entry):
        raise PriceError(f"{where}: give at least prompt and completion, in USD per million tokens")
    values: dict[str, float] = {}
    for name, value in entry.items():
        field = PRICE_FIELDS.get(str(name))
        if field is None:
            raise PriceError(f"{where}: unknown price {name!r}; prices are {', '.join(PRICE_FIELDS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise PriceError(f"{where}.{name}: a price is a number of USD per million tokens, 0 or more")
        values[field] = float(value) * PER_MILLION
    return Pricing(**values)


def overrides_of(document: Any, where: str) -> dict[str, Pricing]:
    """The operator's `prices:` (Bedrock model or profile id → price row) as Pricing by id."""
    if document is None:
        return {}
    if not isinstance(document, Mapping) or not all(isinstance(k, str) and k.strip() for k in document):
        raise PriceError(f"{where}: map Bedrock model ids to {{prompt: …, completion: …}} (USD per million tokens)")
    return {key.strip(): pricing_of(entry, f"{where}.{key.strip()}") for key, entry in document.items()}


def bedrock_price(
    table: Mapping[str, Any], overrides: Mapping[str, Pricing], region: str | None, model_id: str
) -> Pricing | None:
    """The price of one Bedrock model or profile id: the operator's (for the id, else its foundation model),
    else the table's for its region (`global` for a global profile); None when neither prices it."""
    geography, base = split_profile(model_id)
    for key in (model_id, base):
        if key in overrides:
            return overrides[key]
    rows = (table.get("regions") or {}).get("global" if geography == "global" else region or "") or {}
    entry = rows.get(base)
    return pricing_of(entry, f"bedrock price table {region}/{base}") if entry is not None else None


def resolve_prices(
    table: Mapping[str, Any], overrides: Mapping[str, Pricing], region: str | None, model_ids: Iterable[str]
) -> dict[str, Pricing]:
    """The price of every model id a backend serves that is priced (the others are left out: unpriced)."""
    priced = {m: bedrock_price(table, overrides, region, m) for m in model_ids}
    return {m: p for m, p in priced.items() if p is not None}


def unpriced_message(backend: str, region: str | None, catalog_model: str, model_id: str) -> str:
    """Why a budgeted key cannot use an unpriced Bedrock model, and the setting that prices it."""
    where = f" in {region}" if region else ""
    return (
        f"Amazon Bedrock (backend {backend!r}) has no price for {model_id} ({catalog_model}){where}, so a request "
        f"under a budget cannot be sent to it. Price it in ROUTEWAY_CONFIG: under the backend {backend!r}, "
        f"prices: {{{model_id}: {{prompt: <USD per million tokens>, completion: <USD per million tokens>}}}}."
    )
