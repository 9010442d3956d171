"""JSON responses rendered with orjson, and the header that says how many attempts an answer made.

An error's body is its dialect's (`http.completion_routes.render_error`: each completion route names its
dialect's renderer; OpenAI's shape elsewhere).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

# answers that may call an upstream: each says how many attempts it made, refusals at the edge (401, 413) too
ATTEMPTS_HEADER = "x-routeway-attempts"


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
