"""JSON responses rendered with orjson, and the error body for any GatewayError in its dialect's shape.

Most routes answer errors in OpenAI's shape; the Anthropic Messages routes (`/v1/messages…`) answer in
Anthropic's (`{"type": "error", "error": {...}}`), whichever layer raised the error (auth, parsing,
routing, the exception handlers and the catch-all all come through `error_response`).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from routeway.dialects.messages_render import error_body as messages_error_body
from routeway.errors import GatewayError

MESSAGES_PREFIX = "/v1/messages"


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(exc: GatewayError, path: str = "") -> JSONBody:
    """`exc` with its status and headers, in the shape of the dialect `path` speaks."""
    anthropic = path == MESSAGES_PREFIX or path.startswith(MESSAGES_PREFIX + "/")
    body = messages_error_body(exc) if anthropic else exc.body()
    return JSONBody(body, status_code=exc.status, headers=exc.headers)
