"""The route_preview function's routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from routeway.http.app import openapi_body
from routeway.http.deps import GatewayDep, KeyDep, read_body
from routeway.services.explain import explain
from routeway.services.preview import PreviewService

router = APIRouter()


@router.post("/v1/route/preview", openapi_extra=openapi_body("The same body as a chat request; no model is called."))
async def preview(request: Request, gateway: GatewayDep, key: KeyDep) -> dict[str, Any]:
    raw = await read_body(request)
    return PreviewService(gateway).preview(raw, key)


@router.get("/v1/route/explain/{generation_id}")
async def explain_generation(generation_id: str, gateway: GatewayDep, _key: KeyDep) -> dict[str, Any]:
    return explain(gateway, generation_id)
