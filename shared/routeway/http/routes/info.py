"""The info function's routes: catalog, aliases, backends, health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header

from routeway.errors import NotFound
from routeway.http.deps import FreshKeyDep, GatewayDep, KeyDep
from routeway.services.info import AnthropicPaging, InfoService
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
    limit: str | None = None,
    after_id: str | None = None,
    before_id: str | None = None,
    anthropic_version: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """OpenAI's list; with `anthropic-version` (Anthropic's SDKs), Anthropic's paged list of the same models."""
    service = InfoService(gateway)
    listed = service.list_models(
        await gateway.catalog.current(),
        input_modalities=input_modalities,
        output_modalities=output_modalities,
        match=match,
        free=free,
        provider=provider,
        allowed=key_globs(key),
    )
    if anthropic_version is None:
        return listed
    return service.anthropic_models(listed, AnthropicPaging(limit, after_id, before_id))


@router.get("/v1/models/{model_id:path}")
async def get_model(
    model_id: str, gateway: GatewayDep, _key: KeyDep, anthropic_version: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    catalog = await gateway.catalog.current()
    return InfoService(gateway).get_model(catalog, model_id, anthropic=anthropic_version is not None)
