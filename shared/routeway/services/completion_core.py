"""What every completion shares (chat's CompletionsService and EmbeddingsService build on it): the
request's state and ledger, each attempt held and tried in order under `domain.fallback`'s rules, the
failure the client is told (the gateway's own 504 past the deadline, 502 for an answer too large), and the
record written with the charge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from routeway.after_response import later
from routeway.domain.candidates import why_unbounded
from routeway.domain.catalog import Catalog
from routeway.domain.conform import conform_completion
from routeway.domain.fallback import final_error, may_move_on, retry_after_s, skips_backend
from routeway.domain.oversize import usage_in_tail
from routeway.domain.plan import Candidate, Plan
from routeway.domain.proof import RouteProof
from routeway.domain.records import ApiKeyRecord, GenerationRecord
from routeway.domain.reservation import attempt_bound, prompt_token_bound, reads_documents
from routeway.domain.wire import ChatRequest
from routeway.errors import (
    BackendUnavailable,
    BudgetExceeded,
    GatewayError,
    InvalidRequest,
    ResponseTooLarge,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from routeway.gateway import Gateway
from routeway.request_log import note_record
from routeway.services.abandoned import with_abandoned
from routeway.services.attempts import AttemptResult, run_attempt
from routeway.services.keys import iso_now
from routeway.services.ledger import Ledger
from routeway.services.results import Completion
from routeway.services.stream_cost import estimated_usage, has_cost
from routeway.services.streaming import CHARS_PER_TOKEN, OpenStream
from routeway.services.usage import catalog_age_s, with_cost
from routeway.services.written import in_background, write_record

log = logging.getLogger("routeway.completions")
SECONDS_PER_DAY = 86_400
MIN_ATTEMPT_S = 1.0
Answer = TypeVar("Answer")
Attempt = Callable[[Candidate, float], Awaitable[AttemptResult | OpenStream]]


@dataclass
class RequestState:
    """One request as it goes: who asked, when, against which catalog, its proof and its money (the ledger)."""

    proof: RouteProof
    key: ApiKeyRecord | None
    started: float
    ledger: Ledger
    catalog: Catalog | None = None
    body: Mapping[str, Any] | None = None  # what each attempt's hold is bounded from
    prompt_bound: tuple[int, int] | None = None  # (tokens, media parts) of `body`, counted once
    bound_usd: float = 0.0  # the latest attempt's own bound
    in_flight: Candidate | None = None  # the attempt being made: charged an estimate if the request is cancelled
    conversation: str | None = None  # the conversation's digest, whose winner is remembered (domain/sticky.py)


def _names_max_tokens(body: Mapping[str, Any]) -> bool:
    return body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None


class CompletionCore:
    """The machinery under CompletionsService (and EmbeddingsService): attempts, failures, records."""

    def __init__(self, gateway: Gateway, *, long_entry: bool = False, session: str | None = None) -> None:
        self.gw = gateway
        self.long_entry = long_entry
        self.session = session  # the digest of the client's `x-routeway-session` header (domain/sticky.py)
        self.deadline_s = gateway.settings.long_deadline_s if long_entry else gateway.settings.deadline_s
        settings = gateway.settings
        self.answer_limit = settings.long_answer_limit_bytes if long_entry else settings.answer_limit_bytes

    def _begin(self, key: ApiKeyRecord | None, requested: str | None) -> RequestState:
        proof = RouteProof(self.gw.new_id(), requested_model=requested[:300] if requested else None)
        return RequestState(proof, key, self.gw.clock.monotonic(), Ledger(self.gw, key, proof.generation_id))

    async def refuse(self, error: GatewayError, key: ApiKeyRecord | None) -> GatewayError:
        """A request refused at the edge (unreadable body) still gets a generation id and a record."""
        state = self._begin(key, None)
        async with state.ledger:
            await self._fail(state, error)
        return error

    async def _fail(self, state: RequestState, exc: GatewayError) -> None:
        exc.headers.update(state.proof.error_headers())
        await self._record(
            state, ok=False, http_status=exc.status, error_code=exc.code, usage=state.ledger.paid_usage, charge=True
        )
        self._restate(state, exc)

    async def accounted(self, state: RequestState, work: Awaitable[Answer]) -> Answer:
        """`work` (the request) inside its ledger: every exit settles or releases, a cancellation included."""
        async with state.ledger:
            try:
                return await work
            except asyncio.CancelledError:
                await self.cancelled(state)
                raise

    async def cancelled(self, state: RequestState) -> None:
        """A request cancelled mid-way (the caller went away, the function's time ran out): the attempt in flight
        may have been billed, so it is charged an estimate of its prompt; the record says it was cancelled."""
        if state.in_flight is not None and state.ledger.paid_usage is None:
            state.ledger.paid_usage = estimated_usage(state.in_flight, None, 0, state.body or {})
        usage = state.ledger.paid_usage
        write = self._record(state, ok=False, http_status=499, error_code="cancelled", usage=usage, charge=True)
        await asyncio.shield(in_background(write))

    @staticmethod
    def _restate(state: RequestState, exc: GatewayError) -> None:
        """The error's attempts as charged: an abandoned attempt's cost is known only once it is charged."""
        if "attempts" in exc.extra and state.ledger.abandoned:
            exc.extra["attempts"] = state.proof.attempts_as_dicts()

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

    def _plain_attempt(
        self, plan: Plan, request: ChatRequest, state: RequestState
    ) -> Callable[[Candidate, float], Awaitable[Any]]:
        backends = state.catalog.backends if state.catalog else {}

        async def attempt(candidate: Candidate, remaining: float) -> AttemptResult:
            return await run_attempt(
                self.gw,
                candidate,
                request.body,
                plan.provider_prefs,
                remaining,
                max_bytes=self.answer_limit,
                backends=backends,
            )

        return attempt

    async def _in_order(self, plan: Plan, state: RequestState, attempt: Attempt) -> AttemptResult | OpenStream:
        """Try the plan's attempts in order under the fallback policy; return the first that worked."""
        results: list[AttemptResult] = []
        skipped_backends: set[str] = set()
        unaffordable: list[BudgetExceeded] = []
        for candidate in plan.attempts:
            if candidate.row.backend in skipped_backends:
                continue
            refused = await self._hold_for(candidate, state)
            if refused is not None:  # this attempt could cost more than the budget has left: the next may not
                unaffordable.append(refused)
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
            state.in_flight = candidate
            outcome = await attempt(candidate, remaining)
            state.in_flight = None
            result = outcome.result if isinstance(outcome, OpenStream) else outcome
            results.append(result)
            state.proof.attempts.append(result.record)
            if result.abandoned:
                state.ledger.abandon(result, state.bound_usd, state.body or {})
            if isinstance(outcome, OpenStream):
                await state.ledger.note(result, partial(self._prompt_cost, candidate, state))
                return outcome
            if result.ok:
                await state.ledger.note(result, partial(self._answer_cost, result, state))
                return outcome
            if result.oversize is not None:  # paid for: another model would answer as much, and be paid too
                raise self._too_large(result, state)
            if skips_backend(result.status, result.error_code):
                skipped_backends.add(candidate.row.backend)
        if unaffordable and not results:
            raise min(unaffordable, key=lambda e: e.extra.get("request_max_usd") or 0)
        raise self._failure(plan, results, state)

    async def _hold_for(self, candidate: Candidate, state: RequestState) -> BudgetExceeded | None:
        """Raise the request's hold to what this attempt can cost (a fan-out holds its sum up front)."""
        if not state.ledger.budgeted or state.body is None:
            return None
        if state.prompt_bound is None:  # once a request, however many attempts it holds for
            body = state.body
            # a PDF's pages are read to bound it (tens of ms): not on the event loop every other request shares
            slow = reads_documents(body)
            state.prompt_bound = await asyncio.to_thread(prompt_token_bound, body) if slow else prompt_token_bound(body)
        tokens, media = state.prompt_bound
        bound = attempt_bound(candidate, state.body, tokens, media)
        if bound is not None:  # earlier attempts given up on are paid from the same hold
            state.bound_usd = bound
            bound += sum(a.reserve_usd for a in state.ledger.abandoned)
        try:
            unbounded = why_unbounded(state.catalog, candidate.row)  # an unpriced Bedrock model: say how to price it
            await state.ledger.hold(bound, max_tokens_given=_names_max_tokens(state.body), unbounded=unbounded)
        except BudgetExceeded as exc:
            return exc
        return None

    def _failure(self, plan: Plan, results: list[AttemptResult], state: RequestState) -> GatewayError:
        attempts = state.proof.attempts_as_dicts()
        out_of_time = self._remaining(state.started) < MIN_ATTEMPT_S
        kind = final_error([r.status for r in results], [r.error_code for r in results], out_of_time)
        unsent = next((r.not_sent for r in results if r.not_sent is not None), None)
        if kind == "backend_unavailable" and unsent is not None:  # no attempt could be sent: say why
            kind_of = type(unsent) if isinstance(unsent, BackendUnavailable) else BackendUnavailable
            return kind_of(unsent.message, attempts=attempts)  # e.g. BackendAccessDenied keeps its 403
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
        also = f" {unsent.message}" if unsent is not None else ""  # some were not sent: why, beside the others
        return UpstreamError(f"Every attempt failed upstream ({len(attempts)} tried).{also}", attempts=attempts)

    def _billed_failure(self, result: AttemptResult, state: RequestState) -> dict[str, Any] | None:
        """What a failed attempt was still billed: an answer too large was (its usage, else an estimate within
        the hold); an error answer was not."""
        oversize = result.oversize
        if oversize is None:
            return None
        usage = usage_in_tail(oversize.tail)
        if usage is not None:
            self._priced({"usage": usage}, result.candidate, state)
        if not has_cost(usage):
            estimate = estimated_usage(result.candidate, usage, oversize.total_bytes // CHARS_PER_TOKEN, {})
            held = state.ledger.held_usd
            usage = {**estimate, "cost": min(estimate["cost"], held) if held else estimate["cost"]}
        return usage

    def _too_large(self, result: AttemptResult, state: RequestState) -> ResponseTooLarge:
        """The 502 for an answer over this entry's limit; what it cost is charged (its usage, else an estimate)."""
        oversize = result.oversize
        assert oversize is not None
        state.ledger.paid_usage = self._billed_failure(result, state)
        return ResponseTooLarge(
            f"The upstream's answer is {oversize.total_bytes} bytes, more than this entry can return "
            f"({self.answer_limit} bytes). It was billed; ask for less (max_tokens, fewer choices or images)"
            + ("." if self.long_entry else ", or use the long-request URL (the stack's LongRequestUrl output)."),
            attempts=state.proof.attempts_as_dicts(),
        )

    def _success(self, result: AttemptResult, state: RequestState) -> Completion:
        proof = state.proof
        completion = conform_completion(
            result.completion or {}, generation_id=proof.generation_id, now=int(self.gw.clock.now())
        )
        if not isinstance(completion.get("model"), str):
            completion["model"] = result.candidate.row.model.id
        self._priced(completion, result.candidate, state)
        proof.won(result.record, provider=provider_of(completion.get("provider"), result), reason=reasons_of(result))
        self.remember_winner(state, result.candidate)
        completion["route"] = proof.as_dict()
        return Completion(completion, proof)

    def remember_winner(self, state: RequestState, candidate: Candidate) -> None:
        """The conversation's next turn goes first to whoever answered this one (domain/sticky.py)."""
        if state.conversation is not None:
            self.gw.sticky.remember(state.conversation, candidate.row.key, self.gw.clock.now())

    def _priced(self, completion: dict[str, Any], candidate: Candidate, state: RequestState) -> None:
        """Set an upstream answer's `usage.cost` to what it charges (services/usage.with_cost, within the hold);
        the ledger notes what the upstream billed past the hold."""
        state.ledger.excess_usd += with_cost(completion, candidate, state.ledger.limit_usd).excess_usd

    @staticmethod
    def _prompt_cost(candidate: Candidate, state: RequestState) -> float:
        """An estimate of what an attempt costs before its first content: its prompt."""
        return float(estimated_usage(candidate, None, 0, state.body or {})["cost"])

    def _answer_cost(self, result: AttemptResult, state: RequestState) -> float:
        """What a whole answer says it cost, priced as its charge will be (the note a reconciliation falls back
        on when the upstream cannot be asked); the answer itself is priced again when it is conformed."""
        usage = (result.completion or {}).get("usage")
        if not isinstance(usage, dict):
            return self._prompt_cost(result.candidate, state)
        probe = {"usage": dict(usage), "choices": (result.completion or {}).get("choices")}
        return with_cost(probe, result.candidate, state.ledger.limit_usd).usd

    async def _record(
        self,
        state: RequestState,
        *,
        ok: bool,
        http_status: int,
        error_code: str | None,
        usage: Any,
        again: bool = False,
        charge: bool = False,
        after_answer: bool = False,
    ) -> None:
        """Write the generation record; with `charge`, settle its cost and hold in the same write (once).
        `after_answer` (a whole answer, not a stream): the record is made and written once the answer is sent,
        when the face allows it (`after_response`). `again`: a correction, not counted twice in the metrics."""
        proof = state.proof
        ledger = state.ledger
        proof.latency_ms = round((self.gw.clock.monotonic() - state.started) * 1000, 1)
        usage = usage if isinstance(usage, dict) else None
        if charge and ledger.owes:
            abandoned = await ledger.abandoned_cost()
            store = ledger.settlement(ledger.charge_of(usage, abandoned) + abandoned)  # written whenever awaited
        else:
            store = partial(write_record, self.gw)

        async def write() -> None:
            try:
                record = self._generation_record(state, ok, http_status, error_code, usage, count=not again)
            except Exception:  # never lose the charge for want of a record
                log.exception("generation record not made", extra={"generation_id": state.proof.generation_id})
                record = None
            await store(record)

        await (later(write) if after_answer else write())

    def _generation_record(
        self, state: RequestState, ok: bool, http_status: int, error_code: str | None, usage: Any, *, count: bool
    ) -> GenerationRecord:
        """The request's record (and, with `count`, its metrics) as it stands: no prompt or completion text."""
        proof = state.proof
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
            cost_usd=with_abandoned(_number(usage.get("cost")) if usage else None, state.ledger.abandoned_usd),
            excess_usd=state.ledger.excess_usd or None,
        )
        note_record(record)  # `routeway serve`'s line for this request (request_log.py)
        if count:
            self.gw.telemetry.completion(
                latency_ms=proof.latency_ms or 0.0,
                attempts=len(proof.attempts),
                cost_usd=record.cost_usd if isinstance(record.cost_usd, int | float) else None,
                error_code=error_code,
                catalog_age_s=catalog_age_s(state.catalog, self.gw.clock.now()),
            )
        return record


def _number(value: Any) -> float | None:
    """A usage figure the record can keep: a number (not a bool), else nothing."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def provider_of(answered_by: Any, result: AttemptResult) -> str | None:
    """Who served the answer: OpenRouter's own `provider` field when it gives one, else the planned provider."""
    return answered_by if isinstance(answered_by, str) else result.candidate.row.provider_name


def reasons_of(result: AttemptResult) -> list[str]:
    return list(result.candidate.scored.reasons)
