"""Lambda handler for POST /v1/route/preview and GET /v1/route/explain/{id} (glue only)."""

from typing import Any

from routeway.runtime import http_handler


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return http_handler(("route",))(event, context)
