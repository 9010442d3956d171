"""Routing decision time: parse + plan, over the real catalog and a synthetic one ten times larger."""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from routeway.domain.catalog import Catalog, Model, Snapshot
from routeway.domain.goals import parse_goals
from routeway.domain.plan import plan_route
from routeway.domain.requirements import derive_requirements
from routeway.domain.snapshot_codec import decode_snapshot
from routeway.domain.wire import parse_chat_request

PNG = "data:image/png;base64,iVBORw0KGgo="


def _chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Summarise this paragraph for me."}], **extra}


CASES: dict[str, dict[str, Any]] = {
    "fixed model": _chat("deepseek/deepseek-v4-flash"),
    "auto + cheapest + cap + globs": _chat(
        "auto", objective="cheapest", max_cost_per_1k_tokens=0.002, allowed_models=["anthropic/*", "openai/*"]
    ),
    "auto, balanced": _chat("auto"),
    "auto + blocked globs": _chat("auto", blocked_models=["meta-llama/*", "qwen/*", "mistralai/*"]),
    "provider only deepinfra": _chat("auto", provider={"only": ["deepinfra"]}),
    "free + image input": {
        "model": "free",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                ],
            }
        ],
    },
    "image output": _chat("auto", modalities=["image", "text"]),
}


def real_catalog() -> Catalog:
    return Catalog(
        decode_snapshot(resources.files("routeway").joinpath("data/snapshot.json.gz").read_bytes()), "bundled"
    )


def tenfold(catalog: Catalog) -> Catalog:
    """Ten copies of every model under new ids, prices and figures nudged, aliases kept."""
    models: list[Model] = list(catalog.snapshot.models)
    for copy in range(1, 10):
        for model in catalog.snapshot.models:
            factor = 1 + copy * 0.013
            endpoints = tuple(
                e.model_copy(
                    update={
                        "pricing": e.pricing.model_copy(
                            update={"prompt": e.pricing.prompt * factor, "completion": e.pricing.completion * factor}
                        )
                    }
                )
                for e in model.endpoints
            )
            models.append(
                model.model_copy(update={"id": f"{model.id}-x{copy}", "endpoints": endpoints, "canonical_slug": None})
            )
    snapshot = Snapshot(
        version="synthetic10x",
        created_at=catalog.snapshot.created_at,
        models=tuple(models),
        providers=catalog.snapshot.providers,
        aliases=catalog.snapshot.aliases,
        backends=catalog.snapshot.backends,
    )
    return Catalog(snapshot, "bundled")


def decide(catalog: Catalog, body: dict[str, Any], seed: int) -> None:
    request = parse_chat_request(body)
    plan_route(
        catalog,
        model=request.model,
        fallbacks=request.models,
        goals=parse_goals(request.body),
        needs=derive_requirements(request.body, request.messages, request.max_tokens),
        messages_text="Summarise this paragraph for me.",
        available_backends=frozenset({"openrouter"}),
        cooldowns={},
        now=0.0,
        seed=seed,
    )


def measure(catalog: Catalog, repeats: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    for name, body in CASES.items():
        decide(catalog, body, 0)  # the first call builds the per-snapshot indexes
        samples = []
        for seed in range(repeats):
            started = time.perf_counter()
            decide(catalog, body, seed)
            samples.append(time.perf_counter() - started)
        results[name] = samples
    return results
