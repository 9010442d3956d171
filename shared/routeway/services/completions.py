"""A completion: plan, hold, try the attempts in order (services/completion_core.py), prove, record, charge.

Faces (chat, legacy completions, the CLI) hand in a parsed `ChatRequest` and get back a typed
`Completion` or `CompletionStream`, each with its `RouteProof`. The fallback rules are
`domain.fallback`'s; the deadline (below API Gateway's 30 s) ends the request with the gateway's
own 504.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, cast

from routeway.domain.conform import conform_completion
from routeway.domain.content import check_content, many_parts, refuse_remote_images, remote_images_allowed
from routeway.domain.plan import Candidate, Plan
from routeway.domain.records import ApiKeyRecord
from routeway.domain.reservation import plan_bound
from routeway.domain.sticky import conversation_id, stick
from routeway.domain.wire import ChatRequest
from routeway.errors import (
    GatewayError,
    InvalidRequest,
    UnsupportedParameter,
)
from routeway.off_loop import cpu_bound_if
from routeway.services.admission import admit
from routeway.services.attempts import AttemptResult, run_attempt
from routeway.services.completion_core import CompletionCore, RequestState, provider_of, reasons_of
from routeway.services.keys import fixed_models
from routeway.services.results import KEEPALIVE, Completion, CompletionStream, StreamEvent, StreamFailure
from routeway.services.routing import plan_for, resolve_names
from routeway.services.stream_cost import billed_usage, estimated_usage, has_cost
from routeway.services.streaming import OpenStream, StreamRules, open_attempt, relay
from routeway.services.written import in_background


class CompletionsService(CompletionCore):
    async def chat(self, request: ChatRequest, key: ApiKeyRecord | None) -> Completion | CompletionStream:
        state = self._begin(key, request.model)
        return await self.accounted(state, self._chat(request, key, state))

    async def _chat(
        self, request: ChatRequest, key: ApiKeyRecord | None, state: RequestState
    ) -> Completion | CompletionStream:
        proof = state.proof
        try:
            heavy = many_parts(request.messages)  # a huge conversation is checked and planned in a thread
            remote_images = await cpu_bound_if(heavy, check_content, request.messages)
            catalog = state.catalog = await self.gw.catalog.current()
            request, proof.resolved = resolve_names(catalog, request)
            proof.notes = list(request.notes)
            await admit(self.gw, state.ledger, key, fixed_models(catalog, request), request.body)
            plan, _, _ = await cpu_bound_if(heavy, plan_for, self.gw, catalog, request, key)
            self._stick(plan, request, key, state)
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
            if plan.fan_out:  # every model at once: the sum is held up front; else each attempt holds its own
                bound = await asyncio.to_thread(plan_bound, plan.attempts, request.body, fan_out=True)
                await state.ledger.hold(bound, max_tokens_given=request.max_tokens is not None)
            # what each attempt holds: every part of `n` (images' `n` is not the upstream's, so it is added here)
            state.body = {**request.body, "n": request.n} if request.n > 1 else request.body
            if request.stream:
                return await self._stream(plan, request, state)
            if plan.fan_out:
                completion = await self._fan_out(plan, request, state)
            else:
                winner = cast(
                    AttemptResult, await self._in_order(plan, state, self._plain_attempt(plan, request, state))
                )
                completion = self._success(winner, state)
                if request.n > 1:
                    await self._more_choices(completion, winner, plan, request, state)
            usage = completion.body.get("usage")
            await self._record(
                state, ok=True, http_status=200, error_code=None, usage=usage, charge=True, after_answer=True
            )
            completion.body["route"] = proof.as_dict()  # with the latency the record measured
            return completion
        except GatewayError as exc:
            await self._fail(state, exc)
            raise

    def _stick(self, plan: Plan, request: ChatRequest, key: ApiKeyRecord | None, state: RequestState) -> None:
        """The provider that answered this conversation's last turn goes first, while healthy (domain/sticky.py)."""
        scope = key.key_hash if key is not None else ""
        state.conversation = conversation_id(scope, request.model, request.body, self.session)
        target = self.gw.sticky.target(state.conversation, self.gw.clock.now())
        if target is not None:
            stick(plan, target)

    async def _stream(self, plan: Plan, request: ChatRequest, state: RequestState) -> CompletionStream:
        """Wait a keep-alive interval for a provider's first content: then the answer's headers name it.

        Past that interval the stream starts with keep-alive comments while the attempts go on; the
        `route` in its last event says who answered.
        """
        first_token_s = request.first_token_timeout_s or self.gw.settings.first_token_timeout_s
        backends = state.catalog.backends if state.catalog else {}

        async def attempt(candidate: Candidate, remaining: float) -> AttemptResult | OpenStream:
            return await open_attempt(
                self.gw,
                candidate,
                request.body,
                plan.provider_prefs,
                first_token_s=first_token_s,
                remaining_s=remaining,
                backends=backends,
            )

        rules = StreamRules(
            include_usage=request.include_usage,
            keepalive_s=self.gw.settings.keepalive_s,
            deadline_at=state.started + self.deadline_s,
            monotonic=self.gw.clock.monotonic,
            max_bytes=self.answer_limit,
        )
        search = asyncio.ensure_future(self._in_order(plan, state, attempt))
        try:
            await asyncio.wait({search}, timeout=rules.keepalive_s)
        except asyncio.CancelledError:
            search.cancel()  # the request itself was cancelled: no attempt may outlive it
            raise
        if search.done():
            opened = cast(OpenStream, search.result())
            state.ledger.hand_to_stream()
            return CompletionStream(state.proof, self._relay(opened, state, rules, request))
        state.ledger.hand_to_stream()
        return CompletionStream(state.proof, self._late(search, state, rules, request))

    def _relay(
        self, opened: OpenStream, state: RequestState, rules: StreamRules, request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        proof = state.proof
        proof.won(
            opened.result.record,
            provider=provider_of(opened.first.get("provider"), opened.result),
            reason=reasons_of(opened.result),
        )
        self.remember_winner(state, opened.result.candidate)

        async def finish(ok: bool, usage: dict[str, Any] | None, error_code: str | None, relayed: int) -> None:
            """Record and charge however the stream ended. Without usage (abandoned, cut), the record gets an
            estimate at once, and the charge waits in the background for what the upstream says it billed."""
            proof.attempts[-1].stream_error = error_code
            if usage is not None:  # however it ended, a usage it sent is priced within the hold
                self._priced({"usage": usage}, opened.result.candidate, state)
            if has_cost(usage):
                await self._record(state, ok=ok, http_status=200, error_code=error_code, usage=usage, charge=True)
                return
            estimate = estimated_usage(opened.result.candidate, usage, relayed, request.body)
            state.ledger.charge_of(estimate)  # an estimate never passes the hold either
            if error_code == "client_disconnected":  # nobody waits for the end: ask the upstream first
                billed = await billed_usage(self.gw, opened.result.candidate, opened.first.get("id"), estimate)
                await self._record(state, ok=ok, http_status=200, error_code=error_code, usage=billed, charge=True)
                return
            await self._record(state, ok=ok, http_status=200, error_code=error_code, usage=estimate)
            in_background(self._settle_billed(state, opened, estimate, ok=ok, error_code=error_code))

        def priced(usage: dict[str, Any]) -> None:
            self._priced({"usage": usage}, opened.result.candidate, state)

        return relay(opened, proof, finish, priced, rules)

    async def _settle_billed(
        self, state: RequestState, opened: OpenStream, estimate: dict[str, Any], *, ok: bool, error_code: str | None
    ) -> None:
        billed = await billed_usage(self.gw, opened.result.candidate, opened.first.get("id"), estimate)
        if billed is not estimate:  # the record learns what the upstream billed
            await self._record(
                state, ok=ok, http_status=200, error_code=error_code, usage=billed, again=True, charge=True
            )
        else:
            await state.ledger.settle_rest(billed)

    async def _late(
        self,
        search: asyncio.Future[AttemptResult | OpenStream],
        state: RequestState,
        rules: StreamRules,
        request: ChatRequest,
    ) -> AsyncIterator[StreamEvent]:
        """The stream when no provider had content within a keep-alive interval: comments until one does."""
        try:
            while not search.done():
                await asyncio.wait({search}, timeout=rules.keepalive_s)
                if not search.done():
                    yield KEEPALIVE
            error = search.exception()
        finally:
            if not search.done():  # the client went away first: no attempt outlives it, the hold goes back
                search.cancel()
                in_background(state.ledger.settle_rest(None))
        if error is None:
            async for event in self._relay(cast(OpenStream, search.result()), state, rules, request):
                yield event
            return
        if not isinstance(error, GatewayError):
            await state.ledger.settle_rest(None)
            raise error
        error.headers.update(state.proof.error_headers())
        await self._record(state, ok=False, http_status=200, error_code=error.code, usage=None, charge=True)
        self._restate(state, error)
        yield StreamFailure(error, state.proof.as_dict())

    async def _more_choices(
        self, completion: Completion, winner: AttemptResult, plan: Plan, request: ChatRequest, state: RequestState
    ) -> None:
        """`n` > 1 where the upstream gave fewer choices: one more call per missing choice, same target, at once.

        Every part was held before the first call (`attempt_bound` holds `n` calls). A part that fails leaves
        the others' choices to the client (`partial=k/n` in `x-routeway-applied`); what a failed part was still
        billed (an answer too large) is charged with the rest."""
        choices = completion.body["choices"]
        usage = completion.body.get("usage")
        remaining = self._remaining(state.started)
        extras = await asyncio.gather(
            *(
                run_attempt(
                    self.gw,
                    winner.candidate,
                    request.body,
                    plan.provider_prefs,
                    remaining,
                    max_bytes=self.answer_limit,
                    backends=state.catalog.backends if state.catalog else {},
                )
                for _ in range(request.n - len(choices))
            )
        )
        await self._note_all([e for e in extras if e.completion is not None], state)
        for extra in extras:
            state.proof.attempts.append(extra.record)
            if extra.completion is None:
                _add_usage(usage, self._billed_failure(extra, state))
                continue
            more = conform_completion(
                extra.completion, generation_id=state.proof.generation_id, now=int(self.gw.clock.now())
            )
            self._priced(more, winner.candidate, state)
            choices.extend({**c, "index": len(choices) + i} for i, c in enumerate(more["choices"][:1]))
            _add_usage(usage, more.get("usage"))
        if len(choices) < request.n:
            state.proof.applied.append(f"partial={len(choices)}/{request.n}")

    async def _note_all(self, answered: list[AttemptResult], state: RequestState) -> None:
        """Each part the upstream answered goes on the hold before the answer goes on (a crash is then charged)."""
        await asyncio.gather(*(state.ledger.note(r, partial(self._answer_cost, r, state)) for r in answered))

    async def _fan_out(self, plan: Plan, request: ChatRequest, state: RequestState) -> Completion:
        """`bodybuilder`: the same request to several models at once; one choice per model that answered."""
        proof = state.proof
        remaining = self._remaining(state.started)
        attempt = self._plain_attempt(plan, request, state)
        results: list[AttemptResult] = list(await asyncio.gather(*(attempt(c, remaining) for c in plan.attempts)))
        proof.attempts.extend(r.record for r in results)
        winners = [r for r in results if r.completion is not None]
        await self._note_all(winners, state)
        usage: dict[str, float] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": 0.0}
        billed = [self._billed_failure(r, state) for r in results if r.completion is None]
        for paid in billed:  # a failed model that was still billed (an answer too large) is charged
            _add_usage(usage, paid)
        if not winners:
            if any(paid is not None for paid in billed):
                state.ledger.paid_usage = usage
            raise self._failure(plan, results, state)
        choices: list[dict[str, Any]] = []
        for result in winners:
            completion = conform_completion(
                result.completion or {}, generation_id=proof.generation_id, now=int(self.gw.clock.now())
            )
            self._priced(completion, result.candidate, state)
            for choice in completion["choices"]:
                choices.append({**choice, "index": len(choices), "model": result.candidate.row.model.id})
            for field_name in usage:
                value = (completion.get("usage") or {}).get(field_name)
                if isinstance(value, int | float):
                    usage[field_name] += value
        if len(winners) < len(results):
            proof.applied.append(f"partial={len(winners)}/{len(results)}")
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


def _add_usage(total: Any, part: Any) -> None:
    """Add one part's usage figures to the fan-out's (the figures both have)."""
    if not isinstance(total, dict) or not isinstance(part, dict):
        return
    for name, value in part.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(total.get(name), int | float):
                total[name] += value
