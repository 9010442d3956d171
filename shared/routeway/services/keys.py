"""Gateway keys: created once and shown once, stored as a SHA-256 hash and a display prefix.

A presented key is looked up only by its hash, so its content (SQL, JSON, 10 kB of junk) never
reaches a query, and it is never echoed in an error or a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from routeway.domain.catalog import Catalog
from routeway.domain.globs import NO_GLOBS, GlobSet, parse_globs
from routeway.domain.limits import KEY_FIELDS, check_name, checked_limits
from routeway.domain.plan import FAN_OUT_MODE, FREE_MODE, ROUTER_MODES
from routeway.domain.records import ApiKeyRecord
from routeway.domain.scopes import budget_scopes
from routeway.domain.wire import ChatRequest
from routeway.errors import InvalidApiKey, InvalidRequest, KeyExpired, NotFound
from routeway.off_loop import OffLoopState
from routeway.ports import Clock, StateStore

KEY_PREFIX = "rw-"
DISPLAY_PREFIX_CHARS = 10


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_globs(key: ApiKeyRecord | None) -> GlobSet:
    """The models a key may use (`keys create --models`); no list (or no key): every model."""
    return parse_globs(list(key.models), "models") if key and key.models else NO_GLOBS


def find_key_blocking(state: StateStore, key: str) -> ApiKeyRecord:
    """The CLI's lookup of a presented key (the same rules as `authenticate`, on the blocking store)."""
    digest = hash_key(key)
    record = state.find_key(digest)
    if record is None or not hmac.compare_digest(record.key_hash, digest) or record.revoked:
        raise InvalidApiKey("Invalid gateway key.")
    return record


def iso_now(clock: Clock) -> str:
    return iso_at(clock.now())


def iso_at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_key(
    state: StateStore,
    clock: Clock,
    name: str,
    *,
    budget_usd: float | None = None,
    rpm: int | None = None,
    models: tuple[str, ...] = (),
    **limits: Any,
) -> tuple[str, ApiKeyRecord]:
    """Make a key and store its hash. Returns the key itself, which is never stored. `limits` are the other
    fields of domain/limits.KEY_FIELDS (team, period, tpm, max_parallel, expires_at, alert_at, admin)."""
    check_name(name, "Key")
    fields = checked_limits({"budget_usd": budget_usd, "rpm": rpm, "models": models, **limits}, KEY_FIELDS)
    if fields.get("team") and state.find_team(fields["team"]) is None:
        raise NotFound(f"No team named {fields['team']!r}; create it with `routeway teams create`.", param="team")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        name=name, key_hash=hash_key(key), prefix=key[:DISPLAY_PREFIX_CHARS], created_at=iso_now(clock), **fields
    )
    state.create_key(record)
    return key, record


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from `Authorization: Bearer <key>` or `x-api-key`, if either carries one."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    return None


class KeyCache:
    """Key records read in the last `ttl_s` seconds (ROUTEWAY_KEY_CACHE_S), so a request skips the store read.

    Only keys without a budget are kept: a budgeted key's spend is read fresh on every request (the
    refusal before any upstream call reads it), so nothing money-related ever reads a stale record;
    holds are atomic in the store anyway. What a cached record may miss for up to `ttl_s`: a revocation.

    Unknown and revoked keys are remembered too, for the same `ttl_s` (the negative cache): a burst of junk
    keys costs one store read per distinct key per period, not one per request. They live in their own
    bounded LRU, so a flood of junk never pushes out the records of real keys. A key created or changed through
    this process (the admin API) is forgotten at once (`forget`), so it works on its next request; a new key's
    secret is random, so no other process can have presented it before it existed.
    """

    MAX_ENTRIES = 10_000
    MAX_UNKNOWN = 10_000

    def __init__(self, ttl_s: float, clock: Clock) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._records: dict[str, tuple[float, ApiKeyRecord]] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()  # digest -> monotonic time it is forgotten
        self._reading: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}

    def get(self, digest: str) -> ApiKeyRecord | None:
        entry = self._records.get(digest)
        if entry is None:
            return None
        if self._clock.monotonic() >= entry[0]:
            del self._records[digest]
            return None
        return entry[1]

    def is_unknown(self, digest: str) -> bool:
        """Whether the store said, less than `ttl_s` ago, that no usable key has this hash."""
        until = self._unknown.get(digest)
        if until is None:
            return False
        if self._clock.monotonic() >= until:
            del self._unknown[digest]
            return False
        self._unknown.move_to_end(digest)
        return True

    def forget(self, digest: str) -> None:
        """A key created, changed or revoked through this process (the admin API under `serve`): read it again."""
        self._records.pop(digest, None)
        self._unknown.pop(digest, None)

    def keep(self, record: ApiKeyRecord) -> None:
        changes_matter = record.budget_usd is not None or record.team or record.expires_at or record.admin
        if self.ttl_s <= 0 or changes_matter or record.revoked:
            return
        if len(self._records) >= self.MAX_ENTRIES:
            self._records.clear()  # a flood of distinct keys: start over rather than grow
        self._records[record.key_hash] = (self._clock.monotonic() + self.ttl_s, record)

    def keep_unknown(self, digest: str) -> None:
        if self.ttl_s <= 0:
            return
        self._unknown[digest] = self._clock.monotonic() + self.ttl_s
        self._unknown.move_to_end(digest)
        while len(self._unknown) > self.MAX_UNKNOWN:
            self._unknown.popitem(last=False)  # the least recently seen

    async def read(
        self, digest: str, find: Callable[[], Awaitable[ApiKeyRecord | None]], *, fresh: bool = False
    ) -> ApiKeyRecord | None:
        """`find()`, unless the same hash is being read already on this loop: then wait for that read and take
        what it left in the cache (an unknown key; a cacheable record unless `fresh`), reading only when it left
        nothing (a read begun before this request may miss what this one must see)."""
        loop = asyncio.get_running_loop()
        reading = self._reading.get(digest)
        if reading is not None and reading[0] is loop:
            await reading[1].wait()
            if self.is_unknown(digest):
                return None
            cached = None if fresh else self.get(digest)
            return cached if cached is not None else await find()
        done = asyncio.Event()
        self._reading[digest] = (loop, done)
        try:
            record = await find()
            if record is None or record.revoked or not hmac.compare_digest(record.key_hash, digest):
                self.keep_unknown(digest)
            else:
                self.keep(record)
            return record
        finally:
            done.set()
            if self._reading.get(digest, (None,))[0] is loop:
                del self._reading[digest]


