"""Lambda handler for GET /v1/info, /v1/key, /v1/models, /v1/models/{id}, /readyz, /healthz, /console and /admin/v1
(glue)."""

from typing import Any

from routeway.runtime import http_handler


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return http_handler(("info", "console", "admin"))(event, context)
