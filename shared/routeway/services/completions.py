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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from routeway.bootstrap import Gateway
from routeway.domain.catalog import Catalog
from routeway.domain.conform import conform_completion
from routeway.domain.estimate import cost_from_usage
from routeway.domain.plan import FAN_OUT_MODE, FREE_MODE, ROUTER_MODES, Candidate, Plan
from routeway.domain.records import ApiKeyRecord, GenerationRecord
from routeway.domain.shaping import check_image_data, image_urls, refuse_remote_images
from routeway.domain.wire import ChatRequest, parse_chat_request
from routeway.errors import GatewayError, InvalidRequest, StoreUnavailable, UpstreamError, UpstreamTimeout
from routeway.services.attempts import AttemptResult, run_attempt
from routeway.services.keys import admit, iso_now
from routeway.services.routing import plan_for
from routeway.services.streaming import OpenStream, open_attempt, relay

log = logging.getLogger("routeway.completions")
SECONDS_PER_DAY = 86_400
MIN_ATTEMPT_S = 1.0


@dataclass
class ServiceResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ServiceStream:
    """A streamed answer: headers are final when it is returned; the body is SSE bytes."""

    headers: dict[str, str]
    body: AsyncIterator[bytes]
    status: int = 200


def _with_cost(completion: dict[str, Any], candidate: Candidate) -> None:
    """`usage.cost` as the upstream reported it, else from catalog prices: tokens, request fee, images."""
    usage = completion.get("usage")
    if isinstance(usage, dict) and not isinstance(usage.get("cost"), int | float):
        row = candidate.row
        pricing = row.endpoint.pricing if row.endpoint else row.model.pricing
        cost = cost_from_usage(pricing, usage)
        if cost is not None:
            images = sum(
                len((choice.get("message") or {}).get("images") or [])
                for choice in completion.get("choices") or []
                if isinstance(choice, dict)
            )
            usage["cost"] = cost + row.image_price * images


