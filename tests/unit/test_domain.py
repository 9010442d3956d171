"""Pure domain pieces: model references and suggestions, request parsing, cost estimates, outcomes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routeway.domain.catalog import Catalog, Snapshot
from routeway.domain.estimate import est_cost_per_1k_tokens, estimate_prompt_tokens
from routeway.domain.fallback import classify_response
from routeway.domain.goals import parse_goals
from routeway.domain.model_ref import parse_model_ref, suggest_models
from routeway.domain.wire import parse_chat_request, upstream_payload
from routeway.errors import InvalidRequest
from routeway.services.usage import catalog_age_s
from tests.fakes.data import load

IDS = tuple(m["id"] for m in load("models.json")["data"])


def test_variants_split_only_routing_shortcuts() -> None:
    assert parse_model_ref("openai/gpt-5.5:nitro").base == "openai/gpt-5.5"
    assert parse_model_ref("openai/gpt-5.5:nitro").sort == "throughput"
    assert parse_model_ref("openai/gpt-5.5:floor").sort == "price"
    free = parse_model_ref("deepseek/deepseek-v4-flash:free")
    assert (free.base, free.variant) == ("deepseek/deepseek-v4-flash:free", None)  # its own catalog entry


def test_suggestions_fix_the_field_reports_mistakes() -> None:
    assert suggest_models("moonshot/kimi-k2.6", IDS)[0] == "moonshotai/kimi-k2.6"
    free_base = next(i.removesuffix(":free") for i in IDS if i.endswith(":free") and i.removesuffix(":free") not in IDS)
    assert f"{free_base}:free" in suggest_models(free_base, IDS)
    assert any(s.startswith("qwen/qwen3-coder") for s in suggest_models("qwen/qwen3-coder-480b", IDS))
    assert len(suggest_models("openai/gpt", IDS)) <= 5
    assert suggest_models("", IDS) == []


def chat(**fields: object) -> dict[str, object]:
    return {"model": "openai/gpt-5.5", "messages": [{"role": "user", "content": "hi"}], **fields}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (chat(model=""), "model"),
        (chat(model=5), "model"),
        (chat(messages=[]), "messages"),
        (chat(messages="hi"), "messages"),
        (chat(messages=[{"content": "no role"}]), "messages[0]"),
        (chat(max_tokens=-1), "max_tokens"),
        (chat(max_tokens="10"), "max_tokens"),
        (chat(max_tokens=True), "max_tokens"),
        (chat(stream="yes"), "stream"),
        (chat(objective="fastest-ever"), "objective"),
        (chat(metadata={"objective": "nope"}), "objective"),
        (chat(models="openai/gpt-5.5"), "models"),
        (chat(max_cost_per_1k_tokens=-0.1), "max_cost_per_1k_tokens"),
        (chat(max_cost_per_1k_tokens="cheap"), "max_cost_per_1k_tokens"),
        (chat(allowed_models=["anthropic/[oops"]), "allowed_models[0]"),
        (chat(blocked_models=[""]), "blocked_models[0]"),
        (chat(blocked_models="x" * 300), "blocked_models[0]"),
        (chat(top_n=0), "top_n"),
        (chat(top_n=51), "top_n"),
        (chat(provider={"sort": "vibes"}), "provider.sort"),
        (chat(provider={"only": "deepinfra"}), "provider.only"),
        (chat(provider={"quantizations": ["fp7"]}), "provider.quantizations"),
        (chat(provider={"data_collection": "maybe"}), "provider.data_collection"),
        (chat(provider={"allow_fallbacks": "no"}), "provider.allow_fallbacks"),
        (chat(provider={"max_price": {"prompt": -1}}), "provider.max_price.prompt"),
        (chat(provider_policy={"ignore": [3]}), "provider_policy.ignore"),
        (chat(provider="deepinfra"), "provider"),
    ],
)
def test_rel_11_bad_requests_name_their_param(body: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_goals(parse_chat_request(body).body)
    assert caught.value.param == param
    assert caught.value.body()["error"]["code"] == "invalid_request"


def test_non_object_body_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        parse_chat_request(["not", "an", "object"])


def test_routing_goals_and_redirects_are_not_forwarded() -> None:
    body = chat(
        objective="cheapest",
        models=["a/b"],
        base_url="http://169.254.169.254",
        api_base="http://evil",
        metadata={"top_n": 3, "trace": "t1"},
        temperature=0.2,
    )
    request = parse_chat_request(body)
    assert parse_goals(request.body).objective == "cheapest"
    payload = upstream_payload(request.body, "openai/gpt-5.5")
    assert payload == {
        "model": "openai/gpt-5.5",
        "messages": body["messages"],
        "metadata": {"trace": "t1"},
        "temperature": 0.2,
    }


def test_cost_per_1k_follows_the_contract_formula() -> None:
    assert est_cost_per_1k_tokens(1e-6, 3e-6, 100, 300) == pytest.approx(1000 * (1e-6 * 100 + 3e-6 * 300) / 400)
    assert estimate_prompt_tokens([{"role": "user", "content": "x" * 400}]) == 104


def test_outcomes_treat_disguised_failures_as_failures() -> None:
    assert classify_response(200, b'{"choices": [{"message": {}}]}').kind == "success"
    assert classify_response(200, b"<html>bad gateway</html>").kind == "failed"
    assert classify_response(200, b"{}").kind == "failed"
    assert classify_response(200, b'{"error": {"code": 502, "message": "down"}}').kind == "failed"
    bad = classify_response(400, b'{"error": {"code": 400, "message": "bad temperature"}}')
    assert (bad.kind, bad.message) == ("client_error", "bad temperature")
    assert classify_response(503, b"").kind == "failed"


def test_a_hold_covers_web_search_and_reasoning_prices() -> None:
    """The bound must cover what OpenRouter can bill beyond tokens, or spend could pass a budget."""
    from routeway.domain.candidates import row_for
    from routeway.domain.catalog import Model, Pricing
    from routeway.domain.plan import Candidate
    from routeway.domain.policy import Scored
    from routeway.domain.reservation import attempt_bound

    pricing = Pricing(prompt=1e-6, completion=2e-6, internal_reasoning=5e-6, web_search=0.004)
    model = Model(id="acme/searcher", pricing=pricing, max_completion_tokens=1000)
    row = row_for(model, None)
    plain = Candidate(Scored(row, 0.0, None, None), "acme/searcher")
    online = Candidate(Scored(row, 0.0, None, None), "acme/searcher:online")
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}
    base = attempt_bound(plain, body, 10, 0)
    assert base == pytest.approx(10 * 1e-6 + 100 * 5e-6)  # reasoning is dearer than completion here
    assert attempt_bound(online, body, 10, 0) == pytest.approx(base + 5 * 0.004)
    plugin = {**body, "plugins": [{"id": "web", "max_results": 3}]}
    assert attempt_bound(plain, plugin, 10, 0) == pytest.approx(base + 3 * 0.004)


def test_catalog_age_reads_the_snapshot_stamp_and_nothing_else() -> None:
    def age(stamp: str) -> float | None:
        snapshot = Snapshot(version="v", created_at=stamp, models=())
        return catalog_age_s(Catalog(snapshot, "store"), datetime(2026, 5, 18, 0, 1, 30, tzinfo=UTC).timestamp())

    assert age("2026-05-18T00:00:00Z") == 90.0
    assert age("2026-05-19T00:00:00Z") == 0.0  # a clock behind the snapshot never gives a negative age
    for unreadable in ("2026-05-18", "2026-05-18T00:00:00+00:00", "2026-05-18 00:00:00Z", "2026-13-18T00:00:00Z", ""):
        assert age(unreadable) is None
