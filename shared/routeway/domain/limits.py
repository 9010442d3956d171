"""A key's or a team's limits as given (CLI options, admin API JSON), checked before anything is stored.

Each bad value is refused with the field's name as `param`, so the CLI and the admin API say the same thing.
`None` for a field clears it (no budget, no rate limit); a field that is absent is left as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from routeway.domain.globs import parse_globs
from routeway.domain.periods import parse_period
from routeway.errors import InvalidRequest

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TEAM_FIELDS = frozenset({"budget_usd", "period", "rpm", "tpm", "max_parallel", "alert_at"})
KEY_FIELDS = TEAM_FIELDS | {"team", "expires_at", "models", "admin"}
MAX_RATE = 100_000_000


def check_name(name: Any, what: str, param: str = "name") -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequest(f"{what} names are 1-64 letters, digits, '.', '_' or '-'.", param=param)
    return name


def checked_limits(fields: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """The fields, each checked and in its stored form; InvalidRequest naming the first bad one."""
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise InvalidRequest(
            f"Unknown field {unknown[0]!r}; the fields are {', '.join(sorted(allowed))}.", param=unknown[0]
        )
    checked: dict[str, Any] = {}
    for name, value in fields.items():
        checked[name] = _check(name, value)
    return checked


def _check(name: str, value: Any) -> Any:
    if name == "period":
        return parse_period(None if value is None else _text(value, name))
    if value is None:
        return () if name in ("models", "alert_at") else False if name == "admin" else None
    if name == "budget_usd":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise InvalidRequest("A budget is a number of USD above zero (or null for none).", param=name)
        return float(value)
    if name in ("rpm", "tpm", "max_parallel"):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE:
            raise InvalidRequest(f"{name} is a whole number from 1 to {MAX_RATE} (or null for none).", param=name)
        return value
    if name == "alert_at":
        return _fractions(value)
    if name == "expires_at":
        return _instant(_text(value, name))
    if name == "models":
        globs = [value] if isinstance(value, str) else value
        if not isinstance(globs, list | tuple) or not all(isinstance(g, str) for g in globs):
            raise InvalidRequest("models is a list of model globs, e.g. ['anthropic/*'].", param=name)
        parse_globs(list(globs), name)
        return tuple(globs)
    if name == "team":
        return check_name(value, "Team", "team")
    if name == "admin":
        if not isinstance(value, bool):
            raise InvalidRequest("admin is true or false.", param=name)
        return value
    raise InvalidRequest(f"Unknown field {name!r}.", param=name)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} is a string.", param=name)
    return value


def _fractions(value: Any) -> tuple[float, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or len(items) > 10:
        raise InvalidRequest("alert_at is up to 10 fractions of the budget, e.g. 0.5,0.9.", param="alert_at")
    fractions = []
    for item in items:
        try:
            fraction = float(item)
        except (TypeError, ValueError):
            raise InvalidRequest(f"alert_at: {str(item)[:20]!r} is not a number.", param="alert_at") from None
        if isinstance(item, bool) or not 0 < fraction <= 1:
            raise InvalidRequest("alert_at fractions are above 0 and at most 1, e.g. 0.5,0.9.", param="alert_at")
        fractions.append(fraction)
    return tuple(sorted(set(fractions)))


def _instant(text: str) -> str:
    """An ISO 8601 time (a date alone is its midnight UTC; no zone means UTC) as `YYYY-MM-DDTHH:MM:SSZ`."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"expires_at {text[:40]!r} is not an ISO 8601 time, e.g. 2027-01-31T00:00:00Z.", param="expires_at"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
