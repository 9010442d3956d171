"""Typed dependencies: the gateway and the caller's key. Tests override these instead of patching."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from routeway.bootstrap import Gateway
from routeway.domain.records import ApiKeyRecord
from routeway.errors import RequestTooLarge
from routeway.services.keys import authenticate, presented_key
from routeway.settings import MAX_BODY_BYTES


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None:
        gateway = request.app.state.gateway_factory()
        request.app.state.gateway = gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def require_key(request: Request, gateway: GatewayDep) -> ApiKeyRecord | None:
    """The caller's key record; None only when ROUTEWAY_AUTH=off (local serve)."""
    if gateway.settings.auth == "off":
        return None
    key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    return authenticate(gateway.state, key)


KeyDep = Annotated[ApiKeyRecord | None, Depends(require_key)]


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 as soon as it passes the limit (before Lambda's 6 MB)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"The request body is over the {limit // (1024 * 1024)} MB limit.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"The request body is over the {limit // (1024 * 1024)} MB limit.")
        chunks.append(chunk)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def is_long_request_entry(request: Request) -> bool:
    """True when Lambda was invoked through its Function URL (the long-request entry), not API Gateway."""
    event = request.scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, dict) else None
    domain = context.get("domainName", "") if isinstance(context, dict) else ""
    return ".lambda-url." in str(domain)
