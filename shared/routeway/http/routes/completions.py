"""The completions function's chat and legacy completion routes, as FastAPI sees them.

`http/front.py` answers these POSTs before FastAPI routes them; the routes stay registered for the
OpenAPI document and call the same handlers (`http/completion_handlers.py`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from routeway.http import completion_handlers as handlers
from routeway.http.deps import edge_of
from routeway.http.openapi import openapi_body

router = APIRouter()


@router.post(
    "/v1/chat/completions",
    openapi_extra=openapi_body("An OpenAI chat request plus Routeway's routing goals."),
)
async def chat_completions(request: Request) -> Response:
    return await handlers.chat_completions(edge_of(request), request)


@router.post(
    "/v1/completions",
    openapi_extra=openapi_body("An OpenAI legacy completion request (one prompt), routed like a chat."),
)
async def completions(request: Request) -> Response:
    return await handlers.completions(edge_of(request), request)
