"""The completions function's routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from routeway.http.app import openapi_body
from routeway.http.deps import GatewayDep, KeyDep, read_body
from routeway.http.responses import JSONBody
from routeway.services.completions import CompletionsService, ServiceStream

router = APIRouter()
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post(
    "/v1/chat/completions",
    openapi_extra=openapi_body("An OpenAI chat request plus Routeway's routing goals."),
)
async def chat_completions(request: Request, gateway: GatewayDep, key: KeyDep) -> Response:
    raw = await read_body(request)
    result = await CompletionsService(gateway).chat(raw, key)
    if isinstance(result, ServiceStream):
        return StreamingResponse(result.body, media_type="text/event-stream", headers={**SSE_HEADERS, **result.headers})
    return JSONBody(result.body, status_code=result.status, headers=result.headers)