async def authenticate(
    state: OffLoopState,
    key: str | None,
    cache: KeyCache | None = None,
    now: float | None = None,
    *,
    fresh: bool = False,
) -> ApiKeyRecord:
    """The key's record, or InvalidApiKey (KeyExpired past its `expires_at`, when `now` is given). A store that
    cannot answer raises StoreUnavailable (503). `fresh`: a known key is read from the store, never from the
    cache (what reports spend); an unknown one is still refused from the negative cache."""
    if not key:
        raise InvalidApiKey("Missing gateway key: send 'Authorization: Bearer <key>' or 'x-api-key'.")
    digest = hash_key(key)
    if cache is None:
        record = await state.find_key(digest)
    elif cache.is_unknown(digest):
        record = None
    else:
        record = None if fresh else cache.get(digest)
        if record is None:
            record = await cache.read(digest, lambda: state.find_key(digest), fresh=fresh)
    if record is None or not hmac.compare_digest(record.key_hash, digest) or record.revoked:
        raise InvalidApiKey("Invalid gateway key.")
    if now is not None and record.expires_at and record.expires_at <= iso_at(now):
        raise KeyExpired(f"This gateway key expired at {record.expires_at}.")
    return record


MAX_SHARDS = 99  # the key item and every shard in one DynamoDB transaction (100 items): revocation stays atomic


def shard_key(state: StateStore, clock: Clock, name: str, shards: int) -> int:
    """Spread a hot key's budget and rpm counters over `shards` store items (docs/SCALE.md section 4); returns
    how many it had."""
    if not 1 <= shards <= MAX_SHARDS:
        raise InvalidRequest(f"A key has 1 to {MAX_SHARDS} shards.", param="shards")
    return state.set_shards(name, shards, int(clock.now()))


async def describe_key(state: OffLoopState, key: ApiKeyRecord, now: float) -> dict[str, object]:
    """GET /v1/key; a sharded key's spend is summed over its shards (an authentication read sees one); a
    periodic budget's spend is its current period's."""
    if key.shards > 1:
        figures = await state.budget_figures(key.key_hash)
        key = key.model_copy(update={"spend_usd": figures.spend_usd})
    summary = key_summary(key)
    scopes = budget_scopes(key, None, now)
    if scopes and scopes[0].account != key.key_hash:
        summary["period_spend_usd"] = round((await state.budget_figures(scopes[0].account)).spend_usd, 8)
        summary["resets_at"] = scopes[0].window.resets_at
    return summary


def key_summary(key: ApiKeyRecord) -> dict[str, object]:
    """GET /v1/key: what the caller's key may do and has spent (like OpenRouter's /api/v1/key)."""
    return {
        "name": key.name,
        "prefix": key.prefix,
        "spend_usd": round(key.spend_usd, 8),
        "budget_usd": key.budget_usd,
        "rpm": key.rpm,
        "models": list(key.models),
        "period": key.period,
        "team": key.team,
        "tpm": key.tpm,
        "max_parallel": key.max_parallel,
        "expires_at": key.expires_at,
    }


def fixed_models(catalog: Catalog, request: ChatRequest) -> tuple[str, ...]:
    """The models a request names itself (checked against a key's list); none for routing modes and aliases."""
    if request.model in ROUTER_MODES or request.model in (FREE_MODE, FAN_OUT_MODE) or request.model in catalog.aliases:
        return ()
    return (request.model, *[m for m in request.models if m != request.model])
