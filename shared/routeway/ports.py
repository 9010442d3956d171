"""The seams between services and the outside world. Adapters implement these; tests fake them.

Stores raise routeway.errors.StoreUnavailable when the backing service cannot be reached, and
ConflictError when a conditional write loses its race.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from routeway.domain.records import ApiKeyRecord, CatalogVersion, GenerationRecord


class SnapshotStore(Protocol):
    def put_snapshot(self, version: str, data: bytes) -> bool:
        """Store a snapshot under its content version; never overwrite. True if newly written."""
        ...

    def get_snapshot(self, version: str) -> bytes | None: ...


class StateStore(Protocol):
    def get_pointer(self) -> CatalogVersion | None: ...

    def publish(self, entry: CatalogVersion, expected_version: str | None) -> None:
        """Record `entry` in history and point at it, if the live version is still `expected_version`."""
        ...

    def list_history(self) -> list[CatalogVersion]: ...

    def create_key(self, record: ApiKeyRecord) -> None:
        """Add a key; ConflictError if the name is taken."""
        ...

    def find_key(self, key_hash: str) -> ApiKeyRecord | None: ...

    def list_keys(self) -> list[ApiKeyRecord]: ...

    def revoke_key(self, name: str) -> bool: ...

    def add_spend(self, key_hash: str, usd: float) -> None:
        """Add to a key's spend atomically (DynamoDB ADD; one SQLite UPDATE)."""
        ...

    def count_request(self, key_hash: str, window: int, expires_at: int) -> int:
        """Count one request in a key's fixed rate window; return the window's count so far."""
        ...

    def put_generation(self, record: GenerationRecord) -> None: ...

    def get_generation(self, generation_id: str, now_epoch: int) -> GenerationRecord | None: ...


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0


class UpstreamStream(Protocol):
    """An upstream answer whose body arrives in pieces (SSE)."""

    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; transport failures raise UpstreamTimedOut / UpstreamUnreachable."""
        ...

    async def read(self) -> bytes:
        """The whole (error) body, for answers that are not a stream."""
        ...


class Upstream(Protocol):
    """An OpenAI-compatible chat endpoint (OpenRouter, vLLM, Ollama)."""

    async def chat(self, payload: Mapping[str, Any], *, timeout_s: float) -> UpstreamResponse: ...

    def open_stream(
        self, payload: Mapping[str, Any], *, first_byte_s: float, idle_s: float
    ) -> AbstractAsyncContextManager[UpstreamStream]:
        """POST a streaming chat request; the answer's status and headers are known on entry."""
        ...

    async def get(self, path: str, params: Mapping[str, str] | None = None, *, timeout_s: float) -> UpstreamResponse:
        """GET a document under the upstream's base URL (catalog listings)."""
        ...


class SecretProvider(Protocol):
    def get(self, name: str) -> str | None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock epoch seconds."""
        ...

    def monotonic(self) -> float: ...


class UpstreamUnreachable(Exception):
    """The upstream could not be reached: connection refused or reset, DNS, TLS."""


class UpstreamTimedOut(Exception):
    """The upstream did not answer within the time the attempt was given."""


class Telemetry(Protocol):
    """Metrics about each completion (EMF in Lambda; nothing locally)."""

    def completion(
        self,
        *,
        latency_ms: float,
        attempts: int,
        cost_usd: float | None,
        error_code: str | None,
        catalog_age_s: float | None,
    ) -> None: ...


class NoTelemetry:
    def completion(self, **_fields: Any) -> None:
        return None
