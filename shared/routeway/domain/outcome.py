"""What one upstream answer means: a usable completion, the client's fault, or a failed attempt.

OpenRouter's status codes match the error only for pre-processing failures: a 200 can carry an
`error` in its body, or HTML from a proxy, so a 200 is a success only if it is a real completion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

OutcomeKind = Literal["success", "client_error", "failed"]
MAX_ERROR_MESSAGE = 500


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


def classify_response(status: int, body: bytes) -> Outcome:
    try:
        document = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        document = None
    if status == 200:
        code, message = _error_of(document)
        if code is not None or message:
            return Outcome("failed", status, error_code="upstream_error_in_body", message=message)
        if not isinstance(document, dict) or not isinstance(document.get("choices"), list) or not document["choices"]:
            return Outcome("failed", status, error_code="invalid_response", message="not a chat completion")
        return Outcome("success", status, completion=document)
    code, message = _error_of(document)
    if not message:
        message = f"upstream answered HTTP {status}"
    if status == 400:
        return Outcome("client_error", status, error_code=code or "bad_request", message=message)
    return Outcome("failed", status, error_code=code or f"http_{status}", message=message)
