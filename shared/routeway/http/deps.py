"""Typed dependencies of the FastAPI routes: the gateway, the caller's key, and bodies parsed once.

They wrap `http/edge.py` (the same edge the completion handlers use without FastAPI), so both faces
authenticate and parse alike: the key before the body, so a 401 comes before any body is read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from routeway.dialects.messages import parse_count_tokens
from routeway.domain.records import ApiKeyRecord
from routeway.domain.wire import ChatRequest, parse_chat_request
from routeway.gateway import Gateway
from routeway.http.edge import Edge, read_json
from routeway.services.responses_store import ResponsesStore


def edge_of(request: Request) -> Edge:
    edge: Edge = request.app.state.edge
    return edge


async def get_gateway(request: Request) -> Gateway:
    return edge_of(request).gateway()


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def require_key(request: Request) -> ApiKeyRecord | None:
    """The caller's key record; None only when ROUTEWAY_AUTH=off (local serve)."""
    return await edge_of(request).key(request)


KeyDep = Annotated[ApiKeyRecord | None, Depends(require_key)]


async def require_fresh_key(request: Request) -> ApiKeyRecord | None:
    """The caller's key record as the store has it now (its spend), not as the key cache last read it."""
    return await edge_of(request).key(request, fresh=True)


FreshKeyDep = Annotated[ApiKeyRecord | None, Depends(require_fresh_key)]


async def count_tokens_request(request: Request, _key: KeyDep) -> ChatRequest:
    """A Messages body to count, not to answer: nothing is called, charged or recorded."""
    return await read_json(request, parse_count_tokens)


async def preview_request(request: Request, _key: KeyDep) -> ChatRequest:
    return await read_json(request, parse_chat_request)


PreviewRequestDep = Annotated[ChatRequest, Depends(preview_request)]
CountTokensRequestDep = Annotated[ChatRequest, Depends(count_tokens_request)]


async def responses_store(gateway: GatewayDep) -> ResponsesStore:
    return ResponsesStore(gateway)


ResponsesStoreDep = Annotated[ResponsesStore, Depends(responses_store)]
