"""The completions function's routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from routeway.bootstrap import Gateway
from routeway.http.app import openapi_body
from routeway.http.deps import GatewayDep, KeyDep, is_long_request_entry, read_body
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
    return _respond(await _service(request, gateway).chat(raw, key))


@router.post(
    "/v1/completions",
    openapi_extra=openapi_body("An OpenAI legacy completion request (one prompt), routed like a chat."),
)
async def completions(request: Request, gateway: GatewayDep, key: KeyDep) -> Response:
    raw = await read_body(request)
    return _respond(await text_completion(_service(request, gateway), raw, key))


def _service(request: Request, gateway: Gateway) -> CompletionsService:
    """API Gateway cuts at 30 s, so its deadline is short; the Function URL gets the long one."""
    return CompletionsService(gateway, long_entry=is_long_request_entry(request))


def _respond(result: ServiceResponse | ServiceStream) -> Response:
    if isinstance(result, ServiceStream):
        return StreamingResponse(result.body, media_type="text/event-stream", headers={**SSE_HEADERS, **result.headers})
    return JSONBody(result.body, status_code=result.status, headers=result.headers)
