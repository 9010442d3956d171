"""POST /v1/chat/completions: resolve the model, shape, call the upstream, prove and record the route.

This is the thin first slice: one target, one attempt. The plan of attempts, fallbacks and
streaming build on the same steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from routeway.bootstrap import Gateway
from routeway.config import available_backends
from routeway.domain.catalog import Catalog, Endpoint, Model
from routeway.domain.conform import conform_completion
from routeway.domain.estimate import cost_from_usage
from routeway.domain.outcome import classify_response
from routeway.domain.records import ApiKeyRecord, GenerationRecord
from routeway.domain.resolve import Target, resolve_target
from routeway.domain.wire import parse_chat_request, upstream_payload
from routeway.errors import (
    GatewayError,
    InvalidRequest,
    StoreUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from routeway.ports import UpstreamTimedOut, UpstreamUnreachable
from routeway.services.keys import iso_now

log = logging.getLogger("routeway.completions")
SECONDS_PER_DAY = 86_400


@dataclass
class ServiceResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _endpoint_for(model: Model, provider_name: str | None) -> Endpoint | None:
    if not provider_name:
        return None
    wanted = provider_name.lower()
    return next((e for e in model.endpoints if e.provider_name.lower() == wanted), None)


class CompletionsService:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def chat(self, raw_body: bytes, key: ApiKeyRecord | None) -> ServiceResponse:
        generation_id = self.gw.new_id()
        started = self.gw.clock.monotonic()
        route: dict[str, Any] = {"generation_id": generation_id, "attempts": []}
        catalog: Catalog | None = None
        requested: str | None = None
        try:
            try:
                body = orjson.loads(raw_body)
            except orjson.JSONDecodeError:
                raise InvalidRequest("The request body is not valid JSON.") from None
            request = parse_chat_request(body)
            requested = request.model
            if request.stream:
                raise InvalidRequest(
                    "Streaming is not available on this gateway version yet; send stream=false.", param="stream"
                )
            catalog = self.gw.catalog.current()
            target = resolve_target(catalog, request.model, available_backends(catalog.snapshot.backends, self.gw.env))
            route.update(
                requested_model=request.model,
                alias=target.alias.alias if target.alias else None,
                mode="alias" if target.alias else "fixed",
                objective=request.objective,
                catalog_version=catalog.version,
                reason=f"alias {target.alias.alias!r} → first available target"
                if target.alias
                else "fixed model requested",
            )
            response = await self._attempt(target, upstream_payload(request.body, target.upstream_model), route)
            response.headers["x-routeway-generation-id"] = generation_id
            self._record(generation_id, key, requested, catalog, route, response, started)
            return response
        except GatewayError as exc:
            exc.headers["x-routeway-generation-id"] = generation_id
            if catalog is not None:
                exc.headers["x-routeway-catalog-version"] = catalog.version
            self._record(generation_id, key, requested, catalog, route, exc, started)
            raise

    async def _attempt(self, target: Target, payload: dict[str, Any], route: dict[str, Any]) -> ServiceResponse:
        upstream = self.gw.upstream(target.backend)
        attempt: dict[str, Any] = {"model": target.model.id, "provider": None, "backend": target.backend.name}
        route["attempts"].append(attempt)
        try:
            answer = await upstream.chat(payload, timeout_s=self.gw.settings.deadline_s)
        except UpstreamTimedOut:
            attempt.update(status=None, error_code="timeout")
            raise UpstreamTimeout(
                f"The upstream did not answer within {self.gw.settings.deadline_s:.0f} s.", attempts=route["attempts"]
            ) from None
        except UpstreamUnreachable as exc:
            attempt.update(status=None, error_code="unreachable")
            log.warning(
                "upstream unreachable",
                extra={"model": target.model.id, "backend": target.backend.name, "error": str(exc)},
            )
            raise UpstreamError("The upstream could not be reached.", attempts=route["attempts"]) from None
        outcome = classify_response(answer.status, answer.body)
        attempt.update(status=answer.status, latency_ms=round(answer.latency_ms, 1), error_code=outcome.error_code)
        if outcome.kind != "success" or outcome.completion is None:
            log.warning(
                "upstream error",
                extra={
                    "status": answer.status,
                    "model": target.model.id,
                    "backend": target.backend.name,
                    "upstream_error": outcome.message,
                },
            )
            if outcome.kind == "client_error":
                raise InvalidRequest(f"Upstream rejected the request: {outcome.message}")
            raise UpstreamError(f"Every attempt failed upstream: {outcome.message}", attempts=route["attempts"])
        completion = conform_completion(
            outcome.completion, fallback_id=route["generation_id"], now=int(self.gw.clock.now())
        )
        completion["model"] = completion.get("model") if isinstance(completion.get("model"), str) else target.model.id
        provider = completion.get("provider") if isinstance(completion.get("provider"), str) else None
        attempt.update(provider=provider)
        usage = completion.get("usage")
        if isinstance(usage, dict) and not isinstance(usage.get("cost"), int | float):
            endpoint = _endpoint_for(target.model, provider)
            cost = cost_from_usage(endpoint.pricing if endpoint else target.model.pricing, usage)
            if cost is not None:
                usage["cost"] = cost
        route.update(model=target.model.id, provider=provider, backend=target.backend.name)
        completion["route"] = route
        headers = {
            "x-routeway-model": target.model.id,
            "x-routeway-backend": target.backend.name,
            "x-routeway-attempts": str(len(route["attempts"])),
            "x-routeway-catalog-version": route["catalog_version"],
        }
        if provider:
            headers["x-routeway-provider"] = provider
        return ServiceResponse(200, completion, headers)

    def _record(
        self,
        generation_id: str,
        key: ApiKeyRecord | None,
        requested: str | None,
        catalog: Catalog | None,
        route: dict[str, Any],
        result: ServiceResponse | GatewayError,
        started: float,
    ) -> None:
        """Write the generation record. A failed write is logged and never retried through upstream."""
        now = self.gw.clock.now()
        route["latency_ms"] = round((self.gw.clock.monotonic() - started) * 1000, 1)
        ok = isinstance(result, ServiceResponse)
        usage = result.body.get("usage") if isinstance(result, ServiceResponse) else None
        record = GenerationRecord(
            id=generation_id,
            created_at=iso_now(self.gw.clock),
            expires_at=int(now) + self.gw.settings.generation_ttl_days * SECONDS_PER_DAY,
            key_name=key.name if key else None,
            requested_model=requested[:300] if requested else None,
            status="success" if ok else "error",
            http_status=result.status,
            error_code=None if isinstance(result, ServiceResponse) else result.code,
            catalog_version=catalog.version if catalog else None,
            route=route,
            usage=usage if isinstance(usage, dict) else None,
            cost_usd=usage.get("cost") if isinstance(usage, dict) else None,
        )
        try:
            self.gw.state.put_generation(record)
        except StoreUnavailable as exc:
            log.error("generation record not written", extra={"generation_id": generation_id, "error": exc.message})
