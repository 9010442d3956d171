"""One upstream attempt: the payload for its target, the call, and what the answer means.

Each OpenRouter attempt pins the planned provider (`order: [slug]`, `allow_fallbacks: false`), so
Routeway's own plan decides the fallbacks and the route proof names who really answered. What an
answer means, and what happens next, is the fallback policy's (`domain.fallback`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from routeway.domain.catalog import Backend
from routeway.domain.fallback import Answer, Outcome, classify_response, cools_down, is_hard_failure
from routeway.domain.goals import ProviderPrefs
from routeway.domain.plan import Candidate
from routeway.domain.proof import AttemptRecord
from routeway.domain.redact import Redactor
from routeway.domain.shaping import shape_payload
from routeway.domain.structured import is_structured
from routeway.domain.wire import upstream_payload
from routeway.errors import GatewayError
from routeway.gateway import Gateway
from routeway.ports import Oversize, Upstream, UpstreamNoAnswer, UpstreamUnreachable

log = logging.getLogger("routeway.attempts")
PASSED_PROVIDER_FIELDS = ("require_parameters", "data_collection", "quantizations", "max_price")


def log_upstream_failure(result: AttemptResult, message: str, *, stream: bool = False) -> None:
    """One warning per failed upstream attempt: the message stays "upstream error" (what log queries match),
    the facts ride as fields (JSON in Lambda; `routeway serve` prints them on stderr)."""
    row = result.candidate.row
    fields = {
        "status": result.status,
        "model": row.model.id,
        "provider": row.provider_slug or row.provider_name,
        "backend": row.backend,
        "error_code": result.error_code,
        "upstream_error": result.redact(message),
        "stream": stream,
    }
    log.warning("upstream error", extra=fields)


@dataclass
class AttemptResult:
    candidate: Candidate
    record: AttemptRecord
    outcome: Outcome | None = None
    retry_after_s: float | None = None
    oversize: Oversize | None = None  # a paid answer too large to return: no fallback, a 502
    not_sent: GatewayError | None = None  # why the gateway could not send it (the backend's key unreadable, …)
    redact: Redactor = field(default_factory=Redactor)  # the gateway's: upstream text passes it before it is kept
    upstream_id: str | None = None  # the upstream's generation id, once its answer named it (`id`, a header)
    abandoned: bool = False  # the gateway gave up on it after the upstream accepted it: it may have been billed

    def take_outcome(self, outcome: Outcome) -> None:
        """Keep what an answer meant, its upstream text and code redacted: from here they reach clients and records."""
        message, code = self.redact(outcome.message), self.redact.optional(outcome.error_code)
        self.outcome = replace(outcome, message=message, error_code=code)
        if outcome.kind != "success":
            self.record.error_code = code

    @property
    def status(self) -> int | None:
        return self.record.status

    @property
    def error_code(self) -> str | None:
        return self.record.error_code

    @property
    def ok(self) -> bool:
        return self.outcome is not None and self.outcome.kind == "success"

    @property
    def completion(self) -> dict[str, Any] | None:
        return self.outcome.completion if self.outcome is not None and self.ok else None

    @property
    def hard_failure(self) -> bool:
        return is_hard_failure(self.status, self.error_code)


def provider_object(
    candidate: Candidate, prefs: ProviderPrefs, client_provider: Any, *, structured: bool = False
) -> dict[str, Any] | None:
    """The `provider` object for OpenRouter: the planned provider pinned, the client's other preferences kept.
    A structured request always says `require_parameters`, so no endpoint that would ignore the schema (and
    answer free text) is chosen, even where OpenRouter picks the provider."""
    row = candidate.row
    if row.provider_slug is None:  # OpenRouter chooses: pass the client's preferences as they came
        chosen = dict(client_provider) if isinstance(client_provider, dict) else None
        return {**(chosen or {}), "require_parameters": True} if structured else chosen
    pinned: dict[str, Any] = {"order": [row.provider_slug], "allow_fallbacks": False}
    if isinstance(client_provider, dict):
        pinned.update({k: client_provider[k] for k in PASSED_PROVIDER_FIELDS if k in client_provider})
    elif prefs.require_parameters:
        pinned["require_parameters"] = True
    if structured:
        pinned["require_parameters"] = True
    return pinned


def new_result(
    candidate: Candidate, applied: list[str], *, stream: bool = False, redact: Redactor | None = None
) -> AttemptResult:
    """An attempt's result, its record already naming the target (the record never holds prompt text)."""
    row = candidate.row
    record = AttemptRecord(
        model=row.model.id,
        provider=row.provider_name,
        provider_slug=row.provider_slug,
        backend=row.backend,
        applied=applied,
        stream=stream,
    )
    return AttemptResult(candidate, record, redact=redact or Redactor())


