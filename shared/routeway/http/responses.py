"""JSON responses rendered with orjson, and the OpenAI error body for any GatewayError."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from routeway.errors import GatewayError


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(exc: GatewayError) -> JSONBody:
    return JSONBody(exc.body(), status_code=exc.status, headers=exc.headers)
