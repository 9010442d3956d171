"""The completions function's routes: each parses at the edge, calls the core, renders its dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter
from starlette.responses import Response, StreamingResponse

from routeway.dialects.chat import render_sse
from routeway.dialects.legacy import render_text_completion, text_chunk
from routeway.http.deps import ChatRequestDep, CompletionsDep, KeyDep, TextCompletionRequestDep
from routeway.http.openapi import openapi_body
from routeway.http.responses import JSONBody
from routeway.services.results import CompletionStream

router = APIRouter()
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post(
    "/v1/chat/completions",
    openapi_extra=openapi_body("An OpenAI chat request plus Routeway's routing goals."),
)
async def chat_completions(body: ChatRequestDep, service: CompletionsDep, key: KeyDep) -> Response:
    result = await service.chat(body, key)
    if isinstance(result, CompletionStream):
        return _sse(result, render_sse(result))
    return JSONBody(result.body, status_code=result.status, headers=result.proof.headers())


@router.post(
    "/v1/completions",
    openapi_extra=openapi_body("An OpenAI legacy completion request (one prompt), routed like a chat."),
)
async def completions(body: TextCompletionRequestDep, service: CompletionsDep, key: KeyDep) -> Response:
    result = await service.chat(body, key)
    if isinstance(result, CompletionStream):
        return _sse(result, render_sse(result, text_chunk))
    return JSONBody(render_text_completion(result), status_code=result.status, headers=result.proof.headers())


def _sse(stream: CompletionStream, body: AsyncIterator[bytes]) -> StreamingResponse:
    headers = {**SSE_HEADERS, **stream.proof.headers()}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)
