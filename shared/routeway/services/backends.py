"""Backends as seen from here: which are configured, which answer, and what models they serve.

/readyz probes each configured backend briefly; a refresh lists each OpenAI-compatible backend's
models (vLLM and Ollama serve GET /v1/models) so the snapshot records what they offered, and each Bedrock
backend's (ListFoundationModels, ListInferenceProfiles), mapped to catalog models and priced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import orjson

from routeway.config import backend_region, backend_status, bedrock_price_table, template_bedrock_models
from routeway.domain.bedrock_models import listed_mapping
from routeway.domain.bedrock_prices import bedrock_price
from routeway.domain.catalog import Backend
from routeway.errors import GatewayError
from routeway.gateway import Gateway
from routeway.ports import UpstreamNoAnswer, UpstreamUnreachable

PROBE_TIMEOUT_S = 2.0


async def _list_models(gateway: Gateway, backend: Backend, timeout_s: float) -> tuple[int | None, list[str], str]:
    """(HTTP status, model ids, problem) for one backend's model listing. A GatewayError (the backend cannot
    be used from here: its key unreadable) is the caller's to report."""
    path = "models/count" if backend.kind == "openrouter" else "models"
    try:
        response = await gateway.upstreams.for_backend(backend).get(path, None, timeout_s=timeout_s)
    except (UpstreamNoAnswer, UpstreamUnreachable) as exc:
        return None, [], str(exc)
    if response.status != 200:
        return response.status, [], f"HTTP {response.status}"
    if backend.kind == "openrouter":
        return 200, [], ""
    try:
        rows = orjson.loads(response.body).get("data", [])
        ids = sorted(str(r["id"]) for r in rows if isinstance(r, dict) and "id" in r)
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return 200, [], "the model list is not OpenAI's {data: [...]}"
    return 200, ids, ""


async def probe_backends(gateway: Gateway, backends: tuple[Backend, ...]) -> list[dict[str, Any]]:
    async def probe(backend: Backend) -> dict[str, Any]:
        status, reason = backend_status(backend, gateway.settings)
        row: dict[str, Any] = {
            "name": backend.name,
            "kind": backend.kind,
            "status": status,
            "reason": reason,
            "reachable": None,
        }
        if status != "available":
            return row
        if backend.kind == "bedrock":  # never a model invocation: what the last refresh found (ListFoundationModels)
            mapped = f"not probed: {len(backend.model_ids)} models mapped (models: and the last refresh's listing)"
            row["reason"] = row["reason"] or mapped
            return row
        started = time.perf_counter()
        try:
            http_status, _, problem = await _list_models(gateway, backend, PROBE_TIMEOUT_S)
        except GatewayError as exc:  # not even asked: e.g. its key cannot be read
            http_status, problem = None, exc.message
            row["error_code"] = exc.code
        row.update(
            reachable=http_status == 200 and not problem,
            http_status=http_status,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        if problem:
            row["reason"] = problem
        return row

    return list(await asyncio.gather(*(probe(b) for b in backends)))


async def with_listed_models(
    gateway: Gateway, backends: tuple[Backend, ...], catalog_ids: Iterable[str] = ()
) -> tuple[Backend, ...]:
    """The configured backends, each OpenAI-compatible one carrying the models it listed just now, each Bedrock
    one the catalog models it serves (what it lists, mapped to `catalog_ids`, under the operator's `models:`)."""
    ids = tuple(catalog_ids)

    async def listed(backend: Backend) -> Backend:
        if backend.kind not in ("openai_compat", "bedrock"):
            return backend
        if backend_status(backend, gateway.settings)[0] != "available":
            return backend
        if backend.kind == "bedrock":
            return await _bedrock_listed(gateway, backend, ids)
        try:
            _, ids_listed, problem = await _list_models(gateway, backend, PROBE_TIMEOUT_S * 5)
        except GatewayError as exc:
            ids_listed, problem = [], exc.message
        return backend.model_copy(update={"models": tuple(ids_listed), "reason": problem or backend.reason})

    return tuple(await asyncio.gather(*(listed(b) for b in backends)))


async def _bedrock_listed(gateway: Gateway, backend: Backend, catalog_ids: tuple[str, ...]) -> Backend:
    """A Bedrock backend with the models its account lists here mapped to catalog models (domain/bedrock_models.py)
    and priced; the operator's `models:` win, and in a deployment only what its role may invoke (BedrockModels)
    is mapped. When Bedrock cannot be asked, the operator's mapping stands and the backend's reason says why."""
    region = backend_region(backend, gateway.settings) or ""
    try:
        response = await gateway.upstreams.for_backend(backend).get("models", None, timeout_s=PROBE_TIMEOUT_S * 5)
        listing = orjson.loads(response.body) if response.status == 200 else None
        problem = "" if listing is not None else _error_message(response.body, response.status)
    except (GatewayError, UpstreamNoAnswer, UpstreamUnreachable) as exc:
        listing, problem = None, getattr(exc, "message", None) or str(exc)
    if not isinstance(listing, dict):
        return backend.model_copy(update={"reason": problem or backend.reason})
    found = listed_mapping(
        listing.get("foundation_models") or [], listing.get("inference_profiles") or [], region, catalog_ids
    )
    granted = template_bedrock_models(gateway.settings)
    if granted:  # the deployment's role may invoke only these (template.yaml's BedrockModels): map no other
        found = {catalog_id: target for catalog_id, target in found.items() if target in granted}
    mapping = {**found, **backend.model_ids}
    table = bedrock_price_table()
    prices = dict(backend.prices)
    for model_id in mapping.values():
        price = prices.get(model_id) or bedrock_price(table, backend.prices, region, model_id)
        if price is not None:
            prices[model_id] = price
    return backend.model_copy(update={"models": tuple(mapping), "model_ids": mapping, "prices": prices})


def _error_message(body: bytes, status: int) -> str:
    try:
        return str(orjson.loads(body)["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return f"HTTP {status}"
