"""The completion routes: one handler per dialect, without FastAPI, and the one table that names their paths.

Each handler authenticates, parses once, calls the core and renders its dialect. `ROUTES` is the only
place a completion path is written: the ASGI front serves it (`http/front.py`, no routing table walk, no
dependency solving), the overhead middleware times it (`http/middleware.py`), its errors are rendered by
its dialect's renderer (`render_error`), and the OpenAPI document describes it (`http/openapi.py`). One
matching rule for all of them: `route_of(scope)`, the path after the root path a proxy put in front.
The other dialects' modules are imported by their own handler (and error renderer) on first use: a cold
start answering a chat completion does not load (and, in Lambda, compile and build the classes of) the
five it does not use.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from routeway.dialects.chat import render_sse
from routeway.domain.records import ApiKeyRecord
from routeway.domain.wire import parse_chat_request
from routeway.errors import GatewayError, UpstreamError
from routeway.http.edge import Edge, dialect_request
from routeway.http.event_stream import EventStream
from routeway.http.responses import ATTEMPTS_HEADER, JSONBody
from routeway.services.completions import CompletionsService
from routeway.services.results import Completion, CompletionStream

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SESSION_HEADER = "x-routeway-session"  # names a conversation for sticky providers
Handler = Callable[[Edge, Request], Awaitable[Response]]
ErrorBody = Callable[[GatewayError], dict[str, Any]]


async def _begin(edge: Edge, request: Request) -> tuple[CompletionsService, ApiKeyRecord | None]:
    """The service for this entry's deadline and the conversation the client names, and the caller's key:
    checked before the body is read."""
    service = CompletionsService(edge.gateway(), long_entry=edge.long_entry(request), session=session_of(request))
    return service, await edge.key(request)


def session_of(request: Request) -> str | None:
    """The conversation a client names in `x-routeway-session`, as a digest: any length is bounded, and the
    header's text is never kept, logged or echoed (domain/sticky.py)."""
    value = request.headers.get(SESSION_HEADER)
    if not value:
        return None
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _sse(stream: CompletionStream, body: AsyncIterator[bytes]) -> EventStream:
    return EventStream(body, {**SSE_HEADERS, **stream.proof.headers()})


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
        if call.request.store:  # this turn's input only: the earlier turns are stored already
            await store.save(response, call.request.items, call.earlier, key)

    clock = service.gw.clock
    if isinstance(result, CompletionStream):
        return _sse(result, render_responses_stream(result, call.request, keep, clock.now))
    response = render_response(result, call.request, int(clock.now()))
    await keep(response)
    return JSONBody(response, status_code=result.status, headers=result.proof.headers())


async def compact_response(edge: Edge, request: Request) -> Response:
    """A conversation compacted into its user messages and one summary item (`dialects/responses_compact.py`)."""
    from routeway.dialects.responses_compact import render_compaction
    from routeway.http.edge import responses_call
    from routeway.services.responses_store import ResponsesStore

    service, key = await _begin(edge, request)
    call = await responses_call(request, service, ResponsesStore(edge.gateway()), key, compact=True)
    result = cast(Completion, await service.chat(call.chat, key))  # never streamed
    try:
        body = render_compaction(result, call.request, call.history, int(service.gw.clock.now()))
    except GatewayError as exc:
        exc.headers.update(result.proof.headers())
        raise
    return JSONBody(body, status_code=result.status, headers=result.proof.headers())


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


def openai_error(exc: GatewayError) -> dict[str, Any]:
    """OpenAI's error shape (`errors.py`): chat, legacy completions, Responses, embeddings, images."""
    return exc.body()


def anthropic_error(exc: GatewayError) -> dict[str, Any]:
    """Anthropic's (`{"type": "error", "error": {...}}`); the Messages dialect loads on first use."""
    from routeway.dialects.messages_render import error_body

    return error_body(exc)


