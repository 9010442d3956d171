"""Which catalog model each Bedrock model is, from what Bedrock lists at refresh (ListFoundationModels,
ListInferenceProfiles): the `models:` mapping made for the operator. Pure: the listings are given.

A Bedrock model maps to the catalog model with the same maker and name, compared without punctuation, version
suffix or release date: `anthropic.claude-sonnet-4-5-20250929-v1:0` is `anthropic/claude-sonnet-4.5`,
`amazon.nova-pro-v1:0` is `amazon/nova-pro-v1`, `meta.llama3-3-70b-instruct-v1:0` is
`meta-llama/llama-3.3-70b-instruct`. Only active models that answer text are mapped; one the region serves only
through a cross-region inference profile maps to that profile (its geography's, e.g. `us.` in us-east-1, else
`global.`). A name that matches no catalog model, or several, is left out: the operator's `models:` maps it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MAKERS = {"meta": "meta-llama", "mistral": "mistralai", "cohere": "cohere", "ai21": "ai21"}  # Bedrock's → catalog's
_VERSION = re.compile(r"-v\d+(:\d+)*(:\d+k)?$")
_DATE = re.compile(r"-\d{8}$")
_PUNCTUATION = re.compile(r"[^a-z0-9]")


def _name_key(name: str) -> str:
    return _PUNCTUATION.sub("", _DATE.sub("", _VERSION.sub("", name.lower())))


def bedrock_key(model_id: str) -> tuple[str, str] | None:
    """(catalog maker, name key) of a Bedrock foundation model id; None when it is not `maker.name`."""
    maker, _, name = model_id.partition(".")
    if not name:
        return None
    return MAKERS.get(maker, maker), _name_key(name)


def catalog_key(model_id: str) -> tuple[str, str] | None:
    """(maker, name key) of a catalog id; None for a variant (`:free`, `:thinking`) or a router."""
    maker, _, name = model_id.partition("/")
    if not name or ":" in name or maker.startswith("~"):
        return None
    return maker, _name_key(name)


def geography(region: str) -> str:
    """The geographic inference profiles' prefix for a region: us-east-1 → us, eu-west-1 → eu, ap-* → apac."""
    head = region.split("-", 1)[0]
    return {"ap": "apac"}.get(head, head)


def _profile_for(model_id: str, region: str, profiles: Iterable[Mapping[str, Any]]) -> str | None:
    """The active cross-region profile serving `model_id`: its geography's, else a global one."""
    serving = sorted(
        str(p.get("inferenceProfileId"))
        for p in profiles
        if p.get("status", "ACTIVE") == "ACTIVE"
        and any(str(m.get("modelArn", "")).endswith(f"/{model_id}") for m in p.get("models") or ())
    )
    for prefix in (f"{geography(region)}.", "global."):
        found = [p for p in serving if p.startswith(prefix)]
        if found:
            return found[0]
    return None


def listed_mapping(
    foundation_models: Iterable[Mapping[str, Any]],
    profiles: Iterable[Mapping[str, Any]],
    region: str,
    catalog_ids: Iterable[str],
) -> dict[str, str]:
    """Catalog model id → the Bedrock model or profile id that serves it here, for every model that maps."""
    by_key: dict[tuple[str, str], list[str]] = {}
    for model_id in catalog_ids:
        key = catalog_key(model_id)
        if key is not None:
            by_key.setdefault(key, []).append(model_id)
    profiles = list(profiles)
    mapping: dict[str, str] = {}
    for summary in sorted(foundation_models, key=lambda s: str(s.get("modelId"))):
        model_id = str(summary.get("modelId") or "")
        status = (summary.get("modelLifecycle") or {}).get("status", "ACTIVE")
        if status != "ACTIVE" or "TEXT" not in (summary.get("outputModalities") or ()):
            continue
        key = bedrock_key(model_id)
        matches = by_key.get(key) if key is not None else None
        if not matches or len(matches) != 1 or matches[0] in mapping:
            continue
        kinds = summary.get("inferenceTypesSupported") or ()
        target = model_id if "ON_DEMAND" in kinds else _profile_for(model_id, region, profiles)
        if target is not None:
            mapping[matches[0]] = target
    return mapping
