"""Which budgets and limits a request answers to: its key's and its team's (PRODUCT.md "A team's money").

Each budget is held on its own counter in the store (an account), named by whose budget it is and the period it
counts: the key's lifetime budget keeps the counter it always had (the key item, sharded or not); a periodic key
budget and every team budget have one counter per period. A request holds on each of its accounts under its own
hold id (the generation id; `~key` for a periodic key budget, `~team` for the team's), so each is charged exactly
once, and a hold is always charged to the account, hence the period, it was taken on.
"""

from __future__ import annotations

from dataclasses import dataclass

from routeway.domain.periods import TOTAL, Window, window_at
from routeway.domain.records import ApiKeyRecord, TeamRecord

TEAM_HOLD = "~team"
PERIOD_HOLD = "~key"  # a key's periodic budget: the generation id itself is its lifetime spend's charge


@dataclass(frozen=True)
class BudgetScope:
    """One budget a request is held against."""

    scope: str  # "key" or "team"
    name: str  # the key's or the team's name
    account: str  # the store's counter for this budget and period
    budget_usd: float
    window: Window
    hold_suffix: str = ""
    alert_at: tuple[float, ...] = ()  # fractions of the budget that raise an alert, once a period each
    team: str | None = None  # the key's team (a team's own budget: itself)

    def hold_id(self, generation_id: str) -> str:
        return generation_id + self.hold_suffix


@dataclass(frozen=True)
class RateScope:
    """One set of rate limits a request is counted against."""

    scope: str
    name: str
    counter: str  # the store's counters for it (rpm, tpm, parallel)
    rpm: int | None
    tpm: int | None
    max_parallel: int | None


def budget_scopes(key: ApiKeyRecord | None, team: TeamRecord | None, now_epoch: float) -> list[BudgetScope]:
    """The budgets that apply now: the key's, then its team's."""
    scopes = []
    if key is not None and key.budget_usd is not None:
        window = window_at(key.period, now_epoch, key.period_anchor)
        account = key_account(key.key_hash, window)
        suffix = "" if account == key.key_hash else PERIOD_HOLD
        scopes.append(BudgetScope("key", key.name, account, key.budget_usd, window, suffix, key.alert_at, key.team))
    if team is not None and team.budget_usd is not None:
        window = window_at(team.period, now_epoch, team.period_anchor)
        account = f"team:{team.name}:{window.period}:{window.start}"
        scopes.append(
            BudgetScope("team", team.name, account, team.budget_usd, window, TEAM_HOLD, team.alert_at, team.name)
        )
    return scopes


def lifetime_spend(key: ApiKeyRecord) -> BudgetScope:
    """Every key's lifetime spend, on its key item, charged whatever its budgets (what GET /v1/key reports)."""
    return BudgetScope("key", key.name, key.key_hash, float("inf"), Window(TOTAL, 0, None))


def key_account(key_hash: str, window: Window) -> str:
    """A lifetime budget that never changed period: the key item itself (what sharding spreads)."""
    if window.period == TOTAL and window.start == 0:
        return key_hash
    return f"{key_hash}:{window.period}:{window.start}"


def rate_scopes(key: ApiKeyRecord | None, team: TeamRecord | None) -> list[RateScope]:
    scopes = []
    if key is not None and (key.rpm or key.tpm or key.max_parallel):
        scopes.append(RateScope("key", key.name, key.key_hash, key.rpm, key.tpm, key.max_parallel))
    if team is not None and (team.rpm or team.tpm or team.max_parallel):
        scopes.append(RateScope("team", team.name, f"team:{team.name}", team.rpm, team.tpm, team.max_parallel))
    return scopes


def generation_of(hold_id: str) -> str:
    """The generation a hold belongs to (a team's hold carries a suffix)."""
    return hold_id.split("~", 1)[0]


def is_account(counter: str) -> bool:
    """A periodic or team counter (its own item), not a key item."""
    return ":" in counter
