"""Typed dependencies: the gateway, the caller's key, and each request parsed once at the edge.

Tests override these instead of patching. Parsing happens here, after authentication, so a 401
comes before any body is read; a completion body that cannot be parsed is still recorded under a
generation id (the contract: every completion answer past authentication has one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from routeway.dialects.chat import parse_chat, parse_json
from routeway.dialects.embeddings import parse_embeddings
from routeway.dialects.images import ImagesRequest, parse_images
from routeway.dialects.legacy import parse_text_completion
from routeway.dialects.messages import parse_count_tokens, parse_messages
from routeway.dialects.responses import ResponsesRequest, parse_responses, to_chat_request
from routeway.domain.embeddings import EmbeddingsRequest
from routeway.domain.records import ApiKeyRecord
from routeway.domain.wire import ChatRequest, parse_chat_request
from routeway.errors import GatewayError, RequestTooLarge
from routeway.gateway import Gateway
from routeway.services.completion_core import CompletionCore
from routeway.services.completions import CompletionsService
from routeway.services.embeddings import EmbeddingsService
from routeway.services.keys import authenticate, presented_key
from routeway.services.responses_store import ResponsesStore
from routeway.settings import MAX_BODY_BYTES


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None:
        gateway = request.app.state.gateway_factory()
        request.app.state.gateway = gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def require_key(request: Request, gateway: GatewayDep) -> ApiKeyRecord | None:
    """The caller's key record; None only when ROUTEWAY_AUTH=off (local serve)."""
    if gateway.settings.auth == "off":
        return None
    key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    return await authenticate(gateway.state, key)


KeyDep = Annotated[ApiKeyRecord | None, Depends(require_key)]


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 as soon as it passes the limit (before Lambda's 6 MB)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"The request body is over the {limit // (1024 * 1024)} MB limit.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"The request body is over the {limit // (1024 * 1024)} MB limit.")
        chunks.append(chunk)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def is_long_request_entry(request: Request) -> bool:
    """True when Lambda was invoked through its Function URL (the long-request entry), not API Gateway."""
    event = request.scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, dict) else None
    domain = context.get("domainName", "") if isinstance(context, dict) else ""
    return ".lambda-url." in str(domain)


async def completions_service(request: Request, gateway: GatewayDep) -> CompletionsService:
    """API Gateway cuts at 30 s, so its deadline is short; the Function URL, the streaming function and
    `routeway serve` get the long one."""
    return CompletionsService(gateway, long_entry=_long_entry(request))


def _long_entry(request: Request) -> bool:
    return bool(getattr(request.app.state, "long_requests", False)) or is_long_request_entry(request)


CompletionsDep = Annotated[CompletionsService, Depends(completions_service)]


Parsed = TypeVar("Parsed")


async def _dialect_request(
    request: Request, service: CompletionCore, key: ApiKeyRecord | None, parse: Callable[[Any], Parsed]
) -> Parsed:
    """A JSON body parsed by a dialect; a refusal is recorded under a generation id, as chat's are."""
    raw = await read_body(request)
    try:
        return parse(parse_json(raw))
    except GatewayError as exc:
        raise await service.refuse(exc, key) from None


async def chat_request(request: Request, service: CompletionsDep, key: KeyDep) -> ChatRequest:
    return await _dialect_request(request, service, key, parse_chat_request)


async def text_completion_request(request: Request, service: CompletionsDep, key: KeyDep) -> ChatRequest:
    return await _dialect_request(request, service, key, parse_text_completion)


async def images_request(request: Request, service: CompletionsDep, key: KeyDep) -> ImagesRequest:
    return await _dialect_request(request, service, key, parse_images)


async def embeddings_service(request: Request, gateway: GatewayDep) -> EmbeddingsService:
    return EmbeddingsService(gateway, long_entry=_long_entry(request))


EmbeddingsDep = Annotated[EmbeddingsService, Depends(embeddings_service)]


async def embeddings_request(request: Request, service: EmbeddingsDep, key: KeyDep) -> EmbeddingsRequest:
    return await _dialect_request(request, service, key, parse_embeddings)


async def messages_request(request: Request, service: CompletionsDep, key: KeyDep) -> ChatRequest:
    return await _dialect_request(request, service, key, parse_messages)


async def count_tokens_request(request: Request, _key: KeyDep) -> ChatRequest:
    """A Messages body to count, not to answer: nothing is called, charged or recorded."""
    return parse_count_tokens(parse_json(await read_body(request)))


async def preview_request(request: Request, _key: KeyDep) -> ChatRequest:
    return parse_chat(await read_body(request))


ChatRequestDep = Annotated[ChatRequest, Depends(chat_request)]
TextCompletionRequestDep = Annotated[ChatRequest, Depends(text_completion_request)]
PreviewRequestDep = Annotated[ChatRequest, Depends(preview_request)]
ImagesRequestDep = Annotated[ImagesRequest, Depends(images_request)]
EmbeddingsRequestDep = Annotated[EmbeddingsRequest, Depends(embeddings_request)]
MessagesRequestDep = Annotated[ChatRequest, Depends(messages_request)]
CountTokensRequestDep = Annotated[ChatRequest, Depends(count_tokens_request)]


async def responses_store(gateway: GatewayDep) -> ResponsesStore:
    return ResponsesStore(gateway)


ResponsesStoreDep = Annotated[ResponsesStore, Depends(responses_store)]


@dataclass(frozen=True)
class ResponsesCall:
    """A Responses request, its chat request, and the conversation to store (earlier turns + this input)."""

    request: ResponsesRequest
    chat: ChatRequest
    conversation: list[Any]


async def responses_call(
    request: Request, service: CompletionsDep, store: ResponsesStoreDep, key: KeyDep
) -> ResponsesCall:
    """Parsed after authentication; `previous_response_id` is loaded here (unknown or another key's → 404)."""
    raw = await read_body(request)
    try:
        parsed = parse_responses(parse_json(raw))
        history = await store.conversation(parsed.previous_response_id, key) if parsed.previous_response_id else []
        chat = to_chat_request(parsed, history)
    except GatewayError as exc:
        raise await service.refuse(exc, key) from None
    return ResponsesCall(parsed, chat, [*history, *parsed.items])


ResponsesCallDep = Annotated[ResponsesCall, Depends(responses_call)]
