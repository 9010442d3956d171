"""The completions function's media routes: image generations (through chat) and embeddings.

`http/front.py` answers both POSTs before FastAPI routes them; the routes stay registered for the
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
    "/v1/images/generations",
    openapi_extra=openapi_body("An OpenAI image generation request (model, prompt, n, size, response_format)."),
)
async def images_generations(request: Request) -> Response:
    return await handlers.images_generations(edge_of(request), request)


@router.post(
    "/v1/embeddings",
    openapi_extra=openapi_body("An OpenAI embeddings request plus `models`, `provider` and Routeway's routing goals."),
)
async def embeddings(request: Request) -> Response:
    return await handlers.embeddings(edge_of(request), request)
