"""JSON responses rendered with orjson, and the error body for any GatewayError in its dialect's shape.

Most routes answer errors in OpenAI's shape; the Anthropic Messages routes (`/v1/messages…`) answer in
Anthropic's (`{"type": "error", "error": {...}}`), whichever layer raised the error (auth, parsing,
routing, the exception handlers and the catch-all all come through `error_response`).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from routeway.errors import GatewayError

MESSAGES_PREFIX = "/v1/messages"
# answers that may call an upstream: each says how many attempts it made, refusals at the edge (401, 413) too
COMPLETION_PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/messages",
        "/v1/responses",
        "/v1/embeddings",
        "/v1/images/generations",
    }
)
ATTEMPTS_HEADER = "x-routeway-attempts"


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(exc: GatewayError, path: str = "") -> JSONBody:
    """`exc` with its status and headers, in the shape of the dialect `path` speaks."""
    anthropic = path == MESSAGES_PREFIX or path.startswith(MESSAGES_PREFIX + "/")
    if anthropic:  # the Messages dialect loads with its first request, not on every cold start
        from routeway.dialects.messages_render import error_body as messages_error_body

        body = messages_error_body(exc)
    else:
        body = exc.body()
    headers = dict(exc.headers)
    if path.rstrip("/") in COMPLETION_PATHS:
        headers.setdefault(ATTEMPTS_HEADER, "0")  # refused before the core counted anything
    return JSONBody(body, status_code=exc.status, headers=headers)
