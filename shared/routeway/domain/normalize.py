"""Turn OpenRouter's /models, /models/{id}/endpoints and /providers JSON into catalog shapes.

OpenRouter sends prices as strings of USD per token; they become floats here. Anything that is not
a number is invalid data and raises CatalogDataError, so a garbage upstream can never publish.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from routeway.domain.catalog import (
    Alias,
    Backend,
    Endpoint,
    Modalities,
    Model,
    Percentiles,
    Pricing,
    Provider,
    Snapshot,
)
from routeway.errors import RoutewayError


class CatalogDataError(RoutewayError, ValueError):
    """Upstream catalog data is malformed: not JSON of the documented shape, a bad price, a dup id."""


_PRICE_FIELDS = tuple(Pricing.model_fields)
# `<author>/<slug>[:variant]`: an id becomes a URL path (`models/{id}/endpoints`), so nothing else may pass
_ID_PART = r"[A-Za-z0-9._~-]+"
MODEL_ID = re.compile(rf"(?P<author>{_ID_PART})/(?P<slug>{_ID_PART})(?::{_ID_PART})?")
SHOWN_BAD_IDS = 10


def is_valid_model_id(model_id: str) -> bool:
    """`<author>/<slug>[:variant]` of `[A-Za-z0-9._~-]`, where neither author nor slug is `.` or `..`."""
    match = MODEL_ID.fullmatch(model_id)
    return match is not None and not {match["author"], match["slug"]} & {".", ".."}


def refuse_bad_ids(ids: Iterable[str]) -> None:
    """CatalogDataError naming every id that is not a model id, escaped (a newline cannot forge a line)."""
    bad = sorted({i for i in ids if not is_valid_model_id(i)})
    if not bad:
        return
    shown = ", ".join(ascii(i[:80]) for i in bad[:SHOWN_BAD_IDS])
    more = f" and {len(bad) - SHOWN_BAD_IDS} more" if len(bad) > SHOWN_BAD_IDS else ""
    raise CatalogDataError(f"model ids that are not <author>/<slug>[:variant] of [A-Za-z0-9._~-]: {shown}{more}")


def parse_price(value: Any, where: str) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        raise CatalogDataError(f"{where}: price is not a number: {value!r}")
    try:
        price = float(value)
    except (TypeError, ValueError):
        raise CatalogDataError(f"{where}: price is not a number: {value!r}") from None
    if price != price or price in (float("inf"), float("-inf")):
        raise CatalogDataError(f"{where}: price is not finite: {value!r}")
    return price


def normalize_pricing(raw: Any, where: str) -> Pricing:
    if raw is None:
        return Pricing()
    if not isinstance(raw, Mapping):
        raise CatalogDataError(f"{where}: pricing is not an object")
    return Pricing(**{k: parse_price(raw.get(k), f"{where}.{k}") for k in _PRICE_FIELDS if k in raw})


def _percentiles(raw: Any) -> Percentiles | None:
    if not isinstance(raw, Mapping):
        return None
    return Percentiles(**{k: raw.get(k) for k in ("p50", "p75", "p90", "p99")})


def normalize_endpoint(raw: Mapping[str, Any], model_id: str) -> Endpoint:
    where = f"{model_id} endpoint {raw.get('tag') or raw.get('provider_name')}"
    try:
        return Endpoint(
            provider_name=raw["provider_name"],
            provider_slug=raw.get("tag") or str(raw["provider_name"]).lower().replace(" ", "-"),
            context_length=raw.get("context_length"),
            max_completion_tokens=raw.get("max_completion_tokens"),
            max_prompt_tokens=raw.get("max_prompt_tokens"),
            pricing=normalize_pricing(raw.get("pricing"), where),
            quantization=raw.get("quantization") or "unknown",
            supported_parameters=tuple(raw.get("supported_parameters") or ()),
            status=raw.get("status") or 0,
            uptime_last_5m=raw.get("uptime_last_5m"),
            uptime_last_30m=raw.get("uptime_last_30m"),
            uptime_last_1d=raw.get("uptime_last_1d"),
            latency_last_30m=_percentiles(raw.get("latency_last_30m")),
            throughput_last_30m=_percentiles(raw.get("throughput_last_30m")),
            supports_implicit_caching=bool(raw.get("supports_implicit_caching")),
        )
    except (KeyError, TypeError, ValidationError) as exc:
        raise CatalogDataError(f"{where}: malformed endpoint ({exc.__class__.__name__})") from None


def normalize_model(raw: Mapping[str, Any], endpoints_response: Mapping[str, Any] | None) -> Model:
    model_id = raw.get("id")
    if not isinstance(model_id, str) or not model_id:
        raise CatalogDataError(f"model without an id: {str(raw)[:80]}")
    arch = raw.get("architecture") or {}
    top = raw.get("top_provider") or {}
    endpoint_rows: Iterable[Mapping[str, Any]] = ()
    if endpoints_response is not None:
        data = endpoints_response.get("data") if isinstance(endpoints_response, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(data.get("endpoints", []), list):
            raise CatalogDataError(f"{model_id}: endpoints response is not {{data: {{endpoints: [...]}}}}")
        endpoint_rows = data.get("endpoints") or ()
    try:
        return Model(
            id=model_id,
            name=raw.get("name") or model_id,
            canonical_slug=raw.get("canonical_slug"),
            hugging_face_id=raw.get("hugging_face_id") or None,
            created=raw.get("created") or 0,
            description=raw.get("description") or "",
            context_length=raw.get("context_length"),
            modalities=Modalities(
                input=tuple(sorted(arch.get("input_modalities") or ("text",))),
                output=tuple(sorted(arch.get("output_modalities") or ("text",))),
            ),
            pricing=normalize_pricing(raw.get("pricing"), model_id),
            max_completion_tokens=top.get("max_completion_tokens"),
            is_moderated=bool(top.get("is_moderated")),
            supported_parameters=tuple(raw.get("supported_parameters") or ()),
            expiration_date=raw.get("expiration_date"),
            endpoints=tuple(normalize_endpoint(e, model_id) for e in endpoint_rows),
        )
    except (TypeError, AttributeError, ValidationError) as exc:
        raise CatalogDataError(f"{model_id}: malformed model ({exc.__class__.__name__})") from None


def merge_model_lists(lists: Sequence[Any]) -> list[dict[str, Any]]:
    """Merge several /models responses (one per output modality), de-duplicating by id.

    The same id in two lists is expected (an image+text model is in both); the same id twice in
    one list, or an id that is not `<author>/<slug>[:variant]`, is invalid data.
    """
    merged: dict[str, dict[str, Any]] = {}
    for response in lists:
        rows = response.get("data") if isinstance(response, Mapping) else None
        if not isinstance(rows, list):
            raise CatalogDataError("models response is not {data: [...]}")
        seen: set[str] = set()
        for row in rows:
            if not isinstance(row, Mapping) or not isinstance(row.get("id"), str):
                raise CatalogDataError("models response holds an entry without an id")
            if row["id"] in seen and is_valid_model_id(row["id"]):  # a bad id is reported with the others below
                raise CatalogDataError(f"duplicate model id in one response: {row['id']}")
            seen.add(row["id"])
            merged.setdefault(row["id"], dict(row))
    refuse_bad_ids(merged)
    return list(merged.values())


def normalize_providers(response: Any) -> list[Provider]:
    rows = response.get("data") if isinstance(response, Mapping) else None
    if not isinstance(rows, list):
        raise CatalogDataError("providers response is not {data: [...]}")
    try:
        return [
            Provider(**{**row, "datacenters": tuple(row.get("datacenters") or ())})
            for row in rows
            if isinstance(row, Mapping)
        ]
    except (TypeError, ValidationError) as exc:
        raise CatalogDataError(f"malformed provider ({exc.__class__.__name__})") from None


def content_version(
    models: Sequence[Model],
    providers: Sequence[Provider],
    aliases: Sequence[Alias],
    backends: Sequence[Backend],
    pools: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A hash of everything that routes, so the same content always gets the same version."""
    content: dict[str, Any] = {
        "models": [m.model_dump(mode="json") for m in models],
        "providers": [p.model_dump(mode="json") for p in providers],
        "aliases": [a.model_dump(mode="json") for a in aliases],
        "backends": [b.model_dump(mode="json") for b in backends],
    }
    if pools:
        content["auto_pools"] = {task: list(ids) for task, ids in pools.items()}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def build_snapshot(
    *,
    model_lists: Sequence[Any],
    endpoints_by_id: Mapping[str, Any],
    providers_response: Any,
    aliases: Sequence[Alias],
    backends: Sequence[Backend],
    created_at: str,
    source: str,
    pools: Mapping[str, Sequence[str]] | None = None,
) -> Snapshot:
    raw_models = merge_model_lists(model_lists)
    models = sorted((normalize_model(raw, endpoints_by_id.get(raw["id"])) for raw in raw_models), key=lambda m: m.id)
    providers = sorted(normalize_providers(providers_response), key=lambda p: p.slug)
    return Snapshot(
        version=content_version(models, providers, aliases, backends, pools),
        created_at=created_at,
        source=source,
        models=tuple(models),
        providers=tuple(providers),
        aliases=tuple(aliases),
        backends=tuple(backends),
        auto_pools={task: tuple(ids) for task, ids in (pools or {}).items()},
    )


