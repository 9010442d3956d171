"""Every known Responses request field type-checked, each refused with its own `param` (never chat's name for it,
never forwarded wrongly typed to be refused upstream, never silently dropped), and the request settings a
`response` echoes, with the Open Responses specification's defaults where the client sent none.

`text.format` is checked by `domain.structured`, `tools` by `dialects.responses_tools`, input items where they
are translated. A null is absent, as OpenAI treats it. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from routeway.errors import InvalidRequest

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
SUMMARIES = ("auto", "concise", "detailed", "none")  # Codex sends "none" when told to
TRUNCATIONS = ("auto", "disabled")
MAX_TOP_LOGPROBS = 20


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# field → (accepts the value, what it must be)
FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "model": (lambda v: isinstance(v, str) and bool(v), "a model id"),
    "instructions": (lambda v: isinstance(v, str), "a string"),
    "temperature": (lambda v: _number(v) and 0 <= v <= 2, "a number from 0 to 2"),
    "top_p": (lambda v: _number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "presence_penalty": (lambda v: _number(v) and -2 <= v <= 2, "a number from -2 to 2"),
    "frequency_penalty": (lambda v: _number(v) and -2 <= v <= 2, "a number from -2 to 2"),
    "top_logprobs": (lambda v: _integer(v) and 0 <= v <= MAX_TOP_LOGPROBS, f"an integer from 0 to {MAX_TOP_LOGPROBS}"),
    "max_output_tokens": (lambda v: _integer(v) and v >= 1, "a positive integer"),
    "max_tool_calls": (lambda v: _integer(v) and v >= 1, "a positive integer"),
    "parallel_tool_calls": (lambda v: isinstance(v, bool), "a boolean"),
    "store": (lambda v: isinstance(v, bool), "a boolean"),
    "stream": (lambda v: isinstance(v, bool), "a boolean"),
    "background": (lambda v: v is False, "false (Routeway does not run responses in the background)"),
    # an object: Routeway's routing goals may ride in it with their own types (domain/goals.py checks them)
    "metadata": (lambda v: isinstance(v, dict), "an object"),
    "user": (lambda v: isinstance(v, str), "a string"),
    "safety_identifier": (lambda v: isinstance(v, str), "a string"),
    "prompt_cache_key": (lambda v: isinstance(v, str), "a string"),
    "prompt_cache_retention": (lambda v: v in ("in_memory", "in-memory", "24h"), "'in_memory' or '24h'"),
    "service_tier": (lambda v: isinstance(v, str), "a string"),
    "truncation": (lambda v: v in TRUNCATIONS, "'auto' or 'disabled'"),
    "tool_choice": (lambda v: isinstance(v, str | dict), "a string or an object"),
    "include": (lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v), "a list of strings"),
    "reasoning": (lambda v: isinstance(v, dict), "an object"),
    "stream_options": (lambda v: isinstance(v, dict), "an object"),
    "modalities": (lambda v: isinstance(v, list) and set(v) <= {"text", "image"}, "a list of 'text' or 'image'"),
    "provider": (lambda v: isinstance(v, dict), "an object"),
    "models": (lambda v: isinstance(v, list) and all(isinstance(m, str) and m for m in v), "a list of model ids"),
}


def check_fields(body: Mapping[str, Any]) -> None:
    """400 with `param` for the first known field of the wrong type or out of range."""
    for name, (accepts, expected) in FIELD_TYPES.items():
        value = body.get(name)
        if value is not None and not accepts(value):
            raise InvalidRequest(f"'{name}' must be {expected}.", param=name)
    reasoning = body.get("reasoning") or {}
    for name, allowed in (("effort", EFFORTS), ("summary", SUMMARIES), ("generate_summary", SUMMARIES)):
        value = reasoning.get(name)
        if value is not None and value not in allowed:
            raise InvalidRequest(f"'reasoning.{name}' must be one of {', '.join(allowed)}.", param=f"reasoning.{name}")
    if isinstance(body.get("stream_options"), dict) and body.get("stream") is not True:
        raise InvalidRequest("'stream_options' is only allowed with 'stream': true.", param="stream_options")


def echoed_settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request settings a `response` carries: numbers where the spec types them so (the defaults the model
    ran with when the client sent none), null where a value is unknown."""
    return {
        "temperature": float(body["temperature"]) if body.get("temperature") is not None else 1.0,
        "top_p": float(body["top_p"]) if body.get("top_p") is not None else 1.0,
        "presence_penalty": float(body["presence_penalty"]) if body.get("presence_penalty") is not None else 0.0,
        "frequency_penalty": float(body["frequency_penalty"]) if body.get("frequency_penalty") is not None else 0.0,
        "top_logprobs": int(body.get("top_logprobs") or 0),
        "max_tool_calls": body.get("max_tool_calls"),
        "background": False,
        "service_tier": "default",
        "user": body.get("user"),
        "safety_identifier": body.get("safety_identifier"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention"),
        "truncation": body.get("truncation") or "disabled",
    }
