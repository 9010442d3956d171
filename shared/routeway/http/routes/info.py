"""The info function's routes: catalog, aliases, backends, health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from routeway.errors import NotFound
from routeway.http.deps import FreshKeyDep, GatewayDep, KeyDep
from routeway.services.info import InfoService
from routeway.services.keys import describe_key, key_globs

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    """Liveness only: no key, no store, no catalog."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(gateway: GatewayDep, _key: KeyDep) -> dict[str, Any]:
    return await InfoService(gateway).readiness_with_probes(await gateway.catalog.current())


@router.get("/v1/info")
async def info(gateway: GatewayDep, _key: KeyDep) -> dict[str, Any]:
    return InfoService(gateway).info(await gateway.catalog.current())


@router.get("/v1/key")
async def key_info(gateway: GatewayDep, key: FreshKeyDep) -> dict[str, Any]:
    """The caller's key: name, display prefix, spend, budget, rate limit, model list."""
    if key is None:
        raise NotFound("Authentication is off (ROUTEWAY_AUTH=off): there is no key to describe.")
    return await describe_key(gateway.state, key, gateway.clock.now())


@router.get("/v1/models")
async def list_models(
    gateway: GatewayDep,
    key: KeyDep,
    input_modalities: str | None = None,
    output_modalities: str | None = None,
    match: str = "any",
    free: bool = False,
    provider: str | None = None,
) -> dict[str, Any]:
    return InfoService(gateway).list_models(
        await gateway.catalog.current(),
        input_modalities=input_modalities,
        output_modalities=output_modalities,
        match=match,
        free=free,
        provider=provider,
        allowed=key_globs(key),
    )


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, gateway: GatewayDep, _key: KeyDep) -> dict[str, Any]:
    return InfoService(gateway).get_model(await gateway.catalog.current(), model_id)
