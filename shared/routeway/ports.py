"""The seams between the core and the outside world. Adapters implement these; tests fake them.

Only `routeway.wiring` (and the Lambda/serve entry points through it) builds adapters; the core sees
these protocols and nothing else.

Stores raise routeway.errors.StoreUnavailable when the backing service cannot be reached, and
ConflictError when a conditional write loses its race. The store protocols are blocking (SQLite,
boto3): the core never calls them on the event loop, but through `routeway.off_loop`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from routeway.domain.catalog import Backend
from routeway.domain.records import (
    ApiKeyRecord,
    BudgetFigures,
    CatalogVersion,
    GenerationRecord,
    Hold,
    HoldNote,
    MinuteCount,
    OpenHold,
    Rollup,
    StoredResponse,
    TeamRecord,
)
from routeway.errors import RoutewayError, UpstreamFailure


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

    def update_key(self, name: str, change: Callable[[ApiKeyRecord], ApiKeyRecord]) -> ApiKeyRecord | None:
        """Replace the named key's record with `change(record)` in place (None: no such key); a change that
        raises leaves it as it was. Two updates racing never lose either's change."""
        ...

    def create_team(self, record: TeamRecord) -> None:
        """Add a team; ConflictError if the name is taken."""
        ...

    def find_team(self, name: str) -> TeamRecord | None: ...

    def list_teams(self) -> list[TeamRecord]: ...

    def update_team(self, name: str, change: Callable[[TeamRecord], TeamRecord]) -> TeamRecord | None: ...

    def reserve(
        self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int, rpm: MinuteCount | None = None
    ) -> BudgetFigures | None:
        """Hold `hold.usd` if spend + open holds + it stay within the budget, atomically: None when held,
        else the figures that refused it. Holding the same id again raises its hold (from `before_usd`) to
        `hold.usd`, on the same condition; it never lowers it. With `rpm`, the request is also counted in its
        key's minute, in the same write where the store can (MinuteFull, nothing held, when the minute is full;
        a budget refusal counts nothing)."""
        ...

    def settle(
        self,
        key_hash: str,
        generation_id: str,
        cost_usd: float,
        held_usd: float,
        expires_at: int,
        record: GenerationRecord | None = None,
        rollup: Rollup | None = None,
    ) -> bool:
        """Charge a generation's cost once and release its hold (of `held_usd`; 0 when none was taken).

        Conditional on the generation not being charged yet, so a retried write never charges twice;
        False when it already was. The charge marker lives until `expires_at`. `record`, when given, is
        written with it in one store round trip (SQLite: the same transaction; DynamoDB: a PutItem beside
        the charge's transaction); it is written even when the charge already was. `rollup` is added to the
        spend report in the charge's own write, so it counts exactly when the charge does.
        """
        ...

    def spend_rollups(self, since_day: str, until_day: str) -> list[Rollup]:
        """The spend report's lines from `since_day` to `until_day` (YYYY-MM-DD, both included)."""
        ...

    def note_attempt(self, key_hash: str, generation_id: str, note: HoldNote) -> bool:
        """Add an accepted attempt to the generation's open hold (what reconciliation looks up); False when the
        generation holds nothing (settled, released, or never held)."""
        ...

    def open_holds(self, now_epoch: int, *, key_hash: str | None = None, limit: int = 100) -> list[OpenHold]:
        """Open holds (of one key, or all), at most `limit`: expired ones first. An expired hold that carries
        notes is never released by `reserve`; only a settle (reconciliation's) removes it."""
        ...

    def count_minute(self, key_hash: str, rpm: MinuteCount) -> None:
        """Count a request that holds nothing against its budgeted key's rpm, in the counter `reserve` counts
        in: MinuteFull when the minute is full (nothing counted)."""
        ...

    def count_request(self, key_hash: str, window: int, expires_at: int) -> int:
        """Count one request in a key's fixed rate window; return the window's count so far (a sharded key:
        a count within its limit when admitted, above it when not)."""
        ...

    def take_tokens(self, counter: str, window: int, tokens: int, limit: int | None, expires_at: int) -> int | None:
        """Add `tokens` to the counter's minute `window` if the minute stays within `limit` (None: always, as a
        settle's correction does; `tokens` may be negative): None when added, else the minute's count so far."""
        ...

    def enter(self, counter: str, slot: str, limit: int, until: int, now_epoch: int) -> int | None:
        """Open one of the counter's `limit` parallel slots for `slot` (a request) until `until` (when a dead
        request's slot lapses): None when taken, else how many are open."""
        ...

    def leave(self, counter: str, slot: str, until: int) -> None:
        """Close the slot `enter` opened (a no-op when it is not open)."""
        ...

    def claim_alert(self, alert_id: str, expires_at: int) -> bool:
        """True the first time `alert_id` is claimed (until `expires_at`): an alert is sent once however many
        processes see its threshold crossed."""
        ...

    def budget_figures(self, key_hash: str) -> BudgetFigures:
        """What the key has spent and what its open requests hold, summed over its shards when it has them."""
        ...

    def set_shards(self, name: str, shards: int, now_epoch: int) -> int:
        """Spread the named key's budget and rpm counters over `shards` items (docs/SCALE.md section 4);
        returns the count it had. InvalidRequest where the store has no such thing, NotFound for no key."""
        ...

    def migrate_layout(self) -> dict[str, int]:
        """Move items still on an older layout of the store to the current one (`routeway store migrate`): what
        moved, by kind. Idempotent and resumable; safe while gateways serve."""
        ...

    def put_generation(self, record: GenerationRecord) -> None: ...

    def get_generation(self, generation_id: str, now_epoch: int) -> GenerationRecord | None: ...

    def put_response(self, record: StoredResponse) -> None:
        """Keep a Responses API answer and its conversation (until `expires_at`)."""
        ...

    def get_response(self, response_id: str, now_epoch: int) -> StoredResponse | None: ...

    def delete_response(self, response_id: str, owner: str) -> bool:
        """Remove a stored response if `owner` made it; False if there was none of theirs."""
        ...


