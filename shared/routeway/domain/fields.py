"""Hostile bodies: the types of the known chat fields, the body's nesting, and model names (PRODUCT.md
"Money and trust" → "Hostile bodies").

A wrongly typed known field is the client's mistake, so it is refused here with `param` instead of
going upstream, where every provider would refuse it and be blamed for it (`modalities: "image"` once
cooled every provider down). Unknown fields still pass through: upstreams accept more than we know.
A null is treated as absent, as OpenAI does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from routeway.errors import InvalidRequest, ModelNotFound

MAX_JSON_DEPTH = 64
KNOWN_MODALITIES = frozenset({"text", "image", "audio", "embeddings"})  # the catalog's output modalities


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_object_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


# field -> (accepts the value, what the error says it must be)
FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "modalities": (
        lambda v: _is_string_list(v) and set(v) <= KNOWN_MODALITIES,
        "a list of 'text', 'image', 'audio' or 'embeddings'",
    ),
    "temperature": (_is_number, "a number"),
    "top_p": (_is_number, "a number"),
    "top_k": (_is_number, "a number"),
    "min_p": (_is_number, "a number"),
    "top_a": (_is_number, "a number"),
    "frequency_penalty": (_is_number, "a number"),
    "presence_penalty": (_is_number, "a number"),
    "repetition_penalty": (_is_number, "a number"),
    "seed": (_is_integer, "an integer"),
    "top_logprobs": (_is_integer, "an integer"),
    "logprobs": (lambda v: isinstance(v, bool), "a boolean"),
    "parallel_tool_calls": (lambda v: isinstance(v, bool), "a boolean"),
    "include_reasoning": (lambda v: isinstance(v, bool), "a boolean"),
    "stop": (lambda v: isinstance(v, str) or _is_string_list(v), "a string or a list of strings"),
    "tools": (_is_object_list, "a list of objects"),
    "tool_choice": (lambda v: isinstance(v, str | dict), "a string or an object"),
    "response_format": (lambda v: isinstance(v, dict), "an object"),
    "stream_options": (lambda v: isinstance(v, dict), "an object"),
    "logit_bias": (lambda v: isinstance(v, dict), "an object"),
    "reasoning": (lambda v: isinstance(v, dict), "an object"),
    "provider": (lambda v: isinstance(v, dict), "an object"),
    "metadata": (lambda v: isinstance(v, dict), "an object"),
    "prediction": (lambda v: isinstance(v, dict), "an object"),
    "web_search_options": (lambda v: isinstance(v, dict), "an object"),
    "reasoning_effort": (lambda v: isinstance(v, str), "a string"),
    "verbosity": (lambda v: isinstance(v, str), "a string"),
    "user": (lambda v: isinstance(v, str), "a string"),
}


def check_field_types(body: Mapping[str, Any]) -> None:
    """400 with `param` for the first known field of the wrong type."""
    for field, (accepts, expected) in FIELD_TYPES.items():
        value = body.get(field)
        if value is not None and not accepts(value):
            raise InvalidRequest(f"'{field}' must be {expected}.", param=field)


def check_model_name(name: str, param: str) -> None:
    """404 for a name no catalog can hold: whitespace, control or invisible (zero-width) characters."""
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise ModelNotFound(
            "No model has this name: it contains whitespace, control or invisible characters.", param=param
        )


def nested_deeper_than(document: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays/objects nest more than `limit` levels; iterative, so any depth is safe to check."""
    if not isinstance(document, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:  # bounded: each container is pushed once
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def could_nest_deeper_than(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """A cheap bound before walking: fewer opening brackets than `limit` cannot nest deeper than it."""
    return raw.count(b"[") + raw.count(b"{") > limit
