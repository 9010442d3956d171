"""The admin API under /admin/v1/ (PRODUCT.md "A team's money"): keys and teams, and the spend report.

Only admin keys (`keys create --admin`) may call it; a gateway key gets 403 `forbidden`, no key 401. With
ROUTEWAY_AUTH=off (a local `serve`) it is open, like everything else. A new key's secret is in the answer to
its creation, once, as from the CLI. Each store call runs off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from routeway.domain.records import ApiKeyRecord, TeamRecord
from routeway.domain.scopes import budget_scopes
from routeway.errors import AlreadyExists, ConflictError, Forbidden, InvalidRequest, NotFound
from routeway.gateway import Gateway
from routeway.http.deps import GatewayDep, edge_of
from routeway.http.edge import read_json
from routeway.http.responses import JSONBody
from routeway.services import people, spend
from routeway.services.keys import create_key

router = APIRouter(prefix="/admin/v1")
MAX_ADMIN_BODY = 64 * 1024


async def require_admin(request: Request) -> ApiKeyRecord | None:
    key = await edge_of(request).key(request, fresh=True)
    if key is not None and not key.admin:
        raise Forbidden("The admin API takes admin keys only (routeway keys create NAME --admin).")
    return key


AdminDep = Annotated[ApiKeyRecord | None, Depends(require_admin)]


async def _fields(request: Request) -> dict[str, Any]:
    document = await read_json(request, lambda document: document, MAX_ADMIN_BODY)
    if not isinstance(document, dict):
        raise InvalidRequest("The body is a JSON object of the key's or team's fields.")
    return document


async def _named(request: Request, what: str) -> tuple[str, dict[str, Any]]:
    """A creation's name and the rest of its fields."""
    fields = await _fields(request)
    name = fields.pop("name", None)
    if not isinstance(name, str):
        raise InvalidRequest(f"A {what} needs a name.", param="name")
    return name, fields


@contextmanager
def _unique(what: str, name: str) -> Iterator[None]:
    """A name that is taken: 409 `already_exists`."""
    try:
        yield
    except ConflictError:
        raise AlreadyExists(f"A {what} named {name[:64]!r} exists.", param="name") from None


async def _burn(gw: Gateway, key: ApiKeyRecord | None, team: TeamRecord | None) -> dict[str, Any] | None:
    """A budget's spend in its current period, beside the budget, for the console's burn bars."""
    scopes = budget_scopes(key, team, gw.clock.now())
    if not scopes:
        return None
    scope = scopes[0]
    figures = await gw.state.budget_figures(scope.account)
    return {
        "budget_usd": scope.budget_usd,
        "spend_usd": round(figures.spend_usd, 10),
        "held_usd": round(figures.held_usd, 10),
        "period": scope.window.period,
        "period_start": scope.window.start,
        "resets_at": scope.window.resets_at,
    }


async def _key_view(gw: Gateway, key: ApiKeyRecord) -> dict[str, Any]:
    view = key.model_dump(exclude={"key_hash", "period_anchor", "shards"})
    view["models"] = list(key.models)
    view["alert_at"] = list(key.alert_at)
    view["budget"] = await _burn(gw, key, None)
    return view


async def _team_view(gw: Gateway, team: TeamRecord) -> dict[str, Any]:
    view = people.team_summary(team)
    view["alert_at"] = list(team.alert_at)
    view["budget"] = await _burn(gw, None, team)
    return view


async def _named_key(gw: Gateway, name: str) -> ApiKeyRecord:
    found = [k for k in await gw.state.list_keys() if k.name == name]
    if not found:
        raise NotFound(f"No key named {name[:64]!r}.", param="name")
    return found[0]


@router.post("/keys", status_code=201)
async def create_key_route(request: Request, gw: GatewayDep, _admin: AdminDep) -> dict[str, Any]:
    name, fields = await _named(request, "key")
    with _unique("key", name):
        secret, record = await gw.state.run(lambda state: create_key(state, gw.clock, name, **fields))
    if gw.key_cache is not None:  # works at once here, even if its hash was presented (and refused) before
        gw.key_cache.forget(record.key_hash)
    return {**await _key_view(gw, record), "key": secret}


@router.get("/keys")
async def list_keys(gw: GatewayDep, _admin: AdminDep) -> dict[str, Any]:
    return {"object": "list", "data": [await _key_view(gw, k) for k in await gw.state.list_keys()]}


@router.get("/keys/{name}")
async def get_key(name: str, gw: GatewayDep, _admin: AdminDep) -> dict[str, Any]:
    return await _key_view(gw, await _named_key(gw, name))


@router.patch("/keys/{name}")
async def update_key(name: str, request: Request, gw: GatewayDep, _admin: AdminDep) -> dict[str, Any]:
    fields = await _fields(request)
    updated = await gw.state.run(people.update_key, gw.clock, name, fields)
    if gw.key_cache is not None:  # this process's cache; another's keeps it up to ROUTEWAY_KEY_CACHE_S
        gw.key_cache.forget(updated.key_hash)
    return await _key_view(gw, await _named_key(gw, name))


@router.delete("/keys/{name}")
async def revoke_key(name: str, gw: GatewayDep, _admin: AdminDep) -> dict[str, Any]:
    key = await _named_key(gw, name)
    await gw.state.run(lambda state: state.revoke_key(name))
    if gw.key_cache is not None:
        gw.key_cache.forget(key.key_hash)
    return {"name": name, "revoked": True}


@router.post("/teams", status_code=201)
async def create_team(request: Request, gw: GatewayDep, _admin: AdminDep) -> dict[str, Any]:
    name, fields = await _named(request, "team")
    with _unique("team", name):
        team = await gw.state.run(people.create_team, gw.clock, name, fields)
    return await _team_view(gw, team)


@router.get("/teams")
async def list_teams(gw: GatewayDep, _admin: AdminDep) -> dict[str, Any]:
    teams = await gw.state.run(lambda state: state.list_teams())
    return {"object": "list", "data": [await _team_view(gw, t) for t in teams]}


@router.get("/teams/{name}")
async def get_team(name: str, gw: GatewayDep, _admin: AdminDep) -> dict[str, Any]:
    team = await gw.state.find_team(name)
    if team is None:
        raise NotFound(f"No team named {name[:64]!r}.", param="name")
    return await _team_view(gw, team)


@router.patch("/teams/{name}")
async def update_team(name: str, request: Request, gw: GatewayDep, _admin: AdminDep) -> dict[str, Any]:
    fields = await _fields(request)
    return await _team_view(gw, await gw.state.run(people.update_team, gw.clock, name, fields))


@router.get("/spend", response_model=None)
async def spend_report(
    gw: GatewayDep,
    _admin: AdminDep,
    group_by: str | None = None,
    since: str | None = None,
    until: str | None = None,
    format: str = "json",  # noqa: A002 (the query parameter's name)
) -> dict[str, Any] | Response:
    groups = spend.report_groups(group_by)
    first, last = spend.report_range(since, until, gw.clock.now())
    if format not in ("json", "csv"):
        raise InvalidRequest("format is json or csv.", param="format")
    rows = spend.spend_rows(await gw.state.spend_rollups(first, last), groups)
    if format == "csv":
        return Response(spend.as_csv(rows, groups), media_type="text/csv; charset=utf-8")
    return JSONBody({"object": "list", "group_by": groups, "since": first, "until": last, "data": rows})
