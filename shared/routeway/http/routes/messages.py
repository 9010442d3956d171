"""Anthropic's Messages API on the completions function: `count_tokens` (its `POST /v1/messages` is a completion
route, `http/completion_routes.py`, served by `http/front.py`).

The body is parsed at the edge (`http/edge.py`, `dialects/messages.py`), and every error on these routes is
rendered in Anthropic's shape (`dialects/messages_render.py`, the Messages route's renderer, which
`http.completion_routes.render_error` uses for the paths under it). Anthropic clients send `x-api-key`,
`anthropic-version` and `anthropic-beta`: the key is accepted like a Bearer key, the version headers are
accepted and never required.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from routeway.domain.content import many_parts
from routeway.domain.requirements import derive_requirements
from routeway.http.deps import CountTokensRequestDep
from routeway.http.openapi import openapi_body
from routeway.http.responses import JSONBody
from routeway.off_loop import cpu_bound_if

router = APIRouter()


@router.post(
    "/v1/messages/count_tokens",
    openapi_extra=openapi_body("An Anthropic Messages request whose prompt tokens are estimated."),
)
async def count_tokens(body: CountTokensRequestDep) -> Response:
    """The estimate routing uses for this prompt: no upstream call, no charge, no record."""
    heavy = many_parts(body.messages)  # a huge conversation is counted in a thread
    needs = await cpu_bound_if(heavy, derive_requirements, body.body, body.messages, body.max_tokens)
    return JSONBody({"input_tokens": needs.prompt_tokens})
