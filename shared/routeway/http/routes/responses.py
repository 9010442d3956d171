"""The OpenAI Responses API on the completions function: create (plain or streamed), retrieve, delete.

Create goes through the same core as chat (routing, shaping, fallbacks, keys, budgets, records,
proof headers); stored answers are kept per key by `services.responses_store`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response, StreamingResponse

from routeway.dialects.responses import render_response
from routeway.dialects.responses_stream import render_responses_stream
from routeway.http.deps import CompletionsDep, KeyDep, ResponsesCallDep, ResponsesStoreDep
from routeway.http.openapi import openapi_body
from routeway.http.responses import JSONBody
from routeway.services.results import CompletionStream

router = APIRouter()
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post(
    "/v1/responses",
    openapi_extra=openapi_body("An OpenAI Responses request plus Routeway's routing goals."),
)
async def create_response(
    call: ResponsesCallDep, service: CompletionsDep, store: ResponsesStoreDep, key: KeyDep
) -> Response:
    result = await service.chat(call.chat, key)

    async def keep(response: dict[str, Any]) -> None:
        if call.request.store:
            await store.save(response, call.conversation, key)

    if isinstance(result, CompletionStream):
        headers = {**SSE_HEADERS, **result.proof.headers()}
        events = render_responses_stream(result, call.request, keep)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    response = render_response(result, call.request)
    await keep(response)
    return JSONBody(response, status_code=result.status, headers=result.proof.headers())


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
