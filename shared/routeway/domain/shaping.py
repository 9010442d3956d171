"""Request shaping: rewrite a request for the model it is about to be sent to, and say what changed.

Rules (PRODUCT.md "Request shaping"):
- `modalities` becomes exactly what an image model outputs: ["image"] for image-only models (FLUX),
  ["image", "text"] for Gemini / GPT image models; an image-only model gets ["image"] even when the
  request had none. Reported as `modalities=image` / `modalities=image+text`.
- `max_tokens` (or `max_completion_tokens`) below the floor is raised to it: the alias's
  `min_max_tokens`, else 200 for reasoning models and 16 for OpenAI models via OpenRouter.
  Reported as `max_tokens_floored=N`. A request without max_tokens is never given one.
- Content parts (images, audio, files) are checked before planning by `domain.content`'s allow-list.
- Tools never reach a model without tool support: routing excludes such models (`no_tools`).
- Reasoning details (thinking sent back) reach only the family that issued them (`domain.reasoning_details`);
  reported as `thinking_dropped=N`.
"""

from __future__ import annotations

from typing import Any

from routeway.domain.catalog import Alias, Model
from routeway.domain.reasoning_details import drop_foreign_reasoning

REASONING_FLOOR = 200
OPENAI_VIA_OPENROUTER_FLOOR = 16


def max_tokens_floor(model: Model, alias: Alias | None, backend: str) -> int | None:
    if alias is not None and alias.constraints.min_max_tokens:
        return alias.constraints.min_max_tokens
    if model.is_reasoning:
        return REASONING_FLOOR
    if backend == "openrouter" and model.author == "openai":
        return OPENAI_VIA_OPENROUTER_FLOOR
    return None


def shape_payload(payload: dict[str, Any], model: Model, alias: Alias | None, backend: str) -> list[str]:
    """Rewrite `payload` in place for `model`; return what was applied, for x-routeway-applied."""
    applied: list[str] = []
    outputs = sorted(model.modalities.output)
    if "image" in outputs:
        requested = payload.get("modalities")
        asked_images = isinstance(requested, list) and "image" in requested
        if (asked_images or outputs == ["image"]) and requested != outputs:
            payload["modalities"] = outputs
            applied.append("modalities=" + "+".join(outputs))
    floor = max_tokens_floor(model, alias, backend)
    if floor:
        for field in ("max_tokens", "max_completion_tokens"):
            value = payload.get(field)
            if isinstance(value, int) and not isinstance(value, bool) and value < floor:
                payload[field] = floor
                applied.append(f"max_tokens_floored={floor}")
    applied += drop_foreign_reasoning(payload, model.author)
    return applied
