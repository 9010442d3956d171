"""Anthropic's model list (`GET /v1/models` with an `anthropic-version` header): its object and its paging.

Anthropic pages by cursor: `limit` (1..1000, default 20), then `after_id` (the page after that id) or
`before_id` (the page before it), answering `has_more`, `first_id` and `last_id`, which is what its SDKs'
auto-pagination follows. Errors name the query parameter, as Anthropic's do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from routeway.errors import InvalidRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def rfc3339(unix_seconds: Any) -> str:
    """A release time as Anthropic writes it; unknown is the epoch, as its API documents."""
    seconds = unix_seconds if isinstance(unix_seconds, int) and not isinstance(unix_seconds, bool) else 0
    return datetime.fromtimestamp(max(0, seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def anthropic_model(entry: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's model object for one entry of the OpenAI model list (`services/info.py`)."""
    model: dict[str, Any] = {
        "type": "model",
        "id": entry["id"],
        "display_name": entry.get("name") or entry["id"],
        "created_at": rfc3339(entry.get("created")),
        "lifecycle": "active",
    }
    if isinstance(entry.get("context_length"), int):
        model["max_input_tokens"] = entry["context_length"]
    return model


def page_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit: must be a whole number from 1 to {MAX_LIMIT}, got {raw[:40]!r}.", param="limit")
    return limit


@dataclass(frozen=True)
class Page:
    start: int
    stop: int
    has_more: bool


def page_bounds(ids: Sequence[str], limit: int, *, after_id: str | None, before_id: str | None) -> Page:
    """Which slice of `ids` a page is: the `limit` after `after_id`, before `before_id`, or from the start."""
    if after_id is not None and before_id is not None:
        raise InvalidRequest("Give after_id or before_id, not both.", param="before_id")
    if before_id is not None:
        stop = _index(ids, before_id, "before_id")
        start = max(0, stop - limit)
        return Page(start, stop, start > 0)
    start = 0 if after_id is None else _index(ids, after_id, "after_id") + 1
    stop = min(len(ids), start + limit)
    return Page(start, stop, stop < len(ids))


def _index(ids: Sequence[str], wanted: str, param: str) -> int:
    try:
        return ids.index(wanted)
    except ValueError:
        raise InvalidRequest(f"{param}: no model {wanted[:200]!r} in this list.", param=param) from None


def anthropic_page(
    entries: Sequence[dict[str, Any]], limit: int, *, after_id: str | None, before_id: str | None
) -> dict[str, Any]:
    page = page_bounds([e["id"] for e in entries], limit, after_id=after_id, before_id=before_id)
    data = [anthropic_model(e) for e in entries[page.start : page.stop]]
    return {
        "data": data,
        "has_more": page.has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
