"""What a refusal says about the budget or limit that refused (PRODUCT.md "A team's money"): whose, which
period, when it resets, and the figures."""

from __future__ import annotations

from typing import Any

from routeway.domain.records import BudgetFigures
from routeway.domain.scopes import BudgetScope
from routeway.errors import BudgetExceeded


def scope_fields(scope: BudgetScope) -> dict[str, Any]:
    """What a 402 says about the budget that refused: whose, which period, when it resets."""
    fields: dict[str, Any] = {"scope": scope.scope, "period": scope.window.period, "budget_usd": scope.budget_usd}
    if scope.scope == "team":
        fields["team"] = scope.name
    if scope.window.resets_at is not None:
        fields["resets_at"] = scope.window.resets_at
    return fields


def budget_refusal(
    scope: BudgetScope, refused: BudgetFigures, bound_usd: float, before_usd: float, max_tokens_given: bool
) -> BudgetExceeded:
    whose = "this key" if scope.scope == "key" else f"team {scope.name!r}"
    period = "" if scope.window.resets_at is None else f" for the {scope.window.period} until {scope.window.resets_at}"
    left = max(0.0, scope.budget_usd - refused.spend_usd - refused.held_usd + before_usd)
    hint = (
        ""
        if max_tokens_given
        else " Set max_tokens to hold less: without it the model's whole completion limit is held."
    )
    return BudgetExceeded(
        f"This request may cost up to ${bound_usd:.6f}, and {whose} has ${left:.6f} left of its "
        f"${scope.budget_usd:.6f} budget{period} (${refused.spend_usd:.6f} spent, ${refused.held_usd:.6f} held by "
        f"requests in flight).{hint}",
        spend_usd=round(refused.spend_usd, 6),
        held_usd=round(refused.held_usd, 6),
        request_max_usd=round(bound_usd, 6),
        **scope_fields(scope),
    )
