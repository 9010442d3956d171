"""Lambda handler for the scheduled catalog refresh (glue only: the service lives in routeway)."""

from typing import Any

from routeway.runtime import refresh_handler


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return refresh_handler(event, context)
