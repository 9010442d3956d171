"""The OpenAI Responses API on the completions function: create (plain or streamed), retrieve, delete.

Create goes through the same core as chat (routing, shaping, fallbacks, keys, budgets, records,
proof headers), answered by `http/front.py` before FastAPI routes it (the route here keeps it in the
OpenAPI document); stored answers are kept per key by `services.responses_store`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from routeway.http import completion_handlers as handlers
from routeway.http.deps import KeyDep, ResponsesStoreDep, edge_of
from routeway.http.openapi import openapi_body

router = APIRouter()


@router.post(
    "/v1/responses",
    openapi_extra=openapi_body("An OpenAI Responses request plus Routeway's routing goals."),
)
async def create_response(request: Request) -> Response:
    return await handlers.create_response(edge_of(request), request)


@router.get("/v1/responses/{response_id}")
async def get_response(response_id: str, store: ResponsesStoreDep, key: KeyDep) -> dict[str, Any]:
    return await store.get(response_id, key)


@router.get("/v1/responses/{response_id}/input_items")
async def get_input_items(response_id: str, store: ResponsesStoreDep, key: KeyDep) -> dict[str, Any]:
    items = await store.input_items(response_id, key)
    return {"object": "list", "data": items, "first_id": None, "last_id": None, "has_more": False}


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: str, store: ResponsesStoreDep, key: KeyDep) -> dict[str, Any]:
    return await store.delete(response_id, key)
