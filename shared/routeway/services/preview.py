"""POST /v1/route/preview: the ranked candidates a chat request would use, without calling any model."""

from __future__ import annotations

from typing import Any

import orjson

from routeway.bootstrap import Gateway
from routeway.domain.goals import DEFAULT_TOP_N
from routeway.domain.records import ApiKeyRecord
from routeway.domain.wire import parse_chat_request
from routeway.errors import InvalidRequest
from routeway.services.routing import plan_for


class PreviewService:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def preview(self, raw_body: bytes, key: ApiKeyRecord | None = None) -> dict[str, Any]:
        try:
            body = orjson.loads(raw_body)
        except orjson.JSONDecodeError:
            raise InvalidRequest("The request body is not valid JSON.") from None
        request = parse_chat_request(body)
        catalog = self.gw.catalog.current()
        plan, goals, needs = plan_for(self.gw, catalog, request, key)
        top_n = goals.top_n or DEFAULT_TOP_N
        return {
            "object": "route.preview",
            "requested_model": request.model,
            "mode": plan.mode,
            "alias": plan.alias,
            "objective": plan.objective,
            "task": plan.task,
            "estimated_prompt_tokens": needs.prompt_tokens,
            "attempts": len(plan.attempts),
            "candidates": [c.preview(rank) for rank, c in enumerate(plan.ranked[:top_n], start=1)],
            "excluded": plan.excluded,
            "notes": plan.notes,
            "catalog_version": catalog.version,
        }
