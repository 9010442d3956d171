"""The most a request can cost, before any call: what a key's budget holds for it until it is settled.

PRODUCT.md "Money and trust": prompt estimate × prompt price + (`max_tokens`, else the model's completion
limit) × completion price + request and image fees. The estimate is an upper bound, so that spend never passes
a budget: a byte-level tokenizer never makes more text tokens than the text has UTF-8 bytes, so the prompt's
text is counted in bytes, and each image, audio or file part at the most any provider bills for what it holds
(domain/media_tokens.py: a PDF by its pages, audio by its length, an image by its size), audio at the model's
audio price where that is dearer than its prompt price. A fan-out holds the sum over its models; fallbacks the
largest single attempt, since only one of them answers. A price that cannot be bounded (OpenRouter's
variable-price router) holds nothing it could promise: `None`, and the request is refused for a key with a
budget.

Prompt caching (PRODUCT.md "Prompt caching") can only lower a read: a cached token costs the cache-read
price, below the prompt price, so bounding every prompt token at the prompt price stays an upper bound. A
write is the other way: Anthropic bills a token written to the cache at 1.25× (5 minutes) or 2× (1 hour) the
prompt price. So when the request marks anything for caching (`cache_control` on a block, a tool, a tool
call, a message, or the top level), every prompt token may be a written one and is bounded at the dearer
of the prompt and cache-write prices. Without a mark no provider writes at a surcharge (OpenAI's, DeepSeek's
and Gemini's implicit caches bill writes as plain prompt tokens), and the prompt price stands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from routeway.domain.candidates import Row
from routeway.domain.media_tokens import audio_part_tokens, media_part_tokens
from routeway.domain.plan import Candidate
from routeway.domain.shaping import max_tokens_floor

TOKENS_PER_MESSAGE = 8
DEFAULT_COMPLETION_LIMIT = 16_384  # a model that states neither a completion limit nor a context length
DEFAULT_SEARCH_RESULTS = 5  # OpenRouter's web plugin default
MEDIA_PARTS = frozenset({"image_url", "input_image", "input_audio", "file"})


def prompt_token_bound(body: Mapping[str, Any]) -> tuple[int, int]:
    """(tokens, media parts): the request's text in UTF-8 bytes, each media part at the most it can be billed.

    Everything the upstream turns into prompt tokens is counted: messages (or an embedding's `input`),
    tools, the response format.
    """
    media = 0
    media_tokens = 0
    text_bytes = 0
    for message in _list(body.get("messages")):
        if not isinstance(message, Mapping):
            continue
        text_bytes += TOKENS_PER_MESSAGE
        for name, value in message.items():
            if name == "content" and isinstance(value, list):
                for part in value:
                    if isinstance(part, Mapping) and part.get("type") in MEDIA_PARTS:
                        media += 1
                        media_tokens += media_part_tokens(part)
                    else:
                        text_bytes += _size(part)
            else:
                text_bytes += _size(value)
    for name in ("input", "prompt", "tools", "functions", "response_format", "tool_choice"):
        if body.get(name) is not None:
            text_bytes += _size(body[name])
    return text_bytes + media_tokens, media


def reads_documents(body: Mapping[str, Any]) -> bool:
    """Whether bounding the prompt reads a document (a `file` part's pages): worth doing off the event loop."""
    return any(
        isinstance(part, Mapping) and part.get("type") == "file"
        for message in _list(body.get("messages"))
        if isinstance(message, Mapping)
        for part in _list(message.get("content"))
    )


def audio_token_bound(body: Mapping[str, Any]) -> int:
    """The audio tokens among the prompt's (a header read per audio part): priced apart where audio is dearer."""
    return sum(
        audio_part_tokens(part)
        for message in _list(body.get("messages"))
        if isinstance(message, Mapping)
        for part in _list(message.get("content"))
        if isinstance(part, Mapping)
    )


def attempt_bound(candidate: Candidate, body: Mapping[str, Any], prompt_tokens: int, media: int) -> float | None:
    """The most one attempt can cost in USD; None when its price has no bound."""
    row = candidate.row
    prices = _worst_prices(row, writes_cache=marks_cache(body))
    if prices is None:
        return None
    prompt_price, completion_price, request_price, image_price, audio_price = prices
    completion_tokens = _completion_limit(candidate, body, prompt_tokens)
    request_price += _search_fees(candidate, body)
    asked_n = body.get("n")
    calls = asked_n if isinstance(asked_n, int) and not isinstance(asked_n, bool) and asked_n > 1 else 1
    images_out = 1 if "image" in row.outputs else 0
    audio_surcharge = audio_price - prompt_price  # the prompt's audio tokens are in prompt_tokens already
    per_call = (
        prompt_tokens * prompt_price
        + (audio_token_bound(body) * audio_surcharge if media and audio_surcharge > 0 else 0.0)
        + completion_tokens * completion_price
        + request_price
        + image_price * (media + images_out)
    )
    return per_call * calls  # `n` choices may take one upstream call each


def plan_bound(attempts: Sequence[Candidate], body: Mapping[str, Any], *, fan_out: bool) -> float | None:
    """What a request holds against a budget: the sum over a fan-out, else the largest attempt."""
    prompt_tokens, media = prompt_token_bound(body)
    bounds = [attempt_bound(c, body, prompt_tokens, media) for c in attempts]
    if not bounds:
        return 0.0
    if any(b is None for b in bounds):
        return None
    known = [b for b in bounds if b is not None]
    return sum(known) if fan_out else max(known)


def _completion_limit(candidate: Candidate, body: Mapping[str, Any], prompt_tokens: int) -> int:
    row = candidate.row
    asked = [body.get(f) for f in ("max_tokens", "max_completion_tokens")]
    given = [v for v in asked if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    if given:
        floor = max_tokens_floor(row.model, candidate.alias, row.backend) or 0
        return max(max(given), floor)  # shaping raises a small max_tokens to the model's floor
    if row.max_completion_tokens:
        return row.max_completion_tokens
    if row.context_length:
        return max(1, row.context_length - min(prompt_tokens, row.context_length - 1))
    return DEFAULT_COMPLETION_LIMIT


def _search_fees(candidate: Candidate, body: Mapping[str, Any]) -> float:
    """OpenRouter's web search (`:online`, the `web` plugin, `web_search_options`) is billed per result."""
    web = [p for p in _list(body.get("plugins")) if isinstance(p, Mapping) and p.get("id") == "web"]
    if not (web or candidate.upstream_model.endswith(":online") or body.get("web_search_options") is not None):
        return 0.0
    results = web[0].get("max_results") if web else None
    count = (
        results
        if isinstance(results, int) and not isinstance(results, bool) and results > 0
        else DEFAULT_SEARCH_RESULTS
    )
    pricing = candidate.row.endpoint.pricing if candidate.row.endpoint else candidate.row.model.pricing
    return max(pricing.web_search, 0.0) * count


def marks_cache(body: Mapping[str, Any]) -> bool:
    """Whether the request asks for prompt caching anywhere a `cache_control` can be (a cache write may follow)."""
    if body.get("cache_control") is not None:
        return True
    for tool in _list(body.get("tools")):
        if isinstance(tool, Mapping) and tool.get("cache_control") is not None:
            return True
    for message in _list(body.get("messages")):
        if not isinstance(message, Mapping):
            continue
        if message.get("cache_control") is not None:
            return True
        for part in (*_list(message.get("content")), *_list(message.get("tool_calls"))):
            if isinstance(part, Mapping) and part.get("cache_control") is not None:
                return True
    return False


def _worst_prices(row: Row, *, writes_cache: bool = False) -> tuple[float, float, float, float, float] | None:
    """(prompt, completion, request, image, audio): the row's prices; when OpenRouter chooses the provider,
    the dearest of the model's endpoints. A completion token is priced as the dearer of completion and
    internal reasoning; a prompt token that may be written to the cache as the dearer of prompt and cache
    write (see the module's docstring)."""
    if row.variable_price:
        return None
    own = row.endpoint.pricing if row.endpoint else row.model.pricing
    pricings: Iterable[Any] = (
        [e.pricing for e in row.model.endpoints] if row.endpoint is None and row.model.endpoints else []
    )
    prompt, request, image = row.prompt_price, row.request_price, row.image_price
    completion = max(row.completion_price, own.internal_reasoning)
    audio = max(own.audio, row.model.pricing.audio)
    if writes_cache:  # an endpoint often states no cache prices of its own: the model's then apply
        prompt = max(prompt, own.input_cache_write, row.model.pricing.input_cache_write)
    for pricing in pricings:
        if pricing.is_variable:
            return None
        prompt = max(prompt, pricing.prompt, pricing.input_cache_write if writes_cache else 0.0)
        completion = max(completion, pricing.completion, pricing.internal_reasoning)
        request, image = max(request, pricing.request), max(image, pricing.image)
        audio = max(audio, pricing.audio)
    return max(prompt, 0.0), max(completion, 0.0), max(request, 0.0), max(image, 0.0), max(audio, 0.0)


def _size(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    try:
        return len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return len(str(value).encode("utf-8", "surrogatepass"))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
