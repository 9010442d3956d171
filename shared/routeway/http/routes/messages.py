"""Anthropic's Messages API on the completions function: `POST /v1/messages` and its `count_tokens`.

The body is parsed at the edge (`http/edge.py`, `dialects/messages.py`), the core answers as for chat,
and `dialects/messages_render.py` renders the message, the event stream, and (through
`http.responses.error_response`, keyed on the path) every error in Anthropic's shape. Anthropic clients
send `x-api-key`, `anthropic-version` and `anthropic-beta`: the key is accepted like a Bearer key, the
version headers are accepted and never required. `POST /v1/messages` itself is answered by
`http/front.py` before FastAPI routes it (the route here keeps it in the OpenAPI document).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from routeway.domain.requirements import derive_requirements
from routeway.http import completion_handlers as handlers
from routeway.http.deps import CountTokensRequestDep, edge_of
from routeway.http.openapi import openapi_body
from routeway.http.responses import JSONBody

router = APIRouter()


@router.post(
    "/v1/messages",
    openapi_extra=openapi_body("An Anthropic Messages request plus Routeway's routing goals."),
)
async def messages(request: Request) -> Response:
    return await handlers.messages(edge_of(request), request)


@router.post(
    "/v1/messages/count_tokens",
    openapi_extra=openapi_body("An Anthropic Messages request whose prompt tokens are estimated."),
)
async def count_tokens(body: CountTokensRequestDep) -> Response:
    """The estimate routing uses for this prompt: no upstream call, no charge, no record."""
    needs = derive_requirements(body.body, body.messages, body.max_tokens)
    return JSONBody({"input_tokens": needs.prompt_tokens})
