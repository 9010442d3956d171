"""Gateway keys: created once and shown once, stored as a SHA-256 hash and a display prefix.

A presented key is looked up only by its hash, so its content (SQL, JSON, 10 kB of junk) never
reaches a query, and it is never echoed in an error or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from routeway.domain.records import ApiKeyRecord
from routeway.errors import InvalidApiKey, InvalidRequest
from routeway.ports import Clock, StateStore

KEY_PREFIX = "rw-"
DISPLAY_PREFIX_CHARS = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def iso_now(clock: Clock) -> str:
    return datetime.fromtimestamp(clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_key(
    state: StateStore,
    clock: Clock,
    name: str,
    *,
    budget_usd: float | None = None,
    rpm: int | None = None,
    models: tuple[str, ...] = (),
) -> tuple[str, ApiKeyRecord]:
    """Make a key and store its hash. Returns the key itself, which is never stored."""
    if not _NAME.match(name):
        raise InvalidRequest("Key names are 1-64 letters, digits, '.', '_' or '-'.", param="name")
    if budget_usd is not None and budget_usd < 0:
        raise InvalidRequest("The budget must be zero or more.", param="budget_usd")
    if rpm is not None and rpm < 1:
        raise InvalidRequest("The rate limit must be at least 1 request per minute.", param="rpm")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        name=name,
        key_hash=hash_key(key),
        prefix=key[:DISPLAY_PREFIX_CHARS],
        created_at=iso_now(clock),
        budget_usd=budget_usd,
        rpm=rpm,
        models=models,
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


def authenticate(state: StateStore, key: str | None) -> ApiKeyRecord:
    """The key's record, or InvalidApiKey. A store that cannot answer raises StoreUnavailable (503)."""
    if not key:
        raise InvalidApiKey("Missing gateway key: send 'Authorization: Bearer <key>' or 'x-api-key'.")
    digest = hash_key(key)
    record = state.find_key(digest)
    if record is None or not hmac.compare_digest(record.key_hash, digest) or record.revoked:
        raise InvalidApiKey("Invalid gateway key.")
    return record
