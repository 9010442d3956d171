"""The completions function's media routes: image generations (through chat) and embeddings.

Each parses at the edge, calls the core and renders OpenAI's shape; the proof's `x-routeway-*`
headers go on every answer.
"""

from __future__ import annotations

import asyncio
from typing import cast

from fastapi import APIRouter
from starlette.responses import Response

from routeway.dialects.embeddings import render_embeddings
from routeway.dialects.images import ImagesRequest, image_urls, render_images
from routeway.domain.records import ApiKeyRecord
from routeway.errors import GatewayError, UpstreamError
from routeway.http.deps import CompletionsDep, EmbeddingsDep, EmbeddingsRequestDep, ImagesRequestDep, KeyDep
from routeway.http.openapi import openapi_body
from routeway.http.responses import JSONBody
from routeway.services.completions import CompletionsService
from routeway.services.results import Completion

router = APIRouter()


async def _generate(service: CompletionsService, request: ImagesRequest, key: ApiKeyRecord | None) -> list[Completion]:
    """`n` core calls at once, each routed, recorded and charged; the first error is the answer's."""
    calls = (service.chat(request.chat, key) for _ in range(request.n))
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [cast(Completion, outcome) for outcome in outcomes]  # never a stream: images do not stream


@router.post(
    "/v1/images/generations",
    openapi_extra=openapi_body("An OpenAI image generation request (model, prompt, n, size, response_format)."),
)
async def images_generations(body: ImagesRequestDep, service: CompletionsDep, key: KeyDep) -> Response:
    completions = await _generate(service, body, key)
    headers = completions[0].proof.headers()
    if len(completions) > 1:
        headers["x-routeway-generation-ids"] = ",".join(c.proof.generation_id for c in completions)
    if not any(image_urls(c) for c in completions):
        error: GatewayError = UpstreamError(f"{completions[0].proof.model} answered without an image.")
        error.headers.update(headers)
        raise error
    return JSONBody(render_images(body, completions, int(service.gw.clock.now())), headers=headers)


@router.post(
    "/v1/embeddings",
    openapi_extra=openapi_body("An OpenAI embeddings request plus `models`, `provider` and Routeway's routing goals."),
)
async def embeddings(body: EmbeddingsRequestDep, service: EmbeddingsDep, key: KeyDep) -> Response:
    result = await service.embed(body, key)
    return JSONBody(render_embeddings(body, result), headers=result.proof.headers())