class CompletionsService:
    def __init__(self, gateway: Gateway, *, long_entry: bool = False) -> None:
        self.gw = gateway
        self.long_entry = long_entry
        self.deadline_s = gateway.settings.long_deadline_s if long_entry else gateway.settings.deadline_s

    async def chat(self, raw_body: bytes, key: ApiKeyRecord | None) -> ServiceResponse | ServiceStream:
        generation_id = self.gw.new_id()
        started = self.gw.clock.monotonic()
        route: dict[str, Any] = {"generation_id": generation_id, "attempts": []}
        context = _Context(generation_id, key, started, route)
        try:
            try:
                body = orjson.loads(raw_body)
            except orjson.JSONDecodeError:
                raise InvalidRequest("The request body is not valid JSON.") from None
            request = parse_chat_request(body)
            context.requested = request.model
            remote_images = check_image_data(image_urls(request.messages))
            catalog = self.gw.catalog.current()
            context.catalog = catalog
            admit(self.gw.state, self.gw.clock, key, fixed_models(catalog, request))
            plan, _, _ = plan_for(self.gw, catalog, request, key)
            accepts = all(c.alias is not None and c.alias.constraints.accepts_image_url for c in plan.attempts)
            refuse_remote_images(remote_images, accepts)
            route.update(
                requested_model=request.model,
                mode=plan.mode,
                alias=plan.alias,
                objective=plan.objective,
                task=plan.task,
                catalog_version=catalog.version,
            )
            if request.stream and plan.fan_out:
                raise InvalidRequest("bodybuilder fans out to several models and does not stream.", param="stream")
            if request.stream:
                return await self._stream(plan, request, context)
            if plan.fan_out:
                response = await self._fan_out(plan, request, route, started)
            else:
                winner = await self._in_order(plan, route, started, self._plain_attempt(plan, request))
                response = self._success(cast(AttemptResult, winner), route)
            response.headers["x-routeway-generation-id"] = generation_id
            usage = response.body.get("usage")
            self._record(context, ok=True, http_status=200, error_code=None, usage=usage)
            self._charge(key, usage)
            return response
        except GatewayError as exc:
            exc.headers["x-routeway-generation-id"] = generation_id
            if context.catalog is not None:
                exc.headers["x-routeway-catalog-version"] = context.catalog.version
            self._record(context, ok=False, http_status=exc.status, error_code=exc.code, usage=None)
            raise

    def _remaining(self, started: float) -> float:
        return self.deadline_s - (self.gw.clock.monotonic() - started)

    def _timeout(self, plan: Plan, message: str, attempts: list[dict[str, Any]]) -> UpstreamTimeout:
        """The gateway's own 504; on the short entry, a slow alias is told to use the long-request URL."""
        typical = max((c.alias.constraints.typical_response_seconds or 0 for c in plan.attempts if c.alias), default=0)
        if not self.long_entry and typical > self.deadline_s:
            message += (
                f" This alias typically takes {typical:.0f} s, more than API Gateway's 30 s: send it to the "
                "long-request URL (the stack's LongRequestUrl output), which allows "
                f"{self.gw.settings.long_deadline_s:.0f} s."
            )
            return UpstreamTimeout(message, attempts=attempts, hint="use_long_request_url")
        return UpstreamTimeout(message, attempts=attempts)

    def _plain_attempt(self, plan: Plan, request: ChatRequest) -> Callable[[Candidate, float], Awaitable[Any]]:
        async def attempt(candidate: Candidate, remaining: float) -> AttemptResult:
            return await run_attempt(self.gw, candidate, request.body, plan.provider_prefs, remaining)

        return attempt

    async def _in_order(
        self,
        plan: Plan,
        route: dict[str, Any],
        started: float,
        attempt: Callable[[Candidate, float], Awaitable[AttemptResult | OpenStream]],
    ) -> AttemptResult | OpenStream:
        """Try the plan's attempts in order under the fallback rules; return the first that worked."""
        results: list[AttemptResult] = []
        skipped_backends: set[str] = set()
        for candidate in plan.attempts:
            if candidate.row.backend in skipped_backends:
                continue
            if results and not self._may_move_on(plan, results[-1], candidate):
                break
            remaining = self._remaining(started)
            if remaining < MIN_ATTEMPT_S:
                raise self._timeout(
                    plan,
                    f"The request's {self.deadline_s:.0f} s deadline passed before an upstream answered.",
                    route["attempts"],
                )
            outcome = await attempt(candidate, remaining)
            result = outcome.result if isinstance(outcome, OpenStream) else outcome
            results.append(result)
            route["attempts"] = [r.record for r in results]
            if isinstance(outcome, OpenStream) or result.ok:
                return outcome
            if result.status in (401, 402, 403):
                skipped_backends.add(candidate.row.backend)
        raise self._failure(plan, results, route, started)

    @staticmethod
    def _may_move_on(plan: Plan, previous: AttemptResult, nxt: Candidate) -> bool:
        same_model = previous.candidate.row.model.id == nxt.row.model.id
        if previous.status == 400:
            return not same_model  # another model may accept what this one refused
        if plan.alias_fallback_on == "hard" and not same_model:
            return previous.hard_failure
        return True

    def _prove(self, result: AttemptResult, route: dict[str, Any], answered_by: Any) -> dict[str, str]:
        candidate = result.candidate
        provider = answered_by if isinstance(answered_by, str) else candidate.row.provider_name
        route.update(
            model=candidate.row.model.id,
            provider=provider,
            provider_slug=candidate.row.provider_slug,
            backend=candidate.row.backend,
            applied=result.applied,
            reason=candidate.scored.reasons,
        )
        return self._headers(route)

    def _success(self, result: AttemptResult, route: dict[str, Any]) -> ServiceResponse:
        completion = conform_completion(
            result.completion or {}, fallback_id=route["generation_id"], now=int(self.gw.clock.now())
        )
        if not isinstance(completion.get("model"), str):
            completion["model"] = result.candidate.row.model.id
        _with_cost(completion, result.candidate)
        headers = self._prove(result, route, completion.get("provider"))
        completion["route"] = route
        return ServiceResponse(200, completion, headers)

    async def _stream(self, plan: Plan, request: ChatRequest, context: _Context) -> ServiceStream:
        route = context.route

        async def attempt(candidate: Candidate, remaining: float) -> AttemptResult | OpenStream:
            return await open_attempt(self.gw, candidate, request.body, plan.provider_prefs, remaining)

        opened = cast(OpenStream, await self._in_order(plan, route, context.started, attempt))
        headers = self._prove(opened.result, route, opened.first.get("provider"))
        headers["x-routeway-generation-id"] = context.generation_id

        def finish(ok: bool, usage: dict[str, Any] | None, error_code: str | None) -> None:
            route["attempts"][-1]["stream_error"] = error_code
            self._record(context, ok=ok, http_status=200, error_code=error_code, usage=usage)
            self._charge(context.key, usage)

        def cost_of(usage: dict[str, Any]) -> None:
            _with_cost({"usage": usage}, opened.result.candidate)

        return ServiceStream(headers, relay(opened, route, finish, cost_of, self.gw.settings.keepalive_s))

    def _headers(self, route: dict[str, Any]) -> dict[str, str]:
        headers = {
            "x-routeway-model": str(route.get("model")),
            "x-routeway-backend": str(route.get("backend")),
            "x-routeway-attempts": str(len(route["attempts"])),
            "x-routeway-catalog-version": str(route.get("catalog_version")),
        }
        if route.get("provider"):
            headers["x-routeway-provider"] = str(route["provider"])
        if route.get("applied"):
            headers["x-routeway-applied"] = ",".join(route["applied"])
        return headers

    def _failure(self, plan: Plan, results: list[AttemptResult], route: dict[str, Any], started: float) -> GatewayError:
        attempts = route["attempts"]
        if results and all(r.status == 400 for r in results):
            first = results[0].outcome
            message = first.message if first else "bad request"
            return InvalidRequest(f"Upstream rejected the request: {message}", attempts=attempts)
        if results and results[-1].error_code == "timeout" and self._remaining(started) < MIN_ATTEMPT_S:
            return self._timeout(plan, "The deadline passed while waiting for the upstream.", attempts)
        return UpstreamError(f"Every attempt failed upstream ({len(attempts)} tried).", attempts=attempts)

    async def _fan_out(
        self, plan: Plan, request: ChatRequest, route: dict[str, Any], started: float
    ) -> ServiceResponse:
        """`bodybuilder`: the same request to several models at once; one choice per model that answered."""
        remaining = self._remaining(started)
        attempt = self._plain_attempt(plan, request)
        results: list[AttemptResult] = list(await asyncio.gather(*(attempt(c, remaining) for c in plan.attempts)))
        route["attempts"] = [r.record for r in results]
        winners = [r for r in results if r.completion is not None]
        if not winners:
            raise self._failure(plan, results, route, started)
        choices: list[dict[str, Any]] = []
        usage: dict[str, float] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": 0.0}
        for result in winners:
            completion = conform_completion(
                result.completion or {}, fallback_id=route["generation_id"], now=int(self.gw.clock.now())
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

    def _charge(self, key: ApiKeyRecord | None, usage: Any) -> None:
        """Add the request's cost to the key's spend; a failed write is logged, never retried upstream."""
        cost = usage.get("cost") if isinstance(usage, dict) else None
        if key is None or not isinstance(cost, int | float) or cost <= 0:
            return
        try:
            self.gw.state.add_spend(key.key_hash, float(cost))
        except StoreUnavailable as exc:
            log.error("key spend not recorded", extra={"key_name": key.name, "error": exc.message})

    def _record(self, context: _Context, *, ok: bool, http_status: int, error_code: str | None, usage: Any) -> None:
        """Write the generation record. A failed write is logged and never retried through upstream."""
        route = context.route
        route["latency_ms"] = round((self.gw.clock.monotonic() - context.started) * 1000, 1)
        usage = usage if isinstance(usage, dict) else None
        record = GenerationRecord(
            id=context.generation_id,
            created_at=iso_now(self.gw.clock),
            expires_at=int(self.gw.clock.now()) + self.gw.settings.generation_ttl_days * SECONDS_PER_DAY,
            key_name=context.key.name if context.key else None,
            requested_model=context.requested[:300] if context.requested else None,
            status="success" if ok else "error",
            http_status=http_status,
            error_code=error_code,
            catalog_version=context.catalog.version if context.catalog else None,
            route=route,
            usage=usage,
            cost_usd=usage.get("cost") if usage else None,
        )
        self.gw.telemetry.completion(
            latency_ms=route["latency_ms"],
            attempts=len(route["attempts"]),
            cost_usd=record.cost_usd if isinstance(record.cost_usd, int | float) else None,
            error_code=error_code,
            catalog_age_s=_age_s(context.catalog, self.gw.clock.now()),
        )
        try:
            self.gw.state.put_generation(record)
        except StoreUnavailable as exc:
            log.error(
                "generation record not written", extra={"generation_id": context.generation_id, "error": exc.message}
            )


def _age_s(catalog: Catalog | None, now: float) -> float | None:
    if catalog is None:
        return None
    try:
        created = datetime.strptime(catalog.snapshot.created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return max(0.0, now - created.timestamp())


def fixed_models(catalog: Catalog, request: ChatRequest) -> tuple[str, ...]:
    """The models a request names itself (checked against a key's list); none for routing modes and aliases."""
    if request.model in ROUTER_MODES or request.model in (FREE_MODE, FAN_OUT_MODE) or request.model in catalog.aliases:
        return ()
    return (request.model, *[m for m in request.models if m != request.model])


@dataclass
class _Context:
    """What the record of one request needs, gathered as the request goes."""

    generation_id: str
    key: ApiKeyRecord | None
    started: float
    route: dict[str, Any]
    requested: str | None = None
    catalog: Catalog | None = None
