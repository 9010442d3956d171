"""The fallback policy, in one place: what an upstream answer means and what the plan does next.

- A 200 is a success only if it is a real completion: OpenRouter's status matches the error only for
  pre-processing failures, so a 200 can carry an `error` in its body, or HTML from a proxy.
- 429, 5xx, timeouts, unreachable upstreams and a broken 200 move on to the next attempt.
- A 400 is the client's request: never retried on the same target, but the next model of a `models`
  list may accept it; when every attempt was a 400, the first goes back to the client as a 400.
- 401/402/403 mean the upstream key cannot use that backend: its other targets are skipped.
- A composite alias with `fallback_on: hard` moves to its next model only after a hard failure.
- A failure the client or our own key caused (a 4xx other than 408/429) never cools a target down,
  so one key's malformed request cannot take a provider away from every other key; any other does.
- A 200 nested deeper than any real completion is a broken answer too: it could not be written back.
- An attempt the gateway could not send (`backend_unavailable`: the backend is not configured, or its key
  cannot be read) is a hard failure that skips the backend's other targets and cools nothing down; when
  no attempt could be sent, the client is told why (503), not that the upstream failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from routeway.domain.fields import could_nest_deeper_than, nested_deeper_than

OutcomeKind = Literal["success", "client_error", "failed"]
Answer = Literal["chat", "embeddings"]  # what a 200 must hold
FinalError = Literal["client_error", "rate_limited", "timeout", "backend_unavailable", "upstream_error"]
RATE_LIMIT_COOLDOWN_S = 30.0  # a 429 without Retry-After
MAX_COOLDOWN_S = 300.0
MAX_ERROR_MESSAGE = 500
KEY_REFUSED = frozenset({401, 402, 403})  # the upstream key cannot use this backend
NOT_THE_REQUEST = frozenset({408, 429})  # 4xx that say the provider is slow or busy, not that the request is wrong
HARD_FAILURE_CODES = frozenset({"timeout", "unreachable", "invalid_response", "upstream_error_in_body"})
NOT_SENT = "backend_unavailable"  # the gateway could not send the attempt (no status: nothing answered)


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    status: int
    completion: dict[str, Any] | None = None
    error_code: str | None = None
    message: str = ""


def _error_of(document: Any) -> tuple[str | None, str]:
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        error = document["error"]
        code = error.get("code")
        message = error.get("message")
        return (str(code) if code is not None else None), (str(message) if message else "")[:MAX_ERROR_MESSAGE]
    return None, ""


def _answers(document: Any, expect: Answer) -> bool:
    """A real answer: a chat completion with choices, or an embeddings list with vectors."""
    if not isinstance(document, dict):
        return False
    if expect == "embeddings":
        data = document.get("data")
        return isinstance(data, list) and bool(data) and all(isinstance(d, dict) and "embedding" in d for d in data)
    choices = document.get("choices")
    return isinstance(choices, list) and bool(choices) and all(isinstance(c, dict) for c in choices)


def classify_response(status: int, body: bytes, expect: Answer = "chat") -> Outcome:
    try:
        document = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        document = None
    if status == 200 and could_nest_deeper_than(body) and nested_deeper_than(document):
        return Outcome("failed", status, error_code="invalid_response", message="an answer nested too deep")
    if status == 200:
        code, message = _error_of(document)
        if code is not None or message:
            return Outcome("failed", status, error_code="upstream_error_in_body", message=message)
        if not _answers(document, expect):
            what = "an embeddings list" if expect == "embeddings" else "a chat completion"
            return Outcome("failed", status, error_code="invalid_response", message=f"not {what}")
        return Outcome("success", status, completion=document)
    code, message = _error_of(document)
    if not message:
        message = f"upstream answered HTTP {status}"
    if status == 400:
        return Outcome("client_error", status, error_code=code or "bad_request", message=message)
    return Outcome("failed", status, error_code=code or f"http_{status}", message=message)


def not_sent(status: int | None, error_code: str | None) -> bool:
    """The gateway could not send this attempt (backend not configured, its key unreadable): no upstream saw it."""
    return status is None and error_code == NOT_SENT


def is_hard_failure(status: int | None, error_code: str | None) -> bool:
    """5xx, no endpoint (404), timeouts, unreachable, a broken 200, or an attempt that could not be sent:
    what moves a composite alias on."""
    if status is not None and (status >= 500 or status == 404):
        return True
    return error_code in HARD_FAILURE_CODES or not_sent(status, error_code)


def skips_backend(status: int | None, error_code: str | None = None) -> bool:
    """After this, the backend's other targets are not tried: its key is refused there, or cannot be read here."""
    return status in KEY_REFUSED or not_sent(status, error_code)


def cools_down(status: int | None, error_code: str | None = None) -> bool:
    """Whether a failed attempt cools its target: not when the request (400/404/413/422…) or our key was at fault."""
    if not_sent(status, error_code):
        return False
    return status is None or not 400 <= status < 500 or status in NOT_THE_REQUEST


def may_move_on(
    previous_status: int | None, previous_hard: bool, *, same_model: bool, alias_fallback_on: str | None
) -> bool:
    """Whether the plan's next attempt may run after a failed one."""
    if previous_status == 400:
        return not same_model  # another model may accept what this one refused
    if alias_fallback_on == "hard" and not same_model:
        return previous_hard
    return True


def final_error(statuses: list[int | None], error_codes: list[str | None], out_of_time: bool) -> FinalError:
    """What the client is told when no attempt succeeded, from each attempt's status and error code."""
    if statuses and all(map(not_sent, statuses, error_codes)):
        return "backend_unavailable"
    if statuses and all(s == 400 for s in statuses):
        return "client_error"
    if statuses and all(s == 429 for s in statuses):
        return "rate_limited"
    if error_codes and error_codes[-1] == "timeout" and out_of_time:
        return "timeout"
    return "upstream_error"


def retry_after_s(retry_afters: list[float | None]) -> int:
    """When every attempt was rate-limited: the soonest cooldown end (Retry-After capped, else 30 s)."""
    waits = [min(MAX_COOLDOWN_S, r) if r and r > 0 else RATE_LIMIT_COOLDOWN_S for r in retry_afters]
    return max(1, int(min(waits, default=RATE_LIMIT_COOLDOWN_S) + 0.999))