@dataclass(frozen=True, slots=True)
class CompletionRoute:
    """A completion path: the handler of its POST, its dialect's error renderer, and what the OpenAPI document
    says of its request body. Every answer on the path is timed (`x-routeway-overhead-ms`), errors and other
    methods' 405s included, and an error before the core counted anything says `x-routeway-attempts: 0`."""

    path: str
    handler: Handler
    error_body: ErrorBody
    request: str

    def error(self, exc: GatewayError) -> JSONBody:
        headers = dict(exc.headers)
        headers.setdefault(ATTEMPTS_HEADER, "0")  # refused before the core counted anything
        return JSONBody(self.error_body(exc), status_code=exc.status, headers=headers)


def _table(*routes: CompletionRoute) -> dict[str, CompletionRoute]:
    return {route.path: route for route in routes}


# Every path the completions function answers with a completion; a new dialect adds its row here.
ROUTES = _table(
    CompletionRoute(
        "/v1/chat/completions", chat_completions, openai_error, "An OpenAI chat request plus Routeway's routing goals."
    ),
    CompletionRoute(
        "/v1/completions",
        completions,
        openai_error,
        "An OpenAI legacy completion request (one prompt), routed like a chat.",
    ),
    CompletionRoute(
        "/v1/messages", messages, anthropic_error, "An Anthropic Messages request plus Routeway's routing goals."
    ),
    CompletionRoute(
        "/v1/responses", create_response, openai_error, "An OpenAI Responses request plus Routeway's routing goals."
    ),
    CompletionRoute(
        "/v1/responses/compact",
        compact_response,
        openai_error,
        "An OpenAI Responses compaction request (model, input or previous_response_id, instructions).",
    ),
    CompletionRoute(
        "/v1/embeddings",
        embeddings,
        openai_error,
        "An OpenAI embeddings request plus `models`, `provider` and Routeway's routing goals.",
    ),
    CompletionRoute(
        "/v1/images/generations",
        images_generations,
        openai_error,
        "An OpenAI image generation request (model, prompt, n, size, response_format).",
    ),
)


def route_path(scope: Scope) -> str:
    """The path the routes are matched on: without the root path a proxy may have put in front."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def route_of(scope: Scope) -> CompletionRoute | None:
    """The completion route an HTTP request is for (any method), or None: the one matching rule."""
    return ROUTES.get(route_path(scope)) if scope["type"] == "http" else None


def slashed_route(scope: Scope) -> bool:
    """A completion path with trailing slashes (answered with a redirect to the path, as FastAPI would)."""
    if scope["type"] != "http":
        return False
    path = route_path(scope)
    return path.endswith("/") and path.rstrip("/") in ROUTES


def errors_under(path: str) -> ErrorBody:
    """The renderer of the completion route `path` lies under (`/v1/messages/count_tokens`, an unknown
    `/v1/messages/...`, `/v1/responses/{id}`), or OpenAI's: a dialect's errors keep its shape on its other routes."""
    while path:
        path = path.rpartition("/")[0]
        route = ROUTES.get(path)
        if route is not None:
            return route.error_body
    return openai_error


def speaks_anthropic(path: str, scope: Scope) -> bool:
    """The model routes answer Anthropic's SDKs in Anthropic's shape: they send `anthropic-version`."""
    if path != "/v1/models" and not path.startswith("/v1/models/"):
        return False
    return any(name == b"anthropic-version" for name, _ in scope.get("headers", ()))


def render_error(exc: GatewayError, scope: Scope) -> JSONBody:
    """`exc` with its status and headers, in the shape of the dialect the request's route speaks, whichever layer
    raised it (auth, parsing, routing, FastAPI's exception handlers, the catch-all)."""
    path = route_path(scope)
    route = ROUTES.get(path)
    if route is not None:
        return route.error(exc)
    shape = anthropic_error if speaks_anthropic(path, scope) else errors_under(path)
    return JSONBody(shape(exc), status_code=exc.status, headers=exc.headers)
