"""Anthropic's Messages API on the completions function: `POST /v1/messages` and its `count_tokens`.

The body is parsed at the edge (`http/deps.py`, `dialects/messages.py`), the core answers as for chat,
and `dialects/messages_render.py` renders the message, the event stream, and (through
`http.responses.error_response`, keyed on the path) every error in Anthropic's shape. Anthropic clients
send `x-api-key`, `anthropic-version` and `anthropic-beta`: the key is accepted like a Bearer key, the
version headers are accepted and never required.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response, StreamingResponse

from routeway.dialects.messages_render import render_message, render_message_stream
from routeway.domain.requirements import derive_requirements
from routeway.http.deps import CompletionsDep, CountTokensRequestDep, KeyDep, MessagesRequestDep
from routeway.http.openapi import openapi_body
from routeway.http.responses import JSONBody
from routeway.services.results import CompletionStream

router = APIRouter()
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post(
    "/v1/messages",
    openapi_extra=openapi_body("An Anthropic Messages request plus Routeway's routing goals."),
)
async def messages(body: MessagesRequestDep, service: CompletionsDep, key: KeyDep) -> Response:
    stops = body.body.get("stop")
    result = await service.chat(body, key)
    if isinstance(result, CompletionStream):
        headers = {**SSE_HEADERS, **result.proof.headers()}
        return StreamingResponse(render_message_stream(result, stops), media_type="text/event-stream", headers=headers)
    return JSONBody(render_message(result, stops), status_code=result.status, headers=result.proof.headers())


@router.post(
    "/v1/messages/count_tokens",
    openapi_extra=openapi_body("An Anthropic Messages request whose prompt tokens are estimated."),
)
async def count_tokens(body: CountTokensRequestDep) -> Response:
    """The estimate routing uses for this prompt: no upstream call, no charge, no record."""
    needs = derive_requirements(body.body, body.messages, body.max_tokens)
    return JSONBody({"input_tokens": needs.prompt_tokens})
