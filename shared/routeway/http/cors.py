"""CORS for `routeway serve` (ROUTEWAY_CORS_ORIGINS): in AWS the HTTP API's and Function URLs' CORS settings in
template.yaml do this, with the same lists (tests/test_cors.py holds them equal).

The headers are named one by one, not `*`: a wildcard does not cover `authorization` in the Fetch standard,
and API Gateway and Function URLs each treat it their own way. The list is what the official SDKs send from a
browser (OpenAI's and Anthropic's, Python and JS: their `x-stainless-*` platform, retry and helper headers).
"""

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
ALLOWED_METHODS = ("GET", "POST", "DELETE", "OPTIONS")  # DELETE /v1/responses/{id}
STAINLESS = (
    "arch",
    "async",
    "custom-event-handler",
    "custom-poll-interval",
    "helper",
    "helper-method",
    "lang",
    "os",
    "package-version",
    "poll-helper",
    "raw-response",
    "read-timeout",
    "retry-count",
    "runtime",
    "runtime-version",
    "stream-helper",
    "timeout",
)
ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "x-api-key",
    "x-routeway-session",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "openai-beta",
    "openai-organization",
    "openai-project",
    "idempotency-key",
    *(f"x-stainless-{name}" for name in STAINLESS),
)


def cors_options(origins: Sequence[str]) -> dict[str, Any]:
    """Starlette's CORSMiddleware options: preflight answered and the origin echoed only for a listed origin,
    the route proof headers readable by the page."""
    return {
        "allow_origins": list(origins),
        "allow_methods": list(ALLOWED_METHODS),
        "allow_headers": list(ALLOWED_HEADERS),
        "expose_headers": [*PROOF_HEADERS, "retry-after"],
        "max_age": 600,
    }
