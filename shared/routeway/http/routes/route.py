"""The route_preview function's routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from routeway.http.deps import GatewayDep, KeyDep, PreviewRequestDep
from routeway.http.openapi import openapi_body
from routeway.services.explain import explain
from routeway.services.preview import preview

router = APIRouter()


@router.post("/v1/route/preview", openapi_extra=openapi_body("The same body as a chat request; no model is called."))
async def route_preview(body: PreviewRequestDep, gateway: GatewayDep, key: KeyDep) -> dict[str, Any]:
    return await preview(gateway, body, key)


@router.get("/v1/route/explain/{generation_id}")
async def explain_generation(generation_id: str, gateway: GatewayDep, key: KeyDep) -> dict[str, Any]:
    return await explain(gateway, generation_id, reader=key)  # another key's record: 404, as if missing