def build_payload(candidate: Candidate, body: dict[str, Any], prefs: ProviderPrefs) -> tuple[dict[str, Any], list[str]]:
    """The body for this attempt, shaped for its model, and the list of rewrites applied."""
    payload = upstream_payload(body, candidate.upstream_model)
    payload.pop("provider", None)
    if candidate.row.backend == "openrouter":
        structured = is_structured(body.get("response_format"))
        provider = provider_object(candidate, prefs, body.get("provider"), structured=structured)
        if provider:
            payload["provider"] = provider
    applied = shape_payload(payload, candidate.row.model, candidate.alias, candidate.row.backend)
    return payload, applied


def retry_after(headers: dict[str, str]) -> float | None:
    raw = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def upstream_for(gateway: Gateway, candidate: Candidate, backends: Mapping[str, Backend]) -> Upstream:
    """The client for the candidate's backend, from the request's own catalog (`backends`), so every attempt
    of a request goes where that catalog says (BackendUnavailable when it is not configured)."""
    return gateway.upstreams.for_backend(backends[candidate.row.backend])


async def run_attempt(
    gateway: Gateway,
    candidate: Candidate,
    body: dict[str, Any],
    prefs: ProviderPrefs,
    timeout_s: float,
    expect: Answer = "chat",
    max_bytes: int | None = None,
    *,
    backends: Mapping[str, Backend],
) -> AttemptResult:
    """One call: a chat completion, or (`expect="embeddings"`) an embeddings request; never raises.

    An answer over `max_bytes` is not kept: the result says how big it was (`oversize`)."""
    payload, applied = build_payload(candidate, body, prefs)
    result = new_result(candidate, applied, redact=gateway.redact)
    record = result.record
    started = time.perf_counter()
    try:
        upstream = upstream_for(gateway, candidate, backends)
        call = upstream.embeddings if expect == "embeddings" else upstream.chat
        answer = await call(payload, timeout_s=timeout_s, max_bytes=max_bytes)
    except UpstreamNoAnswer:
        record.error_code = "timeout"
        log_upstream_failure(result, f"no answer within {timeout_s:g} s")
    except UpstreamUnreachable as exc:
        record.error_code = "unreachable"
        log_upstream_failure(result, str(exc))
    except GatewayError as exc:  # the backend is not configured, or its key cannot be read
        could_not_send(result, exc)
    else:
        record.status = answer.status
        if answer.oversize is not None and answer.status == 200:
            record.error_code, result.oversize = "response_too_large", answer.oversize
            record.latency_ms = round((time.perf_counter() - started) * 1000, 1)
            log_upstream_failure(result, f"the answer is {answer.oversize.total_bytes} bytes, over {max_bytes}")
            return result
        result.take_outcome(classify_response(answer.status, answer.body, expect))
        result.retry_after_s = retry_after(dict(answer.headers))
        if result.completion is not None:  # what the upstream calls this generation: how its bill is looked up
            named = result.completion.get("id")
            result.upstream_id = named if isinstance(named, str) and 0 < len(named) <= 200 else None
        if result.outcome is not None and not result.ok:
            log_upstream_failure(result, result.outcome.message)
    record.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    note_outcome(gateway, result, success=result.ok)
    return result


def could_not_send(result: AttemptResult, exc: GatewayError, *, stream: bool = False) -> None:
    """The gateway could not send this attempt: its error is kept, to be the client's if no attempt is sent."""
    result.record.error_code = exc.code
    result.not_sent = exc
    log_upstream_failure(result, exc.message, stream=stream)


def note_outcome(gateway: Gateway, result: AttemptResult, *, success: bool) -> None:
    """Feed the cooldowns: a success clears the target, a failure cools it unless the policy says not to."""
    key = result.candidate.row.key
    if success:
        gateway.cooldowns.succeeded(key)
    elif cools_down(result.status, result.error_code):
        gateway.cooldowns.failed(key, result.status, result.retry_after_s)
