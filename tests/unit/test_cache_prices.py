"""Cache prices in charges and holds (PRODUCT.md "Prompt caching"): a read is priced at the cache-read price, a
write at the cache-write price, and a hold stays an upper bound when a marked prompt may be written."""

from __future__ import annotations

from typing import Any

import pytest

from routeway.domain.candidates import row_for
from routeway.domain.catalog import Endpoint, Model, Pricing
from routeway.domain.estimate import cost_from_usage, with_cache_prices
from routeway.domain.plan import Candidate
from routeway.domain.policy import Scored
from routeway.domain.reservation import attempt_bound, marks_cache, prompt_token_bound

CLAUDE = Pricing(prompt=3e-6, completion=15e-6, input_cache_read=0.3e-6, input_cache_write=3.75e-6)


def usage(read: Any = 0, written: Any = 0, prompt: int = 1000) -> dict[str, Any]:
    details = {"cached_tokens": read, "cache_write_tokens": written}
    return {"prompt_tokens": prompt, "completion_tokens": 10, "prompt_tokens_details": details}


def test_cached_reads_and_writes_are_priced_at_their_own_prices() -> None:
    plain = cost_from_usage(CLAUDE, usage())
    read = cost_from_usage(CLAUDE, usage(read=800))
    written = cost_from_usage(CLAUDE, usage(written=800))
    assert plain == pytest.approx(1000 * 3e-6 + 10 * 15e-6)
    assert read == pytest.approx(200 * 3e-6 + 800 * 0.3e-6 + 10 * 15e-6)
    assert written == pytest.approx(200 * 3e-6 + 800 * 3.75e-6 + 10 * 15e-6)
    assert read is not None and plain is not None and written is not None and read < plain < written


@pytest.mark.parametrize(("read", "written"), [(5000, 0), (0, 5000), (900, 900), (-50, True), ("800", None)])
def test_hostile_cache_counts_never_price_more_tokens_than_the_prompt(read: Any, written: Any) -> None:
    cost = cost_from_usage(CLAUDE, usage(read=read, written=written))
    assert cost is not None and 0 <= cost <= 1000 * 3.75e-6 + 10 * 15e-6


def test_without_cache_prices_cached_tokens_cost_the_prompt_price() -> None:
    pricing = Pricing(prompt=1e-6, completion=2e-6)
    assert cost_from_usage(pricing, usage(read=800)) == pytest.approx(1000 * 1e-6 + 10 * 2e-6)


def test_an_endpoint_without_cache_prices_takes_the_models() -> None:
    endpoint = Pricing(prompt=3e-6, completion=15e-6)
    assert with_cache_prices(endpoint, CLAUDE).input_cache_write == CLAUDE.input_cache_write
    assert with_cache_prices(CLAUDE, Pricing()) is CLAUDE


def _candidate(endpoint_pricing: Pricing | None) -> Candidate:
    model = Model(id="anthropic/claude-x", pricing=CLAUDE, max_completion_tokens=100)
    endpoint = None
    if endpoint_pricing is not None:
        endpoint = Endpoint(provider_name="Anthropic", provider_slug="anthropic", pricing=endpoint_pricing)
    return Candidate(Scored(row_for(model, endpoint), 0.0, None, None), model.id)


def _body(marked: bool) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "text", "text": "x" * 10_000}
    if marked:
        part["cache_control"] = {"type": "ephemeral"}
    return {"messages": [{"role": "system", "content": [part]}, {"role": "user", "content": "hi"}], "max_tokens": 100}


@pytest.mark.parametrize("endpoint_pricing", [None, Pricing(prompt=3e-6, completion=15e-6)])
def test_a_marked_prompt_is_held_at_the_cache_write_price(endpoint_pricing: Pricing | None) -> None:
    candidate = _candidate(endpoint_pricing)
    marked, unmarked = _body(True), _body(False)
    tokens, media = prompt_token_bound(marked)
    bound = attempt_bound(candidate, marked, tokens, media)
    plain = attempt_bound(candidate, unmarked, *prompt_token_bound(unmarked))
    assert bound == pytest.approx(tokens * 3.75e-6 + 100 * 15e-6)
    assert plain is not None and plain < bound  # without a mark no write surcharge is held
    written_all = cost_from_usage(CLAUDE, usage(written=tokens, prompt=tokens))  # the worst the answer can say
    assert written_all is not None and written_all - 10 * 15e-6 <= bound - 100 * 15e-6 + 1e-12


@pytest.mark.parametrize(
    "body",
    [
        {"cache_control": {"type": "ephemeral"}, "messages": []},
        {"tools": [{"type": "function", "cache_control": {}}]},
        {"messages": [{"role": "assistant", "tool_calls": [{"id": "t", "cache_control": {}}]}]},
        {"messages": [{"role": "user", "cache_control": {}, "content": "hi"}]},
    ],
)
def test_every_place_a_mark_can_be_is_seen(body: dict[str, Any]) -> None:
    assert marks_cache(body)
    assert not marks_cache({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
