"""OpenAPI fragments shared by the routes (kept apart from the app, so routes never import it)."""

from __future__ import annotations

from typing import Any


def openapi_body(description: str) -> dict[str, Any]:
    """OpenAPI for routes that read the raw body (so unknown fields pass through untouched)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
        }
    }