@dataclass(frozen=True)
class Oversize:
    """An answer over the size the entry can return: its size and its two ends (its id, its usage)."""

    total_bytes: int
    head: bytes
    tail: bytes


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    body: bytes  # empty when `oversize` is set: the answer was read to its end but not kept
    headers: Mapping[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0
    oversize: Oversize | None = None


class UpstreamStream(Protocol):
    """An upstream answer whose body arrives in pieces (SSE)."""

    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; transport failures raise UpstreamNoAnswer / UpstreamUnreachable."""
        ...

    async def read(self) -> bytes:
        """The whole (error) body, for answers that are not a stream."""
        ...


class Upstream(Protocol):
    """An OpenAI-compatible chat endpoint (OpenRouter, vLLM, Ollama)."""

    async def chat(
        self, payload: Mapping[str, Any], *, timeout_s: float, max_bytes: int | None = None
    ) -> UpstreamResponse:
        """POST a chat completion; an answer over `max_bytes` comes back with `oversize`, not its body."""
        ...

    async def embeddings(
        self, payload: Mapping[str, Any], *, timeout_s: float, max_bytes: int | None = None
    ) -> UpstreamResponse:
        """POST an OpenAI embeddings request (`/embeddings` under the base URL)."""
        ...

    def open_stream(
        self, payload: Mapping[str, Any], *, first_byte_s: float, idle_s: float
    ) -> AbstractAsyncContextManager[UpstreamStream]:
        """POST a streaming chat request; the answer's status and headers are known on entry."""
        ...

    async def get(self, path: str, params: Mapping[str, str] | None = None, *, timeout_s: float) -> UpstreamResponse:
        """GET a document under the upstream's base URL (catalog listings)."""
        ...


class Upstreams(Protocol):
    """Hands out the upstream client for a backend (one per backend and process)."""

    def for_backend(self, backend: Backend) -> Upstream:
        """The backend's client; BackendUnavailable when it is deprecated, planned or has no base URL."""
        ...

    async def aclose(self) -> None:
        """Close this event loop's connections (the CLI and the refresh handler, before their loop ends)."""
        ...


Progress = Callable[[str, int, int], None]  # (stage, done, total)


class SourceError(RoutewayError):
    """A catalog source could not give a complete catalog (unreachable, garbage, out of time)."""


@dataclass
class RawCatalog:
    """A catalog as the source gave it, before normalisation: model lists, endpoints, providers."""

    model_lists: list[Any]
    endpoints_by_id: dict[str, Any]
    providers: Any
    backend_models: dict[str, list[str]] = field(default_factory=dict)


class CatalogSource(Protocol):
    name: str

    async def fetch(self, progress: Progress | None = None) -> RawCatalog:
        """Every model of every output modality, their endpoints and the providers; SourceError if not."""
        ...


class CatalogSources(Protocol):
    """Where a refresh can read the catalog from."""

    def openrouter(self, deadline_s: float) -> CatalogSource: ...

    def directory(self, path: Path) -> CatalogSource:
        """A folder of OpenRouter's JSON answers (models.json, endpoints.json, providers.json)."""
        ...


class SecretProvider(Protocol):
    def get(self, name: str) -> str | None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock epoch seconds."""
        ...

    def monotonic(self) -> float: ...


class UpstreamUnreachable(UpstreamFailure):
    """The upstream could not be reached: connection refused or reset, DNS, TLS."""


class UpstreamNoAnswer(UpstreamFailure):
    """The upstream did not answer within the time the attempt was given (the gateway's own 504 to the client is
    `errors.UpstreamTimeout`)."""


class Telemetry(Protocol):
    """Metrics about each completion and each catalog refresh (EMF in Lambda; nothing locally)."""

    def completion(
        self,
        *,
        latency_ms: float,
        attempts: int,
        cost_usd: float | None,
        error_code: str | None,
        catalog_age_s: float | None,
    ) -> None: ...

    def catalog_refreshed(self, *, outcome: str, catalog_age_s: float | None) -> None:
        """After every refresh, whatever its outcome: how old the catalog being served is (None: unknown)."""
        ...


class Alerts(Protocol):
    """Where a budget threshold alert goes (PRODUCT.md "A team's money": EventBridge on AWS, a webhook, a log)."""

    async def budget_threshold_crossed(self, detail: Mapping[str, Any]) -> None:
        """Send it; a failure is logged by the adapter, never raised (the money is already written)."""
        ...


class NoAlerts:
    async def budget_threshold_crossed(self, detail: Mapping[str, Any]) -> None:
        del detail


class NoTelemetry:
    def completion(self, **_fields: Any) -> None:
        return None

    def catalog_refreshed(self, **_fields: Any) -> None:
        return None
