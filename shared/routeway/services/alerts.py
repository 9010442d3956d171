"""Budget threshold alerts (PRODUCT.md "A team's money"): when a period's spend first crosses a fraction given
by `--alert-at`, one alert per threshold and period, however many processes charge it (the store's claim)."""

from __future__ import annotations

from routeway.domain.periods import iso
from routeway.domain.scopes import BudgetScope
from routeway.errors import StoreUnavailable
from routeway.gateway import Gateway

CLAIM_KEPT_S = 35 * 86_400  # a claim outlives its period by this much (a lifetime budget's: this long)


async def check_thresholds(gw: Gateway, scope: BudgetScope) -> None:
    """After a charge to `scope`'s budget: the thresholds its spend has reached, each alerted once a period."""
    if not scope.alert_at:
        return
    try:
        spend = (await gw.state.budget_figures(scope.account)).spend_usd
        for threshold in scope.alert_at:
            if spend < threshold * scope.budget_usd:
                continue
            expires_at = (scope.window.end or int(gw.clock.now())) + CLAIM_KEPT_S
            if not await gw.state.claim_alert(f"{scope.account}@{threshold:g}", expires_at):
                continue
            detail = {
                "scope": scope.scope,
                "name": scope.name,
                "team": scope.team,
                "period": scope.window.period,
                "period_start": iso(scope.window.start),
                "threshold": threshold,
                "spend_usd": round(spend, 10),
                "budget_usd": scope.budget_usd,
            }
            await gw.alerts.budget_threshold_crossed(detail)
    except StoreUnavailable:  # the next charge looks again
        return