def endpoints_from_listing(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An /endpoints answer derived from a model's own /models entry, for data captures that lack one.

    The OpenRouter capture in shared/data has no endpoint rows for the image-only FLUX models, which
    OpenRouter serves through their maker. The maker is the name's prefix ("Black Forest Labs: FLUX.2
    Pro") and its slug the id's author; prices and limits are the listing's own.
    """
    model_id = str(raw.get("id", ""))
    name = str(raw.get("name") or model_id)
    maker = name.split(":", 1)[0].strip() if ":" in name else model_id.split("/", 1)[0]
    top = raw.get("top_provider") or {}
    endpoint = {
        "name": f"{maker} | {model_id}",
        "model_name": name,
        "provider_name": maker,
        "tag": model_id.split("/", 1)[0],
        "context_length": raw.get("context_length") or top.get("context_length"),
        "max_completion_tokens": top.get("max_completion_tokens"),
        "pricing": dict(raw.get("pricing") or {}),
        "supported_parameters": list(raw.get("supported_parameters") or ()),
        "status": 0,
    }
    return {"data": {"id": model_id, "name": name, "endpoints": [endpoint]}}


def complete_endpoints(model_lists: Sequence[Any], endpoints_by_id: Mapping[str, Any]) -> dict[str, Any]:
    """`endpoints_by_id`, plus one derived from the listing for each image-only model that has none."""
    completed = dict(endpoints_by_id)
    for row in merge_model_lists(model_lists):
        outputs = (row.get("architecture") or {}).get("output_modalities") or ()
        if row["id"] not in completed and list(outputs) == ["image"]:
            completed[row["id"]] = endpoints_from_listing(row)
    return completed
