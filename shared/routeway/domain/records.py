"""What the state store keeps: the catalog pointer and history, gateway keys, generation records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CatalogVersion(BaseModel):
    """One published snapshot. The pointer names the live one; history keeps them all."""

    model_config = ConfigDict(frozen=True)

    version: str
    created_at: str
    model_count: int
    published_at: str = ""


class ApiKeyRecord(BaseModel):
    """A gateway key as stored: a hash and a display prefix, never the key itself."""

    model_config = ConfigDict(frozen=True)

    name: str
    key_hash: str
    prefix: str
    created_at: str
    revoked: bool = False
    budget_usd: float | None = None
    rpm: int | None = None
    models: tuple[str, ...] = ()
    spend_usd: float = 0.0
    team: str | None = None
    period: str = "total"  # the budget's period (domain/periods.py)
    period_anchor: int = 0  # epoch seconds of the last period change: no period starts before it
    tpm: int | None = None
    max_parallel: int | None = None
    expires_at: str | None = None  # ISO 8601; past it the key answers 401 key_expired
    alert_at: tuple[float, ...] = ()  # fractions of the period's budget that raise an alert once per period
    admin: bool = False  # an admin key calls /admin/v1 and no model
    # how many shard items carry its budget and rpm counters on the AWS store (docs/SCALE.md section 4); a
    # property of where the counters live, not of the record, so it is never part of the stored record JSON
    shards: int = Field(default=1, exclude=True)


class TeamRecord(BaseModel):
    """A team: keys that share a budget (for its period) and rate limits; none of its keys' secrets."""

    model_config = ConfigDict(frozen=True)

    name: str
    created_at: str
    budget_usd: float | None = None
    period: str = "total"
    period_anchor: int = 0
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    alert_at: tuple[float, ...] = ()


@dataclass(frozen=True)
class Hold:
    """What a request holds against its key's budget until it is settled (PRODUCT.md "Money and trust").

    `id` is the generation's id: a generation holds once and is charged once. A hold that outlives
    `expires_at` (its process died) no longer counts and is released by the next refused reservation.
    """

    id: str
    usd: float
    expires_at: int
    before_usd: float = 0.0  # what this generation already holds: a fallback to a dearer attempt raises it
    owner: str = ""  # the process that took it ("host:pid:nonce"): a restart reconciles its dead predecessor's


@dataclass(frozen=True)
class MinuteCount:
    """A request counted against its key's rpm in the same write as its first hold (docs/SCALE.md section 0):
    the fixed 60 s `window`, the `limit`, and when a counter item may expire."""

    window: int
    limit: int
    expires_at: int


@dataclass(frozen=True)
class HoldNote:
    """An attempt the upstream accepted, written on its request's hold as soon as it answers, so a hold
    whose process died can still be charged: looked up by `upstream_id` on `backend`, else `estimate_usd`."""

    backend: str
    upstream_id: str | None
    estimate_usd: float


@dataclass(frozen=True)
class OpenHold:
    """A hold as the store keeps it, for reconciliation (services/reconcile.py)."""

    key_hash: str
    generation_id: str
    usd: float
    expires_at: int
    owner: str = ""
    notes: tuple[HoldNote, ...] = ()


@dataclass(frozen=True)
class Rollup:
    """A line of the spend report: requests, tokens and cost of one key on one model on one day (UTC), under
    the team the key was in. Each request adds its line in the same store write as its charge."""

    day: str  # YYYY-MM-DD
    key_name: str
    model: str
    team: str = ""
    requests: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class BudgetFigures:
    """A key's money when a reservation was refused: what is spent and what open requests hold."""

    spend_usd: float
    held_usd: float


class GenerationRecord(BaseModel):
    """How one request was routed and what it cost. No prompt, no completion, no key."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: str
    expires_at: int  # epoch seconds; the DynamoDB TTL attribute
    key_name: str | None = None
    requested_model: str | None = None
    status: str  # "success" | "error"
    http_status: int
    error_code: str | None = None
    catalog_version: str | None = None
    route: dict[str, Any] = Field(default_factory=dict)
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    excess_usd: float | None = None  # billed by the upstream past the hold: never charged to the key


class StoredResponse(BaseModel):
    """A Responses API answer kept for `GET /v1/responses/{id}` and `previous_response_id`.

    `owner` is the hash of the key that made it ("" when auth is off): never the key itself. A turn is stored
    once: `input` is what this turn added, `earlier` the ids of the turns before it, oldest first (None: a record
    stored before turns were kept one by one, whose `input` is the whole conversation up to it); `response` is
    what the client got.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    owner: str
    created_at: str
    expires_at: int  # epoch seconds; the DynamoDB TTL attribute
    input: list[dict[str, Any]] = Field(default_factory=list)
    response: dict[str, Any] = Field(default_factory=dict)
    earlier: list[str] | None = None
