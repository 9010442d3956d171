"""The edge of every completion request, without FastAPI: the app's gateway, the caller's key, the body.

Both faces use it: the completion handlers (`http/completion_routes.py`, served by `http/front.py`
without FastAPI's dependency solving) and FastAPI's dependencies (`http/deps.py`) for the other
routes. Authentication comes before the body is read, so a 401 comes before any body; a completion
body that cannot be parsed is still recorded under a generation id (`CompletionCore.refuse`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request

from routeway.after_response import written
from routeway.dialects.chat import parse_json
from routeway.domain.body_shape import costly
from routeway.domain.records import ApiKeyRecord
from routeway.domain.wire import ChatRequest
from routeway.errors import GatewayError, RequestTooLarge
from routeway.gateway import Gateway
from routeway.off_loop import cpu_bound
from routeway.request_log import note_key
from routeway.services.completion_core import CompletionCore
from routeway.services.keys import authenticate, presented_key
from routeway.settings import MAX_BODY_BYTES

if TYPE_CHECKING:  # the Responses dialect loads with its first request (http/completion_routes.py)
    from routeway.dialects.responses import ResponsesRequest
    from routeway.services.responses_store import ResponsesStore

Parsed = TypeVar("Parsed")


class Edge:
    """What one app's requests share: its gateway (built on the first request, not when the app is made,
    so a Lambda cold start stays cheap) and whether every request gets the long deadline."""

    def __init__(self, gateway_factory: Callable[[], Gateway], *, long_requests: bool = False) -> None:
        self._factory = gateway_factory
        self._gateway: Gateway | None = None
        self.long_requests = long_requests

    def gateway(self) -> Gateway:
        if self._gateway is None:
            self._gateway = self._factory()
        return self._gateway

    def long_entry(self, request: Request) -> bool:
        """API Gateway cuts at 30 s, so its deadline is short; the Function URL, the streaming function and
        `routeway serve` get the long one."""
        return self.long_requests or is_long_request_entry(request)

    async def key(self, request: Request, *, fresh: bool = False) -> ApiKeyRecord | None:
        """The caller's key record; None only when ROUTEWAY_AUTH=off (local serve). `fresh`: a known key is
        read from the store, never from the short-lived key cache (what reports spend must not be seconds old);
        an unknown one is still refused from the negative cache."""
        gateway = self.gateway()
        if gateway.settings.auth == "off":
            return None
        key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        if fresh:
            await written()  # the spend of answers already sent
        record = await authenticate(gateway.state, key, gateway.key_cache, gateway.clock.now(), fresh=fresh)
        note_key(record.name if record is not None else None)
        return record


def is_long_request_entry(request: Request) -> bool:
    """True when Lambda was invoked through its Function URL (the long-request entry), not API Gateway."""
    event = request.scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, dict) else None
    domain = context.get("domainName", "") if isinstance(context, dict) else ""
    return ".lambda-url." in str(domain)


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


async def parsed_body(raw: bytes, parse: Callable[[Any], Parsed]) -> Parsed:
    """`parse(parse_json(raw))`: the one way a request body is parsed. A costly body (over 1 MB, or many values)
    is parsed and checked off the event loop, so it never stalls the other requests (`/healthz` included)."""
    if not costly(raw):
        return parse(parse_json(raw))
    return await cpu_bound(lambda: parse(parse_json(raw)))


async def read_json(request: Request, parse: Callable[[Any], Parsed], limit: int = MAX_BODY_BYTES) -> Parsed:
    """The request body, read under `limit` and parsed by `parse` (`parsed_body`)."""
    return await parsed_body(await read_body(request, limit), parse)


async def dialect_request(
    request: Request, service: CompletionCore, key: ApiKeyRecord | None, parse: Callable[[Any], Parsed]
) -> Parsed:
    """A JSON body parsed by a dialect; a refusal is recorded under a generation id, as chat's are."""
    raw = await read_body(request)
    try:
        return await parsed_body(raw, parse)
    except GatewayError as exc:
        raise await service.refuse(exc, key) from None


@dataclass(frozen=True)
class ResponsesCall:
    """A Responses request, its chat request, the earlier turns' items, and their ids (what this turn stores)."""

    request: ResponsesRequest
    chat: ChatRequest
    history: list[Any]
    earlier: list[str]


async def responses_call(
    request: Request,
    service: CompletionCore,
    store: ResponsesStore,
    key: ApiKeyRecord | None,
    *,
    compact: bool = False,
) -> ResponsesCall:
    """Parsed after authentication; `previous_response_id` is loaded here (unknown or another key's → 404).
    `compact`: a /v1/responses/compact body, whose chat request asks for a summary."""
    from routeway.dialects.responses import parse_responses, to_chat_request

    if compact:
        from routeway.dialects.responses_compact import compact_chat as build
        from routeway.dialects.responses_compact import parse_compact as parse
    else:
        parse, build = parse_responses, to_chat_request
    raw = await read_body(request)
    try:
        parsed = await parsed_body(raw, parse)
        before = await store.conversation(parsed.previous_response_id, key) if parsed.previous_response_id else None
        history, earlier = (before.items, before.turns) if before is not None else ([], [])
        chat = await cpu_bound(lambda: build(parsed, history)) if costly(raw) else build(parsed, history)
    except GatewayError as exc:
        raise await service.refuse(exc, key) from None
    return ResponsesCall(parsed, chat, history, earlier)
