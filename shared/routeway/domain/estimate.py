"""Token and cost estimates from the request alone, before any model is called.

The cost rule is PRODUCT.md's: est_cost_per_1k_tokens = 1000 × (prompt_price × p + completion_price × c)
/ (p + c), where p is the estimated prompt tokens and c the request's max_tokens (default 256).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from routeway.domain.catalog import Pricing

DEFAULT_COMPLETION_TOKENS = 256
CHARS_PER_TOKEN = 4  # a deliberately simple, tokenizer-free estimate
TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE = 1000


def estimate_prompt_tokens(messages: Sequence[Any]) -> int:
    chars = 0
    images = 0
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, Mapping):
                    continue
                if part.get("type") == "text" and isinstance(part.get("text"), str):
                    chars += len(part["text"])
                elif part.get("type") == "image_url":
                    images += 1
    return max(1, chars // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_IMAGE * images)


def est_cost_per_1k_tokens(
    prompt_price: float, completion_price: float, prompt_tokens: int, completion_tokens: int
) -> float:
    total = prompt_tokens + completion_tokens
    if total <= 0:
        return 0.0
    return 1000 * (prompt_price * prompt_tokens + completion_price * completion_tokens) / total


def cost_from_usage(pricing: Pricing, usage: Mapping[str, Any]) -> float | None:
    """USD for a finished request from its reported token counts, when the upstream gave no cost.

    Prompt tokens read from the provider's cache (`prompt_tokens_details.cached_tokens`) are priced at the
    catalog's cache-read price and those written to it (`cache_write_tokens`) at its cache-write price, where
    the catalog gives them (else at the prompt price); the counts are clamped to the prompt's, so a hostile
    usage cannot price more tokens than it reports.
    """
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int) or pricing.is_variable:
        return None
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    read = min(max(_count(details.get("cached_tokens")), 0), max(prompt, 0))
    written = min(max(_count(details.get("cache_write_tokens")), 0), max(prompt - read, 0))
    read_price = pricing.input_cache_read if pricing.input_cache_read > 0 else pricing.prompt
    write_price = pricing.input_cache_write if pricing.input_cache_write > 0 else pricing.prompt
    prompt_cost = pricing.prompt * (prompt - read - written) + read_price * read + write_price * written
    return prompt_cost + pricing.completion * completion + pricing.request


def with_cache_prices(pricing: Pricing, model_pricing: Pricing) -> Pricing:
    """An endpoint's pricing with the model's cache prices where the endpoint states none (OpenRouter's
    endpoint lists often leave them out)."""
    missing = {
        name: getattr(model_pricing, name)
        for name in ("input_cache_read", "input_cache_write")
        if getattr(pricing, name) <= 0 < getattr(model_pricing, name)
    }
    return pricing.model_copy(update=missing) if missing else pricing


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
