"""Before any upstream call: is this key allowed, within its budgets, and within its and its team's rate limits.

PRODUCT.md "A team's money". What the request answers to is set on its ledger here: the budgets it is held
against (`Ledger.scopes`: the key's and its team's, for their current periods) and the parallel slots and token
counts it takes, which the ledger gives back when it settles. Refusals name the scope and the limit: 402
`budget_exceeded` with `scope`, `period` and `resets_at`; 429 `rate_limited` with `scope`, `limit` and
`Retry-After`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routeway.domain.estimate import estimate_prompt_tokens
from routeway.domain.globs import parse_globs
from routeway.domain.records import ApiKeyRecord, MinuteCount
from routeway.domain.refusals import scope_fields
from routeway.domain.scopes import BudgetScope, RateScope, budget_scopes, rate_scopes
from routeway.errors import BudgetExceeded, Forbidden, ModelNotAllowed, RateLimited
from routeway.gateway import Gateway
from routeway.services.admitted import MinuteDue, TakenTokens
from routeway.services.ledger import HOLD_MARGIN_S, Ledger

WINDOW_S = 60
DEFAULT_COMPLETION_TOKENS = 1_000  # what tpm counts for a request without max_tokens


async def admit(
    gw: Gateway, ledger: Ledger, key: ApiKeyRecord | None, fixed_models: tuple[str, ...], body: Mapping[str, Any]
) -> None:
    """Refuse (402/403/429) or set the request's budgets and take its rate-limit shares on `ledger`.

    Under routing modes and aliases the key's model list is a routing filter instead (`key_model_not_allowed`),
    so `fixed_models` is empty there.
    """
    if key is None:
        return
    if key.admin:
        raise Forbidden("An admin key manages keys, teams and spend under /admin/v1/; it calls no model.")
    now = gw.clock.now()
    team = await gw.state.find_team(key.team) if key.team else None
    ledger.scopes = budget_scopes(key, team, now)
    for scope in ledger.scopes:
        await _not_spent_out(gw, key, scope)
    if key.models:
        allowed = parse_globs(list(key.models), "models")
        for index, model in enumerate(fixed_models):
            if not allowed.matches(model):
                raise ModelNotAllowed(
                    f"This key may not use {model[:200]!r}; it is limited to {', '.join(key.models)}.",
                    param="model" if index == 0 else f"models[{index - 1}]",
                )
    window = int(now // WINDOW_S)
    retry_after = int((window + 1) * WINDOW_S - now) + 1
    for rate in rate_scopes(key, team):
        if rate.rpm and any(scope.account == rate.counter for scope in ledger.scopes):
            # the key's lifetime budget: counted in the same write as the request's first hold (services/ledger.py)
            refusal = _rate_refusal(rate, "rpm", f"{rate.rpm} requests per minute", retry_after)
            ledger.minute = MinuteDue(rate.counter, MinuteCount(window, rate.rpm, (window + 2) * WINDOW_S), refusal)
        elif rate.rpm:
            count = await gw.state.count_request(rate.counter, window, expires_at=(window + 2) * WINDOW_S)
            if count > rate.rpm:
                raise _rate_refusal(rate, "rpm", f"{rate.rpm} requests per minute", retry_after)
        if rate.tpm:
            tokens = token_estimate(body)
            expires = (window + 2) * WINDOW_S
            used = await gw.state.take_tokens(rate.counter, window, tokens, rate.tpm, expires)
            if used is not None:
                detail = f"{rate.tpm} tokens per minute ({used} counted this minute; this request counts {tokens})"
                if tokens > rate.tpm:  # it never fits: waiting will not help, a smaller request will
                    detail += "; this request alone is over the limit: set a smaller max_tokens"
                raise _rate_refusal(rate, "tpm", detail, retry_after)
            ledger.tokens.append(TakenTokens(rate.counter, window, tokens, expires))
        if rate.max_parallel:
            until = int(now + gw.settings.long_deadline_s + HOLD_MARGIN_S)
            busy = await gw.state.enter(rate.counter, ledger.generation_id, rate.max_parallel, until, int(now))
            if busy is not None:
                detail = f"{rate.max_parallel} requests at a time ({busy} in flight)"
                raise _rate_refusal(rate, "parallel", detail, 1)
            ledger.slots.append((rate.counter, until))


async def _not_spent_out(gw: Gateway, key: ApiKeyRecord, scope: BudgetScope) -> None:
    """A budget already spent refuses even a request that would hold nothing (a free model)."""
    if scope.account == key.key_hash:
        spend = key.spend_usd  # the key's lifetime budget: read with the key
    else:
        spend = (await gw.state.budget_figures(scope.account)).spend_usd
    if spend >= scope.budget_usd:
        whose = "This key" if scope.scope == "key" else f"Team {scope.name!r}"
        resets = scope.window.resets_at
        period = "" if resets is None else f" for the {scope.window.period}; it resets at {resets}"
        raise BudgetExceeded(
            f"{whose} has spent ${spend:.6f} of its ${scope.budget_usd:.6f} budget{period}.",
            spend_usd=round(spend, 6),
            **scope_fields(scope),
        )


def _rate_refusal(rate: RateScope, limit: str, detail: str, retry_after: int) -> RateLimited:
    whose = "This key" if rate.scope == "key" else f"Team {rate.name!r}"
    fields: dict[str, Any] = {"scope": rate.scope, "limit": limit}
    if rate.scope == "team":
        fields["team"] = rate.name
    return RateLimited(f"{whose} is limited to {detail}.", retry_after_s=retry_after, **fields)


def token_estimate(body: Mapping[str, Any]) -> int:
    """What tpm counts for a request before it runs: its prompt estimate plus `max_tokens` (else 1,000)."""
    messages = body.get("messages")
    prompt = estimate_prompt_tokens(messages) if isinstance(messages, list) else _input_tokens(body.get("input"))
    asked = [body.get(f) for f in ("max_tokens", "max_completion_tokens")]
    given = [v for v in asked if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    embeddings = messages is None and body.get("input") is not None  # nothing is generated
    completion = max(given) if given else 0 if embeddings else DEFAULT_COMPLETION_TOKENS
    return prompt + completion


def _input_tokens(value: Any) -> int:
    """An embeddings request's input, about four characters a token (token arrays counted as they are)."""
    if isinstance(value, str):
        return max(1, len(value) // 4)
    if isinstance(value, list):
        return sum(_input_tokens(v) if isinstance(v, str | list) else 1 for v in value)
    return 1
