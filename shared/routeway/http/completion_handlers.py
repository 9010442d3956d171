"""The completion routes' handlers, one per dialect, without FastAPI: authenticate, parse once, call the
core, render the dialect.

`http/front.py` serves them straight from ASGI (no routing table walk, no dependency solving); the
FastAPI routes of the same paths (`http/routes/`) call them too, and carry the OpenAPI document.
Errors are raised as GatewayError and rendered by whoever serves the handler (`error_response`).
The other dialects' modules are imported by their own handler, on its first request: a cold start answering
a chat completion does not load (and, in Lambda, compile and build the classes of) the five it does not use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from routeway.dialects.chat import render_sse
from routeway.domain.records import ApiKeyRecord
from routeway.domain.wire import parse_chat_request
from routeway.errors import GatewayError, UpstreamError
from routeway.http.edge import Edge, dialect_request
from routeway.http.responses import JSONBody
from routeway.services.completions import CompletionsService
from routeway.services.results import Completion, CompletionStream

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
Handler = Callable[[Edge, Request], Awaitable[Response]]


async def _begin(edge: Edge, request: Request) -> tuple[CompletionsService, ApiKeyRecord | None]:
    """The service for this entry's deadline, and the caller's key: checked before the body is read."""
    service = CompletionsService(edge.gateway(), long_entry=edge.long_entry(request))
    return service, await edge.key(request)


def _sse(stream: CompletionStream, body: AsyncIterator[bytes]) -> StreamingResponse:
    headers = {**SSE_HEADERS, **stream.proof.headers()}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


async def chat_completions(edge: Edge, request: Request) -> Response:
    service, key = await _begin(edge, request)
    body = await dialect_request(request, service, key, parse_chat_request)
    result = await service.chat(body, key)
    if isinstance(result, CompletionStream):
        return _sse(result, render_sse(result))
    return JSONBody(result.body, status_code=result.status, headers=result.proof.headers())


async def completions(edge: Edge, request: Request) -> Response:
    from routeway.dialects.legacy import parse_text_completion, render_text_completion, text_chunk

    service, key = await _begin(edge, request)
    body = await dialect_request(request, service, key, parse_text_completion)
    result = await service.chat(body, key)
    if isinstance(result, CompletionStream):
        return _sse(result, render_sse(result, text_chunk))
    return JSONBody(render_text_completion(result), status_code=result.status, headers=result.proof.headers())


async def messages(edge: Edge, request: Request) -> Response:
    from routeway.dialects.messages import parse_messages
    from routeway.dialects.messages_render import render_message, render_message_stream

    service, key = await _begin(edge, request)
    body = await dialect_request(request, service, key, parse_messages)
    stops = body.body.get("stop")
    result = await service.chat(body, key)
    if isinstance(result, CompletionStream):
        return _sse(result, render_message_stream(result, stops))
    return JSONBody(render_message(result, stops), status_code=result.status, headers=result.proof.headers())


async def create_response(edge: Edge, request: Request) -> Response:
    from routeway.dialects.responses import render_response
    from routeway.dialects.responses_stream import render_responses_stream
    from routeway.http.edge import responses_call
    from routeway.services.responses_store import ResponsesStore

    service, key = await _begin(edge, request)
    store = ResponsesStore(edge.gateway())
    call = await responses_call(request, service, store, key)
    result = await service.chat(call.chat, key)

    async def keep(response: dict[str, Any]) -> None:
        if call.request.store:
            await store.save(response, call.conversation, key)

    if isinstance(result, CompletionStream):
        return _sse(result, render_responses_stream(result, call.request, keep))
    response = render_response(result, call.request)
    await keep(response)
    return JSONBody(response, status_code=result.status, headers=result.proof.headers())


async def embeddings(edge: Edge, request: Request) -> Response:
    from routeway.dialects.embeddings import parse_embeddings, render_embeddings
    from routeway.services.embeddings import EmbeddingsService

    service = EmbeddingsService(edge.gateway(), long_entry=edge.long_entry(request))
    key = await edge.key(request)
    body = await dialect_request(request, service, key, parse_embeddings)
    result = await service.embed(body, key)
    return JSONBody(render_embeddings(body, result), headers=result.proof.headers())


async def images_generations(edge: Edge, request: Request) -> Response:
    """`n` images are one generation: every call held up front, the images made returned (`partial=k/n`)."""
    from routeway.dialects.images import image_urls, parse_images, render_images

    service, key = await _begin(edge, request)
    body = await dialect_request(request, service, key, parse_images)
    generated = cast(Completion, await service.chat(replace(body.chat, n=body.n), key))  # images do not stream
    headers = generated.proof.headers()
    if not image_urls(generated):
        error: GatewayError = UpstreamError(f"{generated.proof.model} answered without an image.")
        error.headers.update(headers)
        raise error
    return JSONBody(render_images(body, generated, int(service.gw.clock.now())), headers=headers)


# every POST the completions function answers with a completion (what x-routeway-overhead-ms times)
HANDLERS: dict[str, Handler] = {
    "/v1/chat/completions": chat_completions,
    "/v1/completions": completions,
    "/v1/messages": messages,
    "/v1/responses": create_response,
    "/v1/embeddings": embeddings,
    "/v1/images/generations": images_generations,
}
