"""The core of every completion: plan, try the attempts in order, prove and record the route.

Faces (chat, legacy completions, the CLI) hand in a parsed `ChatRequest` and get back a typed
`Completion` or `CompletionStream`, each with its `RouteProof`. The fallback rules are
`domain.fallback`'s; the deadline (below API Gateway's 30 s) ends the request with the gateway's
own 504.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from routeway.domain.catalog import Catalog
from routeway.domain.conform import conform_completion
from routeway.domain.content import check_content, refuse_remote_images, remote_images_allowed
from routeway.domain.fallback import final_error, may_move_on, retry_after_s, skips_backend
from routeway.domain.plan import Candidate, Plan
from routeway.domain.proof import RouteProof
from routeway.domain.records import ApiKeyRecord, GenerationRecord
from routeway.domain.wire import ChatRequest
from routeway.errors import (
    GatewayError,
    InvalidRequest,
    StoreUnavailable,
    UnsupportedParameter,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from routeway.gateway import Gateway
from routeway.services.attempts import AttemptResult, run_attempt
from routeway.services.keys import admit, fixed_models, iso_now
from routeway.services.results import KEEPALIVE, Completion, CompletionStream, StreamChunk, StreamEvent
from routeway.services.routing import plan_for, resolve_names
from routeway.services.streaming import OpenStream, StreamRules, open_attempt, relay
from routeway.services.usage import catalog_age_s, with_cost

log = logging.getLogger("routeway.completions")
SECONDS_PER_DAY = 86_400
MIN_ATTEMPT_S = 1.0
Attempt = Callable[[Candidate, float], Awaitable[AttemptResult | OpenStream]]


@dataclass
class _Request:
    """One request as it goes: who asked, when, against which catalog, and its proof."""

    proof: RouteProof
    key: ApiKeyRecord | None
    started: float
    catalog: Catalog | None = None


class CompletionsService:
    def __init__(self, gateway: Gateway, *, long_entry: bool = False) -> None:
        self.gw = gateway
        self.long_entry = long_entry
        self.deadline_s = gateway.settings.long_deadline_s if long_entry else gateway.settings.deadline_s

    def _begin(self, key: ApiKeyRecord | None, requested: str | None) -> _Request:
        proof = RouteProof(self.gw.new_id(), requested_model=requested[:300] if requested else None)
        return _Request(proof, key, self.gw.clock.monotonic())

    async def refuse(self, error: GatewayError, key: ApiKeyRecord | None) -> GatewayError:
        """A request refused at the edge (unreadable body) still gets a generation id and a record."""
        await self._fail(self._begin(key, None), error)
        return error

    async def chat(self, request: ChatRequest, key: ApiKeyRecord | None) -> Completion | CompletionStream:
        state = self._begin(key, request.model)
        proof = state.proof
        try:
            remote_images = check_content(request.messages)
            catalog = state.catalog = await self.gw.catalog.current()
            request, proof.resolved = resolve_names(catalog, request)
            await admit(self.gw.state, self.gw.clock, key, fixed_models(catalog, request))
            plan, _, _ = plan_for(self.gw, catalog, request, key)
            refuse_remote_images(remote_images, remote_images_allowed(plan.attempts, catalog.backends))
            proof.planned(
                mode=plan.mode,
                alias=plan.alias,
                objective=plan.objective,
                task=plan.task,
                catalog_version=catalog.version,
            )
            if request.stream and plan.fan_out:
                raise InvalidRequest("bodybuilder fans out to several models and does not stream.", param="stream")
            if request.n > 1 and (request.stream or plan.fan_out):
                what = "a stream" if request.stream else "bodybuilder (one choice per model)"
                raise UnsupportedParameter(f"'n' above 1 is not supported for {what}.", param="n")
            if request.stream:
                return await self._stream(plan, request, state)
            if plan.fan_out:
                completion = await self._fan_out(plan, request, state)
            else:
                winner = cast(AttemptResult, await self._in_order(plan, state, self._plain_attempt(plan, request)))
                completion = self._success(winner, proof)
                if request.n > 1:
                    await self._more_choices(completion, winner, plan, request, state)
            usage = completion.body.get("usage")
            await self._record(state, ok=True, http_status=200, error_code=None, usage=usage)
            completion.body["route"] = proof.as_dict()  # with the latency the record measured
            await self._charge(key, usage)
            return completion
        except GatewayError as exc:
            await self._fail(state, exc)
            raise

    async def _fail(self, state: _Request, exc: GatewayError) -> None:
        exc.headers.update(state.proof.error_headers())
        await self._record(state, ok=False, http_status=exc.status, error_code=exc.code, usage=None)

    def _remaining(self, started: float) -> float:
        return self.deadline_s - (self.gw.clock.monotonic() - started)

    def _timeout(self, plan: Plan, message: str, proof: RouteProof) -> UpstreamTimeout:
        """The gateway's own 504; on the short entry, a slow alias is told to use the long-request URL."""
        attempts = proof.attempts_as_dicts()
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

    async def _in_order(self, plan: Plan, state: _Request, attempt: Attempt) -> AttemptResult | OpenStream:
        """Try the plan's attempts in order under the fallback policy; return the first that worked."""
        results: list[AttemptResult] = []
        skipped_backends: set[str] = set()
        for candidate in plan.attempts:
            if candidate.row.backend in skipped_backends:
                continue
            if results:
                previous = results[-1]
                same_model = previous.candidate.row.model.id == candidate.row.model.id
                if not may_move_on(
                    previous.status,
                    previous.hard_failure,
                    same_model=same_model,
                    alias_fallback_on=plan.alias_fallback_on,
                ):
                    break
            remaining = self._remaining(state.started)
            if remaining < MIN_ATTEMPT_S:
                message = f"The request's {self.deadline_s:.0f} s deadline passed before an upstream answered."
                raise self._timeout(plan, message, state.proof)
            outcome = await attempt(candidate, remaining)
            result = outcome.result if isinstance(outcome, OpenStream) else outcome
            results.append(result)
            state.proof.attempts.append(result.record)
            if isinstance(outcome, OpenStream) or result.ok:
                return outcome
            if skips_backend(result.status):
                skipped_backends.add(candidate.row.backend)
        raise self._failure(plan, results, state)

    def _failure(self, plan: Plan, results: list[AttemptResult], state: _Request) -> GatewayError:
        attempts = state.proof.attempts_as_dicts()
        out_of_time = self._remaining(state.started) < MIN_ATTEMPT_S
        kind = final_error([r.status for r in results], results[-1].error_code if results else None, out_of_time)
        if kind == "client_error":
            first = results[0].outcome
            message = first.message if first else "bad request"
            return InvalidRequest(f"Upstream rejected the request: {message}", attempts=attempts)
        if kind == "rate_limited":
            wait = retry_after_s([r.retry_after_s for r in results])
            return UpstreamRateLimited(
                f"Every attempt was rate-limited upstream ({len(attempts)} tried); retry in {wait} s.",
                retry_after_s=wait,
                attempts=attempts,
            )
        if kind == "timeout":
            return self._timeout(plan, "The deadline passed while waiting for the upstream.", state.proof)
        return UpstreamError(f"Every attempt failed upstream ({len(attempts)} tried).", attempts=attempts)

    def _success(self, result: AttemptResult, proof: RouteProof) -> Completion:
        completion = conform_completion(
            result.completion or {}, fallback_id=proof.generation_id, now=int(self.gw.clock.now())
        )
        if not isinstance(completion.get("model"), str):
            completion["model"] = result.candidate.row.model.id
        with_cost(completion, result.candidate)
        proof.won(result.record, provider=_provider(completion.get("provider"), result), reason=_reasons(result))
        completion["route"] = proof.as_dict()
        return Completion(completion, proof)

    async def _stream(self, plan: Plan, request: ChatRequest, state: _Request) -> CompletionStream:
        """Wait a keep-alive interval for a provider's first content: then the answer's headers name it.

        Past that interval the stream starts with keep-alive comments while the attempts go on; the
        `route` in its last event says who answered.
        """
        first_token_s = request.first_token_timeout_s or self.gw.settings.first_token_timeout_s

        async def attempt(candidate: Candidate, remaining: float) -> AttemptResult | OpenStream:
            return await open_attempt(
                self.gw,
                candidate,
                request.body,
                plan.provider_prefs,
                first_token_s=first_token_s,
                remaining_s=remaining,
            )

        rules = StreamRules(
            include_usage=request.include_usage,
            keepalive_s=self.gw.settings.keepalive_s,
            deadline_at=state.started + self.deadline_s,
            monotonic=self.gw.clock.monotonic,
        )
        search = asyncio.ensure_future(self._in_order(plan, state, attempt))
        try:
            await asyncio.wait({search}, timeout=rules.keepalive_s)
        except asyncio.CancelledError:
            search.cancel()  # the request itself was cancelled: no attempt may outlive it
            raise
        if search.done():
            return CompletionStream(state.proof, self._relay(cast(OpenStream, search.result()), state, rules))
        return CompletionStream(state.proof, self._late(search, state, rules))

    def _relay(self, opened: OpenStream, state: _Request, rules: StreamRules) -> AsyncIterator[StreamEvent]:
        proof = state.proof
        proof.won(
            opened.result.record,
            provider=_provider(opened.first.get("provider"), opened.result),
            reason=_reasons(opened.result),
        )

        async def finish(ok: bool, usage: dict[str, Any] | None, error_code: str | None) -> None:
            proof.attempts[-1].stream_error = error_code
            await self._record(state, ok=ok, http_status=200, error_code=error_code, usage=usage)
            await self._charge(state.key, usage)

        def cost_of(usage: dict[str, Any]) -> None:
            with_cost({"usage": usage}, opened.result.candidate)

        return relay(opened, proof, finish, cost_of, rules)

    async def _late(
        self, search: asyncio.Future[AttemptResult | OpenStream], state: _Request, rules: StreamRules
    ) -> AsyncIterator[StreamEvent]:
        """The stream when no provider had content within a keep-alive interval: comments until one does."""
        try:
            while not search.done():
                await asyncio.wait({search}, timeout=rules.keepalive_s)
                if not search.done():
                    yield KEEPALIVE
            error = search.exception()
        finally:
            if not search.done():  # the client went away first
                search.cancel()
        if error is None:
            async for event in self._relay(cast(OpenStream, search.result()), state, rules):
                yield event
            return
        if not isinstance(error, GatewayError):
            raise error
        error.headers.update(state.proof.error_headers())
        await self._record(state, ok=False, http_status=200, error_code=error.code, usage=None)
        yield StreamChunk({**error.body(), "route": state.proof.as_dict()})

    async def _more_choices(
        self, completion: Completion, winner: AttemptResult, plan: Plan, request: ChatRequest, state: _Request
    ) -> None:
        """`n` > 1 where the upstream gave fewer choices: one more call per missing choice, same target."""
        choices = completion.body["choices"]
        usage = completion.body.get("usage")
        for _ in range(request.n - len(choices)):
            extra = await run_attempt(
                self.gw, winner.candidate, request.body, plan.provider_prefs, self._remaining(state.started)
            )
            state.proof.attempts.append(extra.record)
            if extra.completion is None:
                raise self._failure(plan, [extra], state)
            more = conform_completion(
                extra.completion, fallback_id=state.proof.generation_id, now=int(self.gw.clock.now())
            )
            with_cost(more, winner.candidate)
            choices.extend({**c, "index": len(choices) + i} for i, c in enumerate(more["choices"][:1]))
            extra_usage = more.get("usage")
            if isinstance(usage, dict) and isinstance(extra_usage, dict):
                for name, value in extra_usage.items():
                    if isinstance(value, int | float) and isinstance(usage.get(name), int | float):
                        usage[name] += value

    async def _fan_out(self, plan: Plan, request: ChatRequest, state: _Request) -> Completion:
        """`bodybuilder`: the same request to several models at once; one choice per model that answered."""
        proof = state.proof
        remaining = self._remaining(state.started)
        attempt = self._plain_attempt(plan, request)
        results: list[AttemptResult] = list(await asyncio.gather(*(attempt(c, remaining) for c in plan.attempts)))
        proof.attempts.extend(r.record for r in results)
        winners = [r for r in results if r.completion is not None]
        if not winners:
            raise self._failure(plan, results, state)
        choices: list[dict[str, Any]] = []
        usage: dict[str, float] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": 0.0}
        for result in winners:
            completion = conform_completion(
                result.completion or {}, fallback_id=proof.generation_id, now=int(self.gw.clock.now())
            )
            with_cost(completion, result.candidate)
            for choice in completion["choices"]:
                choices.append({**choice, "index": len(choices), "model": result.candidate.row.model.id})
            for field_name in usage:
                value = (completion.get("usage") or {}).get(field_name)
                if isinstance(value, int | float):
                    usage[field_name] += value
        proof.model = ",".join(r.candidate.row.model.id for r in winners)
        proof.backend = "openrouter"
        proof.provider = ",".join(r.candidate.row.provider_name for r in winners)
        body = {
            "id": proof.generation_id,
            "object": "chat.completion",
            "created": int(self.gw.clock.now()),
            "model": "bodybuilder",
            "choices": choices,
            "usage": usage,
            "route": proof.as_dict(),
        }
        return Completion(body, proof)

    async def _charge(self, key: ApiKeyRecord | None, usage: Any) -> None:
        """Add the request's cost to the key's spend; a failed write is logged, never retried upstream."""
        cost = usage.get("cost") if isinstance(usage, dict) else None
        if key is None or not isinstance(cost, int | float) or cost <= 0:
            return
        try:
            await self.gw.state.add_spend(key.key_hash, float(cost))
        except StoreUnavailable as exc:
            log.error("key spend not recorded", extra={"key_name": key.name, "error": exc.message})

    async def _record(self, state: _Request, *, ok: bool, http_status: int, error_code: str | None, usage: Any) -> None:
        """Write the generation record. A failed write is logged and never retried through upstream."""
        proof = state.proof
        proof.latency_ms = round((self.gw.clock.monotonic() - state.started) * 1000, 1)
        usage = usage if isinstance(usage, dict) else None
        record = GenerationRecord(
            id=proof.generation_id,
            created_at=iso_now(self.gw.clock),
            expires_at=int(self.gw.clock.now()) + self.gw.settings.generation_ttl_days * SECONDS_PER_DAY,
            key_name=state.key.name if state.key else None,
            requested_model=proof.requested_model,
            status="success" if ok else "error",
            http_status=http_status,
            error_code=error_code,
            catalog_version=state.catalog.version if state.catalog else None,
            route=proof.as_dict(),
            usage=usage,
            cost_usd=usage.get("cost") if usage else None,
        )
        self.gw.telemetry.completion(
            latency_ms=proof.latency_ms,
            attempts=len(proof.attempts),
            cost_usd=record.cost_usd if isinstance(record.cost_usd, int | float) else None,
            error_code=error_code,
            catalog_age_s=catalog_age_s(state.catalog, self.gw.clock.now()),
        )
        try:
            await self.gw.state.put_generation(record)
        except StoreUnavailable as exc:
            log.error(
                "generation record not written", extra={"generation_id": proof.generation_id, "error": exc.message}
            )


def _provider(answered_by: Any, result: AttemptResult) -> str | None:
    """Who served the answer: OpenRouter's own `provider` field when it gives one, else the planned provider."""
    return answered_by if isinstance(answered_by, str) else result.candidate.row.provider_name


def _reasons(result: AttemptResult) -> list[str]:
    return list(result.candidate.scored.reasons)
