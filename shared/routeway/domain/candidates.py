"""Rank one model's provider endpoints for a preview: cheapest expected cost first, then uptime.

A model that OpenRouter lists without endpoint rows (the image-only FLUX models, router models)
gets one candidate in which OpenRouter picks the provider.
"""

from __future__ import annotations

from typing import Any

from routeway.domain.catalog import Backend, Endpoint, Model
from routeway.domain.estimate import est_cost_per_1k_tokens

OPENROUTER_CHOOSES = "OpenRouter (auto)"


def _candidate(model: Model, backend: Backend, endpoint: Endpoint | None, p: int, c: int) -> dict[str, Any]:
    pricing = endpoint.pricing if endpoint else model.pricing
    reasons = [f"serves {model.id}"]
    if endpoint is None:
        reasons.append("no endpoint rows in the catalog: OpenRouter chooses the provider")
    elif endpoint.status != 0:
        reasons.append(f"degraded status {endpoint.status}")
    return {
        "model": model.id,
        "provider": endpoint.provider_name if endpoint else OPENROUTER_CHOOSES,
        "provider_slug": endpoint.provider_slug if endpoint else None,
        "backend": backend.name,
        "est_cost_per_1k_tokens": None if pricing.is_variable else est_cost_per_1k_tokens(pricing, p, c),
        "context_length": (endpoint.context_length if endpoint else None) or model.context_length,
        "latency_p50_ms": endpoint.latency_last_30m.p50 if endpoint and endpoint.latency_last_30m else None,
        "throughput_p50_tps": endpoint.throughput_last_30m.p50 if endpoint and endpoint.throughput_last_30m else None,
        "uptime_30m": endpoint.uptime_last_30m if endpoint else None,
        "quantization": endpoint.quantization if endpoint else None,
        "reasons": reasons,
    }


def provider_candidates(
    model: Model, backend: Backend, prompt_tokens: int, completion_tokens: int
) -> list[dict[str, Any]]:
    if backend.kind != "openrouter" or not model.endpoints:
        rows = [_candidate(model, backend, None, prompt_tokens, completion_tokens)]
    else:
        rows = [_candidate(model, backend, e, prompt_tokens, completion_tokens) for e in model.endpoints]
        rows.sort(
            key=lambda r: (
                r["est_cost_per_1k_tokens"] if r["est_cost_per_1k_tokens"] is not None else float("inf"),
                -(r["uptime_30m"] or 0.0),
                r["provider_slug"] or "",
            )
        )
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["score"] = round(1.0 / rank, 4)
    return rows
