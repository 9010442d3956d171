"""Lambda handler for POST /v1/chat/completions (glue only: the app lives in routeway)."""

from typing import Any

from routeway.runtime import http_handler


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return http_handler(("completions",))(event, context)
