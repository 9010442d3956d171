"""One upstream attempt: the payload for its target, the call, and what the answer means.

Each OpenRouter attempt pins the planned provider (`order: [slug]`, `allow_fallbacks: false`), so
Routeway's own plan decides the fallbacks and the route proof names who really answered.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from routeway.bootstrap import Gateway
from routeway.domain.goals import ProviderPrefs
from routeway.domain.outcome import Outcome, classify_response
from routeway.domain.plan import Candidate
from routeway.domain.shaping import shape_payload
from routeway.domain.wire import upstream_payload
from routeway.errors import GatewayError
from routeway.ports import UpstreamTimedOut, UpstreamUnreachable

log = logging.getLogger("routeway.attempts")
PASSED_PROVIDER_FIELDS = ("require_parameters", "data_collection", "quantizations", "max_price")
HARD_FAILURE_CODES = frozenset({"timeout", "unreachable", "invalid_response", "upstream_error_in_body"})


@dataclass
class AttemptResult:
    candidate: Candidate
    outcome: Outcome | None = None
    error_code: str | None = None
    status: int | None = None
    latency_ms: float = 0.0
    retry_after_s: float | None = None
    applied: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome is not None and self.outcome.kind == "success"

    @property
    def completion(self) -> dict[str, Any] | None:
        return self.outcome.completion if self.outcome is not None and self.ok else None

    @property
    def hard_failure(self) -> bool:
        """5xx, timeouts, unreachable, no endpoint (404), or a broken 200: what moves a composite alias on."""
        if self.status is not None and (self.status >= 500 or self.status == 404):
            return True
        return self.error_code in HARD_FAILURE_CODES


def provider_object(candidate: Candidate, prefs: ProviderPrefs, client_provider: Any) -> dict[str, Any] | None:
    """The `provider` object for OpenRouter: the planned provider pinned, the client's other preferences kept."""
    row = candidate.row
    if row.provider_slug is None:  # OpenRouter chooses: pass the client's preferences as they came
        return dict(client_provider) if isinstance(client_provider, dict) else None
    pinned: dict[str, Any] = {"order": [row.provider_slug], "allow_fallbacks": False}
    if isinstance(client_provider, dict):
        pinned.update({k: client_provider[k] for k in PASSED_PROVIDER_FIELDS if k in client_provider})
    elif prefs.require_parameters:
        pinned["require_parameters"] = True
    return pinned


def new_result(candidate: Candidate, applied: list[str], **extra: Any) -> AttemptResult:
    """An attempt's result, its record already naming the target (the record never holds prompt text)."""
    row = candidate.row
    result = AttemptResult(candidate, applied=applied)
    result.record = {
        "model": row.model.id,
        "provider": row.provider_name,
        "provider_slug": row.provider_slug,
        "backend": row.backend,
        "applied": applied,
        **extra,
    }
    return result


def build_payload(candidate: Candidate, body: dict[str, Any], prefs: ProviderPrefs) -> tuple[dict[str, Any], list[str]]:
    """The body for this attempt, shaped for its model, and the list of rewrites applied."""
    payload = upstream_payload(body, candidate.upstream_model)
    payload.pop("provider", None)
    if candidate.row.backend == "openrouter":
        provider = provider_object(candidate, prefs, body.get("provider"))
        if provider:
            payload["provider"] = provider
    applied = shape_payload(payload, candidate.row.model, candidate.alias, candidate.row.backend)
    return payload, applied


def _retry_after(headers: dict[str, str]) -> float | None:
    raw = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


async def run_attempt(
    gateway: Gateway, candidate: Candidate, body: dict[str, Any], prefs: ProviderPrefs, timeout_s: float
) -> AttemptResult:
    row = candidate.row
    payload, applied = build_payload(candidate, body, prefs)
    result = new_result(candidate, applied)
    started = time.perf_counter()
    try:
        answer = await gateway.upstream(gateway.catalog.current().backends[row.backend]).chat(
            payload, timeout_s=timeout_s
        )
    except UpstreamTimedOut:
        result.error_code = "timeout"
    except UpstreamUnreachable as exc:
        result.error_code = "unreachable"
        log.warning("upstream unreachable", extra={"model": row.model.id, "backend": row.backend, "error": str(exc)})
    except GatewayError as exc:  # the backend is not configured
        result.error_code = exc.code
    else:
        result.status = answer.status
        result.outcome = classify_response(answer.status, answer.body)
        result.retry_after_s = _retry_after(dict(answer.headers))
        if not result.ok:
            result.error_code = result.outcome.error_code
            log.warning(
                "upstream error",
                extra={
                    "status": answer.status,
                    "model": row.model.id,
                    "provider": row.provider_slug,
                    "backend": row.backend,
                    "upstream_error": result.outcome.message,
                },
            )
    result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    result.record.update(status=result.status, error_code=result.error_code, latency_ms=result.latency_ms)
    record_health(gateway, result, success=result.ok)
    return result


def record_health(gateway: Gateway, result: AttemptResult, *, success: bool) -> None:
    """Feed the health window: a failure cools the target down, unless the request or our key was at fault."""
    key = result.candidate.row.key
    if success:
        gateway.health.succeeded(key)
    elif result.status not in (400, 401, 402, 403):
        gateway.health.failed(key, result.status, result.retry_after_s)
