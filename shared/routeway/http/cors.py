"""CORS for `routeway serve` (ROUTEWAY_CORS_ORIGINS): in AWS the HTTP API's CorsConfiguration does this."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PROOF_HEADERS = (
    "x-routeway-generation-id",
    "x-routeway-model",
    "x-routeway-provider",
    "x-routeway-backend",
    "x-routeway-attempts",
    "x-routeway-applied",
    "x-routeway-catalog-version",
    "x-routeway-overhead-ms",
)


def cors_options(origins: Sequence[str]) -> dict[str, Any]:
    """Starlette's CORSMiddleware options: preflight answered and the origin echoed only for a listed origin,
    the route proof headers readable by the page."""
    return {
        "allow_origins": list(origins),
        "allow_methods": ["GET", "POST", "OPTIONS"],
        "allow_headers": ["Authorization", "Content-Type", "x-api-key"],
        "expose_headers": [*PROOF_HEADERS, "retry-after"],
        "max_age": 600,
    }
