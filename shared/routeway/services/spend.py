"""The spend report (`GET /admin/v1/spend`): the per-(key, model, day) lines each charge wrote, summed by the
groups asked for, as JSON or CSV. Its `cost_usd` sums to what the clients were charged, since each line was
added in the same store write as its charge.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from routeway.domain.records import Rollup
from routeway.errors import InvalidRequest

GROUPS = ("team", "key", "model", "day")
FIGURES = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")
MAX_DAYS = 366
DEFAULT_DAYS = 30


def report_range(since: str | None, until: str | None, now_epoch: float) -> tuple[str, str]:
    """`since` and `until` as YYYY-MM-DD, both included: by default the last 30 days up to today (UTC)."""
    today = datetime.fromtimestamp(now_epoch, UTC).date()
    last = _day(until, "until") if until else today
    first = _day(since, "since") if since else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidRequest(f"since ({first}) is after until ({last}).", param="since")
    if (last - first).days >= MAX_DAYS:
        raise InvalidRequest(f"A report covers at most {MAX_DAYS} days.", param="since")
    return first.isoformat(), last.isoformat()


def report_groups(group_by: str | None) -> list[str]:
    names = [g.strip() for g in (group_by or "day").split(",") if g.strip()]
    unknown = [g for g in names if g not in GROUPS]
    if unknown or not names:
        raise InvalidRequest(
            f"group_by {(unknown or [''])[0][:40]!r} is not a group; group by any of {', '.join(GROUPS)}.",
            param="group_by",
        )
    return list(dict.fromkeys(names))


def spend_rows(rollups: Iterable[Rollup], groups: Sequence[str]) -> list[dict[str, Any]]:
    """One row per distinct value of the groups, ordered by them, with the figures summed."""
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for line in rollups:
        values = {"team": line.team, "key": line.key_name, "model": line.model, "day": line.day}
        group = tuple(values[g] for g in groups)
        row = rows.setdefault(group, {**{g: values[g] for g in groups}, **dict.fromkeys(FIGURES, 0)})
        row["requests"] += line.requests
        row["prompt_tokens"] += line.prompt_tokens
        row["completion_tokens"] += line.completion_tokens
        row["cost_usd"] += line.cost_usd
    for row in rows.values():
        row["cost_usd"] = round(row["cost_usd"], 10)
    return [rows[k] for k in sorted(rows)]


def as_csv(rows: Sequence[dict[str, Any]], groups: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*groups, *FIGURES])
    for row in rows:
        writer.writerow([*(_safe_cell(row[g]) for g in groups), *(row[f] for f in FIGURES)])
    return out.getvalue()


def _safe_cell(value: str) -> str:
    """A spreadsheet never runs a cell as a formula (names and model ids come from users and upstreams)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _day(value: str, param: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{param} is a day as YYYY-MM-DD, not {value[:20]!r}.", param=param) from None
