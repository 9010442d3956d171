"""POST /v1/chat/completions: plan, try the attempts in order, prove and record the route.

Fallback rules (PRODUCT.md, RELIABILITY.md 13-19):
- 429, 5xx, timeouts, unreachable upstreams and a 200 that is not a real completion move on;
- a 400 is never retried on the same target, but the next model of a `models` list may accept it;
  when every attempt was a 400, the first one goes back to the client as a 400;
- 401/402/403 mean the upstream key cannot use that backend: its other targets are skipped;
- a composite alias with `fallback_on: hard` moves to its next model only after a hard failure;
- the deadline (below API Gateway's 30 s) ends the request with the gateway's own 504.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from routeway.bootstrap import Gateway
from routeway.domain.catalog import Catalog
from routeway.domain.conform import conform_completion
from routeway.domain.estimate import cost_from_usage
from routeway.domain.plan import Candidate, Plan
from routeway.domain.records import ApiKeyRecord, GenerationRecord
from routeway.domain.wire import ChatRequest, parse_chat_request
from routeway.errors import GatewayError, InvalidRequest, StoreUnavailable, UpstreamError, UpstreamTimeout
from routeway.services.attempts import AttemptResult, build_payload, run_attempt
from routeway.services.keys import iso_now
from routeway.services.routing import plan_for

log = logging.getLogger("routeway.completions")
SECONDS_PER_DAY = 86_400
MIN_ATTEMPT_S = 1.0


@dataclass
class ServiceResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _with_cost(completion: dict[str, Any], candidate: Candidate) -> None:
    usage = completion.get("usage")
    if isinstance(usage, dict) and not isinstance(usage.get("cost"), int | float):
        row = candidate.row
        pricing = row.endpoint.pricing if row.endpoint else row.model.pricing
        cost = cost_from_usage(pricing, usage)
        if cost is not None:
            usage["cost"] = cost


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
                raise InvalidRequest("Streaming is not available on this gateway version yet.", param="stream")
            catalog = self.gw.catalog.current()
            plan, _, _ = plan_for(self.gw, catalog, request, key)
            route.update(
                requested_model=request.model,
                mode=plan.mode,
                alias=plan.alias,
                objective=plan.objective,
                catalog_version=catalog.version,
            )
            if plan.fan_out:
                response = await self._fan_out(plan, request, route, started)
            else:
                response = await self._fallbacks(plan, request, route, started)
            response.headers["x-routeway-generation-id"] = generation_id
            self._record(generation_id, key, requested, catalog, route, response, started)
            return response
        except GatewayError as exc:
            exc.headers["x-routeway-generation-id"] = generation_id
            if catalog is not None:
                exc.headers["x-routeway-catalog-version"] = catalog.version
            self._record(generation_id, key, requested, catalog, route, exc, started)
            raise

    def _remaining(self, started: float) -> float:
        return self.gw.settings.deadline_s - (self.gw.clock.monotonic() - started)

    async def _fallbacks(
        self, plan: Plan, request: ChatRequest, route: dict[str, Any], started: float
    ) -> ServiceResponse:
        results: list[AttemptResult] = []
        skipped_backends: set[str] = set()
        previous: AttemptResult | None = None
        for candidate in plan.attempts:
            row = candidate.row
            if row.backend in skipped_backends:
                continue
            if previous is not None and not self._may_move_on(plan, previous, candidate):
                break
            remaining = self._remaining(started)
            if remaining < MIN_ATTEMPT_S:
                route["attempts"] = [r.record for r in results]
                raise UpstreamTimeout(
                    f"The request's {self.gw.settings.deadline_s:.0f} s deadline passed before an upstream answered.",
                    attempts=route["attempts"],
                )
            payload = build_payload(candidate, request.body, plan.provider_prefs)
            result = await run_attempt(self.gw, candidate, payload, remaining)
            results.append(result)
            route["attempts"] = [r.record for r in results]
            if result.ok:
                return self._success(result, route)
            if result.status in (401, 402, 403):
                skipped_backends.add(row.backend)
            previous = result
        return self._failure(results, route, started)

    @staticmethod
    def _may_move_on(plan: Plan, previous: AttemptResult, nxt: Candidate) -> bool:
        same_model = previous.candidate.row.model.id == nxt.row.model.id
        if previous.status == 400:
            return not same_model  # another model may accept what this one refused
        if plan.alias_fallback_on == "hard" and not same_model:
            return previous.hard_failure
        return True

    def _success(self, result: AttemptResult, route: dict[str, Any]) -> ServiceResponse:
        candidate = result.candidate
        completion = conform_completion(
            result.completion or {}, fallback_id=route["generation_id"], now=int(self.gw.clock.now())
        )
        if not isinstance(completion.get("model"), str):
            completion["model"] = candidate.row.model.id
        _with_cost(completion, candidate)
        answered_by = completion.get("provider") if isinstance(completion.get("provider"), str) else None
        provider = answered_by or candidate.row.provider_name
        route.update(
            model=candidate.row.model.id,
            provider=provider,
            provider_slug=candidate.row.provider_slug,
            backend=candidate.row.backend,
            reason=candidate.scored.reasons,
        )
        completion["route"] = route
        return ServiceResponse(200, completion, self._headers(route))

    def _headers(self, route: dict[str, Any]) -> dict[str, str]:
        headers = {
            "x-routeway-model": str(route.get("model")),
            "x-routeway-backend": str(route.get("backend")),
            "x-routeway-attempts": str(len(route["attempts"])),
            "x-routeway-catalog-version": str(route.get("catalog_version")),
        }
        if route.get("provider"):
            headers["x-routeway-provider"] = str(route["provider"])
        return headers

    def _failure(self, results: list[AttemptResult], route: dict[str, Any], started: float) -> ServiceResponse:
        attempts = route["attempts"]
        if results and all(r.status == 400 for r in results):
            first = results[0].outcome
            raise InvalidRequest(
                f"Upstream rejected the request: {first.message if first else 'bad request'}", attempts=attempts
            )
        if results and results[-1].error_code == "timeout" and self._remaining(started) < MIN_ATTEMPT_S:
            raise UpstreamTimeout("The deadline passed while waiting for the upstream.", attempts=attempts)
        raise UpstreamError(f"Every attempt failed upstream ({len(attempts)} tried).", attempts=attempts)

    async def _fan_out(
        self, plan: Plan, request: ChatRequest, route: dict[str, Any], started: float
    ) -> ServiceResponse:
        """`bodybuilder`: the same request to several models at once; one choice per model that answered."""
        remaining = self._remaining(started)
        prefs = plan.provider_prefs
        results = await asyncio.gather(
            *(run_attempt(self.gw, c, build_payload(c, request.body, prefs), remaining) for c in plan.attempts)
        )
        route["attempts"] = [r.record for r in results]
        winners = [r for r in results if r.completion is not None]
        if not winners:
            return self._failure(list(results), route, started)
        choices: list[dict[str, Any]] = []
        usage: dict[str, float] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": 0.0}
        for result in winners:
            completion = conform_completion(
                result.completion or {},
                fallback_id=route["generation_id"],
                now=int(self.gw.clock.now()),
            )
            _with_cost(completion, result.candidate)
            for choice in completion["choices"]:
                choices.append({**choice, "index": len(choices), "model": result.candidate.row.model.id})
            for field_name in usage:
                value = (completion.get("usage") or {}).get(field_name)
                if isinstance(value, int | float):
                    usage[field_name] += value
        route.update(
            model=",".join(r.candidate.row.model.id for r in winners),
            backend="openrouter",
            provider=",".join(r.candidate.row.provider_name for r in winners),
        )
        body = {
            "id": route["generation_id"],
            "object": "chat.completion",
            "created": int(self.gw.clock.now()),
            "model": "bodybuilder",
            "choices": choices,
            "usage": usage,
            "route": route,
        }
        return ServiceResponse(200, body, self._headers(route))

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
        route["latency_ms"] = round((self.gw.clock.monotonic() - started) * 1000, 1)
        usage = result.body.get("usage") if isinstance(result, ServiceResponse) else None
        record = GenerationRecord(
            id=generation_id,
            created_at=iso_now(self.gw.clock),
            expires_at=int(self.gw.clock.now()) + self.gw.settings.generation_ttl_days * SECONDS_PER_DAY,
            key_name=key.name if key else None,
            requested_model=requested[:300] if requested else None,
            status="success" if isinstance(result, ServiceResponse) else "error",
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
