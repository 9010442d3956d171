"""Backends as seen from here: which are configured, which answer, and what models they serve.

/readyz probes each configured backend briefly; a refresh lists each OpenAI-compatible backend's
models (vLLM and Ollama serve GET /v1/models) so the snapshot records what they offered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from routeway.config import backend_status
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
        if backend.kind == "bedrock":  # its runtime lists nothing: ListFoundationModels at refresh is part 2
            row["reason"] = row["reason"] or "not probed: Bedrock is asked on the first request"
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


async def with_listed_models(gateway: Gateway, backends: tuple[Backend, ...]) -> tuple[Backend, ...]:
    """The configured backends, each OpenAI-compatible one carrying the models it listed just now."""

    async def listed(backend: Backend) -> Backend:
        if backend.kind != "openai_compat" or backend_status(backend, gateway.settings)[0] != "available":
            return backend
        try:
            _, ids, problem = await _list_models(gateway, backend, PROBE_TIMEOUT_S * 5)
        except GatewayError as exc:
            ids, problem = [], exc.message
        return backend.model_copy(update={"models": tuple(ids), "reason": problem or backend.reason})

    return tuple(await asyncio.gather(*(listed(b) for b in backends)))
