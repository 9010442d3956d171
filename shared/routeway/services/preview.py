"""POST /v1/route/preview: what a chat request would be routed to, without calling any model."""

from __future__ import annotations

from typing import Any

import orjson

from routeway.bootstrap import Gateway
from routeway.config import available_backends
from routeway.domain.candidates import provider_candidates
from routeway.domain.estimate import DEFAULT_COMPLETION_TOKENS, estimate_prompt_tokens
from routeway.domain.resolve import resolve_target
from routeway.domain.wire import parse_chat_request
from routeway.errors import InvalidRequest

DEFAULT_TOP_N = 5
MAX_TOP_N = 50


def _top_n(body: dict[str, Any]) -> int:
    metadata = body.get("metadata")
    raw = body.get("top_n", metadata.get("top_n", DEFAULT_TOP_N) if isinstance(metadata, dict) else DEFAULT_TOP_N)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_TOP_N:
        raise InvalidRequest(f"'top_n' must be an integer from 1 to {MAX_TOP_N}.", param="top_n")
    return raw


class PreviewService:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def preview(self, raw_body: bytes) -> dict[str, Any]:
        try:
            body = orjson.loads(raw_body)
        except orjson.JSONDecodeError:
            raise InvalidRequest("The request body is not valid JSON.") from None
        request = parse_chat_request(body)
        top_n = _top_n(request.body)
        catalog = self.gw.catalog.current()
        target = resolve_target(catalog, request.model, available_backends(catalog.snapshot.backends, self.gw.env))
        prompt_tokens = estimate_prompt_tokens(request.messages)
        completion_tokens = request.max_tokens or DEFAULT_COMPLETION_TOKENS
        candidates = provider_candidates(target.model, target.backend, prompt_tokens, completion_tokens)
        return {
            "object": "route.preview",
            "requested_model": request.model,
            "resolved": {
                "model": target.model.id,
                "alias": target.alias.alias if target.alias else None,
                "backend": target.backend.name,
                "upstream_model": target.upstream_model,
            },
            "objective": request.objective,
            "estimated_prompt_tokens": prompt_tokens,
            "candidates": candidates[:top_n],
            "excluded": {},
            "catalog_version": catalog.version,
        }
