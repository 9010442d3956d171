"""Teams, and keys' and teams' limits changed in place (`keys update`, `teams update`, the admin API).

An update takes effect on the next request: budgeted keys and keys in a team are never cached, and a team is read
with each of its keys' requests. A period change starts a new period at once (the record's `period_anchor`), so
an old period's spend never locks the key or team out of the new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routeway.domain.limits import KEY_FIELDS, TEAM_FIELDS, check_name, checked_limits
from routeway.domain.records import ApiKeyRecord, TeamRecord
from routeway.errors import NotFound
from routeway.ports import Clock, StateStore
from routeway.services.keys import iso_now


def create_team(state: StateStore, clock: Clock, name: str, fields: Mapping[str, Any]) -> TeamRecord:
    check_name(name, "Team")
    record = TeamRecord(name=name, created_at=iso_now(clock), **checked_limits(fields, TEAM_FIELDS))
    state.create_team(record)
    return record


def update_team(state: StateStore, clock: Clock, name: str, fields: Mapping[str, Any]) -> TeamRecord:
    changes = checked_limits(fields, TEAM_FIELDS)
    updated = state.update_team(name, lambda team: _changed(team, changes, clock))
    if updated is None:
        raise NotFound(f"No team named {name[:64]!r}.", param="name")
    return updated


def update_key(state: StateStore, clock: Clock, name: str, fields: Mapping[str, Any]) -> ApiKeyRecord:
    changes = checked_limits(fields, KEY_FIELDS)
    if changes.get("team") and state.find_team(changes["team"]) is None:
        raise NotFound(f"No team named {changes['team']!r}; create it with `routeway teams create`.", param="team")
    updated = state.update_key(name, lambda key: _changed(key, changes, clock))
    if updated is None:
        raise NotFound(f"No key named {name[:64]!r}.", param="name")
    return updated


def _changed(record: Any, changes: Mapping[str, Any], clock: Clock) -> Any:
    if "period" in changes and changes["period"] != record.period:
        changes = {**changes, "period_anchor": int(clock.now())}
    return record.model_copy(update=dict(changes))


def team_summary(team: TeamRecord) -> dict[str, Any]:
    return team.model_dump(exclude={"period_anchor"})
