"""The completions function's routes."""

from __future__ import annotations

from fastapi import APIRouter, Request

from routeway.http.app import openapi_body
from routeway.http.deps import GatewayDep, KeyDep, read_body
from routeway.http.responses import JSONBody
from routeway.services.completions import CompletionsService

router = APIRouter()


@router.post(
    "/v1/chat/completions",
    openapi_extra=openapi_body("An OpenAI chat request plus Routeway's routing goals."),
)
async def chat_completions(request: Request, gateway: GatewayDep, key: KeyDep) -> JSONBody:
    raw = await read_body(request)
    result = await CompletionsService(gateway).chat(raw, key)
    return JSONBody(result.body, status_code=result.status, headers=result.headers)
