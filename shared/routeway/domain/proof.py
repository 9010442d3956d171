"""The route proof: what was asked, how it was planned, every attempt, and who answered.

One typed object per request, filled in as the request goes (planned → attempted → won), read by
every face the same way: `headers()` for the `x-routeway-*` headers, `as_dict()` for the `route`
object in a body, a stream's last event and the generation record. It never holds prompt text or keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routeway.domain.header_text import header_text

APPLIED_HEADER_CHARS = 1000  # several entries of up to MAX_HEADER_CHARS each


@dataclass
class AttemptRecord:
    """One upstream attempt as the proof and the record show it."""

    model: str
    provider: str | None
    provider_slug: str | None
    backend: str
    applied: list[str] = field(default_factory=list)
    stream: bool = False
    status: int | None = None
    error_code: str | None = None
    latency_ms: float = 0.0
    stream_error: str | None = None
    cost_usd: float | None = None  # an attempt abandoned after the upstream accepted it: what it was charged

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "model": self.model,
            "provider": self.provider,
            "provider_slug": self.provider_slug,
            "backend": self.backend,
            "applied": list(self.applied),
            "status": self.status,
            "error_code": self.error_code,
            "latency_ms": self.latency_ms,
        }
        if self.stream:
            shown.update(stream=True, stream_error=self.stream_error)
        if self.cost_usd is not None:
            shown["cost_usd"] = self.cost_usd
        return shown


@dataclass
class RouteProof:
    generation_id: str
    requested_model: str | None = None
    mode: str | None = None
    alias: str | None = None
    objective: str | None = None
    task: str | None = None
    catalog_version: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    model: str | None = None
    provider: str | None = None
    provider_slug: str | None = None
    backend: str | None = None
    applied: list[str] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    resolved: list[str] = field(default_factory=list)  # `model_resolved=<id>` for a vendor's own name
    notes: list[str] = field(default_factory=list)  # rewrites of the request itself (`first_token_timeout_floored=1`)

    def planned(self, *, mode: str, alias: str | None, objective: str, task: str | None, catalog_version: str) -> None:
        self.mode, self.alias, self.objective, self.task = mode, alias, objective, task
        self.catalog_version = catalog_version

    def won(self, attempt: AttemptRecord, *, provider: str | None, reason: list[str]) -> None:
        """The attempt that answered; `provider` is who really served it (OpenRouter may say)."""
        self.model = attempt.model
        self.provider = provider
        self.provider_slug = attempt.provider_slug
        self.backend = attempt.backend
        self.applied = [*self.resolved, *self.notes, *attempt.applied]
        self.reason = list(reason)

    def headers(self) -> dict[str, str]:
        """The `x-routeway-*` headers of an answer (a stream that began before a winner lacks model and backend).

        Model, backend and provider come from the catalog and the upstream: each value is made header-safe here,
        the one place answers' headers are built, so no upstream string can fail or split an answer."""
        headers = {
            "x-routeway-generation-id": self.generation_id,
            "x-routeway-attempts": str(len(self.attempts)),
            "x-routeway-catalog-version": str(self.catalog_version),
        }
        if self.model is not None:
            headers["x-routeway-model"] = self.model
        if self.backend is not None:
            headers["x-routeway-backend"] = self.backend
        if self.provider:
            headers["x-routeway-provider"] = self.provider
        headers = {name: header_text(value) for name, value in headers.items()}
        if self.applied:
            applied = ",".join(header_text(entry) for entry in self.applied)
            headers["x-routeway-applied"] = header_text(applied, limit=APPLIED_HEADER_CHARS)
        return headers

    def error_headers(self) -> dict[str, str]:
        """What an error answer carries: the generation id, the attempts made (0 when refused before any), and the
        catalog version once one was read."""
        headers = {"x-routeway-generation-id": self.generation_id, "x-routeway-attempts": str(len(self.attempts))}
        if self.catalog_version is not None:
            headers["x-routeway-catalog-version"] = header_text(self.catalog_version)
        return headers

    def attempts_as_dicts(self) -> list[dict[str, Any]]:
        return [a.as_dict() for a in self.attempts]

    def as_dict(self) -> dict[str, Any]:
        return {
            "generation_id": self.generation_id,
            "requested_model": self.requested_model,
            "mode": self.mode,
            "alias": self.alias,
            "objective": self.objective,
            "task": self.task,
            "catalog_version": self.catalog_version,
            "attempts": self.attempts_as_dicts(),
            "model": self.model,
            "provider": self.provider,
            "provider_slug": self.provider_slug,
            "backend": self.backend,
            "applied": list(self.applied),
            "reason": list(self.reason),
            "latency_ms": self.latency_ms,
        }
