"""The few fields of an OpenAI chat request that Routeway reads, validated; everything else passes through.

Validating the whole OpenAI schema costs time on every request and rejects fields that upstreams
accept, so only what routing and shaping read is checked here (PERFORMANCE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routeway.domain.fields import check_field_types, check_model_name
from routeway.domain.structured import check_chat_response_format
from routeway.errors import InvalidRequest

# Routeway's own routing goals (read by domain.goals), never forwarded upstream.
ROUTING_FIELDS = (
    "objective",
    "max_cost_per_1k_tokens",
    "allowed_models",
    "blocked_models",
    "provider_policy",
    "top_n",
    "first_token_timeout_s",
)
MAX_CHOICES = 8  # `n`: one upstream call per choice when the upstream ignores it, so the count is bounded
# A first-token wait shorter than any provider's abandons every attempt before its first token, each one billed
# upstream (issue 29's first-token-timeout burn): shorter requests are raised to this and told so.
FIRST_TOKEN_FLOOR_S = 1.0
FIRST_TOKEN_FLOORED = "first_token_timeout_floored=1"
# Fields a client might use to redirect the gateway; dropped, never followed (RELIABILITY 9).
UPSTREAM_OVERRIDE_FIELDS = ("api_base", "base_url", "api_key", "api_version", "headers", "extra_headers", "url")


@dataclass(frozen=True)
class ChatRequest:
    body: dict[str, Any]  # the request as the client sent it
    model: str
    models: tuple[str, ...]
    messages: list[Any]
    stream: bool
    max_tokens: int | None
    n: int = 1
    include_usage: bool = False  # stream_options.include_usage: a last `choices: []` chunk carries usage
    first_token_timeout_s: float | None = None  # how long a stream may go without content before moving on
    notes: tuple[str, ...] = ()  # what parsing rewrote, for x-routeway-applied (`first_token_timeout_floored=1`)


def parse_chat_request(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    models = body.get("models")
    if models is not None:
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise InvalidRequest("'models' must be a list of model ids.", param="models")
    if model is None and models:
        model = models[0]
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a non-empty string.", param="model")
    check_model_name(model, "model")
    for index, name in enumerate(models or ()):
        check_model_name(name, f"models[{index}]")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list.", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest("Each message must be an object with a 'role'.", param=f"messages[{index}]")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    max_tokens = None
    for field in ("max_tokens", "max_completion_tokens"):
        value = body.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequest(f"'{field}' must be a positive integer.", param=field)
        max_tokens = value
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHOICES:
        raise InvalidRequest(f"'n' must be an integer from 1 to {MAX_CHOICES}.", param="n")
    check_field_types(body)
    check_chat_response_format(body.get("response_format"))
    options = body.get("stream_options")
    include_usage = bool(options and options.get("include_usage") is True)
    first_token_s = _first_token_timeout(body)
    floored = first_token_s is not None and first_token_s < FIRST_TOKEN_FLOOR_S
    return ChatRequest(
        body=body,
        model=model,
        models=tuple(models or ()),
        messages=messages,
        stream=stream,
        max_tokens=max_tokens,
        n=n,
        include_usage=include_usage,
        first_token_timeout_s=FIRST_TOKEN_FLOOR_S if floored else first_token_s,
        notes=(FIRST_TOKEN_FLOORED,) if floored else (),
    )


def _first_token_timeout(body: dict[str, Any]) -> float | None:
    """The request's `first_token_timeout_s` (top level or `metadata`), seconds, if it gives one."""
    metadata = body.get("metadata")
    value = body.get("first_token_timeout_s")
    if value is None and isinstance(metadata, dict):
        value = metadata.get("first_token_timeout_s")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)  # metadata values are strings in the OpenAI SDK
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
        raise InvalidRequest(
            "'first_token_timeout_s' must be a number of seconds above 0 (600 at most).", param="first_token_timeout_s"
        )
    return float(value)


def upstream_payload(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The body to send upstream: the client's fields minus Routeway's own and any redirect attempts."""
    dropped = {"models", *ROUTING_FIELDS, *UPSTREAM_OVERRIDE_FIELDS}
    payload = {k: v for k, v in body.items() if k not in dropped}
    metadata = payload.get("metadata")
    if isinstance(metadata, Mapping):
        kept = {k: v for k, v in metadata.items() if k not in ROUTING_FIELDS}
        if kept:
            payload["metadata"] = kept
        else:
            payload.pop("metadata")
    payload["model"] = model
    return payload
