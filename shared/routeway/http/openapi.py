"""OpenAPI fragments shared by the routes (kept apart from the app, so routes never import it), and the
completion routes' operations, described from the route table (FastAPI has no route for those paths)."""

from __future__ import annotations

import re
from typing import Any

from routeway.http.completion_routes import ROUTES, CompletionRoute


def openapi_body(description: str) -> dict[str, Any]:
    """OpenAPI for routes that read the raw body (so unknown fields pass through untouched)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
        }
    }


def completion_operation(route: CompletionRoute) -> dict[str, Any]:
    """A completion route's `post` operation, as FastAPI described it when these were FastAPI routes: the same
    summary and operation id (from the handler's name, FastAPI's rule), so generated clients keep their names."""
    name = route.handler.__name__
    return {
        "summary": name.replace("_", " ").title(),
        "operationId": re.sub(r"\W", "_", f"{name}{route.path}") + "_post",
        **openapi_body(route.request),
        "responses": {
            "200": {
                "description": "Successful Response",
                "content": {"application/json": {"schema": {"type": "string"}}},
            }
        },
    }


def completion_paths() -> dict[str, Any]:
    """The OpenAPI `paths` of every completion route."""
    return {path: {"post": completion_operation(route)} for path, route in ROUTES.items()}
