"""The completions function's routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from routeway.http.app import openapi_body
from routeway.http.deps import GatewayDep, KeyDep, read_body
from routeway.http.responses import JSONBody
from routeway.services.completions import CompletionsService, ServiceResponse, ServiceStream
from routeway.services.legacy import text_completion

router = APIRouter()
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post(
    "/v1/chat/completions",
    openapi_extra=openapi_body("An OpenAI chat request plus Routeway's routing goals."),
)
async def chat_completions(request: Request, gateway: GatewayDep, key: KeyDep) -> Response:
    raw = await read_body(request)
    return _respond(await CompletionsService(gateway).chat(raw, key))


@router.post(
    "/v1/completions",
    openapi_extra=openapi_body("An OpenAI legacy completion request (one prompt), routed like a chat."),
)
async def completions(request: Request, gateway: GatewayDep, key: KeyDep) -> Response:
    raw = await read_body(request)
    return _respond(await text_completion(CompletionsService(gateway), raw, key))


def _respond(result: ServiceResponse | ServiceStream) -> Response:
    if isinstance(result, ServiceStream):
        return StreamingResponse(result.body, media_type="text/event-stream", headers={**SSE_HEADERS, **result.headers})
    return JSONBody(result.body, status_code=result.status, headers=result.headers)
