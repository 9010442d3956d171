"""The OpenAI Responses API on the completions function: retrieve, list input items, delete.

Create (plain or streamed) is a completion route (`http/completion_routes.py`, served by `http/front.py`):
the same core as chat (routing, shaping, fallbacks, keys, budgets, records, proof headers). Stored answers
are kept per key by `services.responses_store`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from routeway.http.deps import KeyDep, ResponsesStoreDep

router = APIRouter()


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
