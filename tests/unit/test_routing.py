"""The routing engine over the real catalog (the bundled snapshot built from ../shared/data/openrouter)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routeway.domain.candidates import ALL_ROWS, PROVIDER_NAMES, model_rows, openrouter_rows
from routeway.domain.catalog import Catalog
from routeway.domain.globs import parse_globs
from routeway.domain.goals import parse_goals
from routeway.domain.plan import Cooldown, Plan, plan_route
from routeway.domain.policy import matches_provider
from routeway.domain.requirements import derive_requirements
from routeway.domain.snapshot_codec import decode_snapshot
from routeway.domain.wire import parse_chat_request
from routeway.errors import InvalidRequest, ModelDoesNotSupportImages, NoRoute
from tests.oracle_planner import est_cost_per_1k

CATALOG = Catalog(
    decode_snapshot(resources.files("routeway").joinpath("data/snapshot.json.gz").read_bytes()), "bundled"
)
PNG = "data:image/png;base64,iVBORw0KGgo="
ALL_BACKENDS = frozenset({"openrouter"})


def body(model: str = "auto", text: str = "Summarise the plot of Hamlet.", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def with_image(model: str = "auto", **extra: Any) -> dict[str, Any]:
    content = [{"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": PNG}}]
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def plan(
    request: dict[str, Any],
    *,
    seed: int = 7,
    backends: frozenset[str] = ALL_BACKENDS,
    cooldowns: dict[str, Cooldown] | None = None,
    key_models: list[str] | None = None,
    catalog: Catalog = CATALOG,
) -> Plan:
    chat = parse_chat_request(request)
    return plan_route(
        catalog,
        model=chat.model,
        fallbacks=chat.models,
        goals=parse_goals(chat.body),
        needs=derive_requirements(chat.body, chat.messages, chat.max_tokens),
        messages_text=str(request["messages"]),
        available_backends=backends,
        cooldowns=cooldowns or {},
        now=1_000.0,
        seed=seed,
        key_models=parse_globs(key_models, "models") if key_models else parse_globs(None, "models"),
    )


def models_of(p: Plan) -> list[str]:
    return [c.row.model.id for c in p.ranked]


# --- the four scenarios of the issue, over the real catalog ---------------------------------------------


def test_auto_cheapest_under_a_cap_within_anthropic_and_openai() -> None:
    cap = 0.002
    p = plan(body(objective="cheapest", max_cost_per_1k_tokens=cap, allowed_models=["anthropic/*", "openai/*"]))
    assert p.mode == "auto" and p.attempts
    needs = derive_requirements(body(), body()["messages"], None)
    for c in p.ranked:
        assert c.row.model.id.startswith(("anthropic/", "openai/"))
        assert est_cost_per_1k(c.row, needs) <= cap
    costs = [c.scored.expected_cost for c in p.ranked]
    assert costs[0] == min(costs)  # cheapest first
    assert p.excluded["not_allowed"] > 100 and p.excluded.get("over_max_cost", 0) > 0
    assert p.ranked[0].row.model.id == "openai/gpt-oss-20b"  # open weights, served by third parties, cheapest


def test_free_with_an_image_uses_only_free_vision_models_and_falls_through_the_pool() -> None:
    p = plan(with_image("free"))
    assert p.mode == "free"
    for c in p.ranked:
        assert c.row.model.id.endswith(":free") or c.row.model.pricing.is_free
        assert "image" in c.row.inputs
    assert len({c.row.model.id for c in p.attempts}) >= 2  # several free models: a 429 moves to the next
    assert p.excluded["missing_input_modality:image"] > 0


def test_provider_only_deepinfra() -> None:
    p = plan(body(provider={"only": ["deepinfra"]}))
    assert p.ranked and all(c.row.provider_root == "deepinfra" for c in p.ranked)
    assert p.excluded["provider_policy"] > 500
    fixed = plan(body("deepseek/deepseek-v4-flash", provider={"only": ["DeepInfra"]}))  # names match too, any case
    assert {c.row.provider_root for c in fixed.ranked} == {"deepinfra"}


def test_nitro_sorts_providers_by_throughput() -> None:
    p = plan(body("deepseek/deepseek-v4-flash:nitro"))
    assert p.sort == "throughput"
    speeds = [c.row.throughput_p50_tps or 0 for c in p.ranked]
    assert speeds == sorted(speeds, reverse=True) and len(speeds) > 2
    assert all(c.upstream_model == "deepseek/deepseek-v4-flash" for c in p.ranked)
    floor = plan(body("deepseek/deepseek-v4-flash:floor"))
    costs = [c.scored.expected_cost for c in floor.ranked]
    assert costs == sorted(costs)


# --- modes, requirements, errors ---------------------------------------------------------------------------


def test_auto_with_tools_only_picks_tool_models() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    p = plan(body(tools=tools))
    assert all("tools" in c.row.parameters for c in p.ranked) and p.excluded["no_tools"] > 0


def test_auto_image_generation_picks_image_models_from_its_pool_never_image_only_ones() -> None:
    # Issue #18 changed this: image-only models (FLUX) are special-purpose, so `auto` no longer picks them.
    p = plan(body(text="Draw a red fox", modalities=["image", "text"], objective="cheapest"))
    assert p.task == "image_generation"
    assert all("image" in c.row.outputs for c in p.ranked)
    assert models_of(p)[0] in CATALOG.snapshot.auto_pools["image_generation"]
    assert not any(m.startswith("black-forest-labs/") for m in models_of(p)) and p.excluded["special_purpose"] >= 3
    assert models_of(plan(body("black-forest-labs/flux.2-klein-4b", modalities=["image"])))[0].startswith(
        "black-forest-labs/flux"
    )  # named explicitly, it still works
    text_only = plan(body())
    assert all("text" in c.row.outputs for c in text_only.ranked)  # no image-only model for a text answer


def test_auto_routes_code_to_the_code_pool() -> None:
    # Issue #18 replaced the "coding model bonus" with task pools: the first candidate is in the code pool.
    p = plan(body(text="Refactor this:\n```python\ndef f(x):\n    return x\n```"))
    assert p.task == "code" and "task: code" in p.notes[0]
    assert {c.row.model.id for c in p.attempts} <= set(CATALOG.snapshot.auto_pools["code"])


def test_bodybuilder_fans_out_to_different_authors() -> None:
    p = plan(body("bodybuilder", top_n=4))
    assert p.fan_out and len(p.attempts) == 4
    assert len({c.row.model.author for c in p.attempts}) == 4


def test_models_fallback_list_is_tried_in_order() -> None:
    p = plan(body("openai/gpt-5.4-mini", models=["anthropic/claude-sonnet-4.6", "google/gemini-3-flash-preview"]))
    assert p.mode == "fallbacks"
    order = list(dict.fromkeys(c.row.model.id for c in p.attempts))
    assert order == ["openai/gpt-5.4-mini", "anthropic/claude-sonnet-4.6", "google/gemini-3-flash-preview"]


def test_unknown_fallback_model_names_its_position() -> None:
    with pytest.raises(Exception) as caught:
        plan(body("openai/gpt-5.4-mini", models=["moonshot/kimi-k2.6"]))
    assert caught.value.param == "models[0]"  # type: ignore[attr-defined]
    assert caught.value.extra["suggestions"][0] == "moonshotai/kimi-k2.6"  # type: ignore[attr-defined]


def test_image_gen_alias_tries_nano_banana_then_gpt_image_on_hard_failures() -> None:
    p = plan(with_image("image-gen", modalities=["image", "text"]))
    assert p.mode == "alias" and p.alias_fallback_on == "hard"
    order = list(dict.fromkeys(c.row.model.id for c in p.attempts))
    assert order == ["google/gemini-3.1-flash-image-preview", "openai/gpt-5.4-image-2"]


def test_local_alias_walks_its_backend_chain() -> None:
    assert plan(body("local"), backends=frozenset({"openrouter", "vllm"})).attempts[0].row.backend == "vllm"
    p = plan(body("local"))
    assert p.attempts[0].row.backend == "openrouter" and p.excluded["backend_unavailable"] == 2


def test_text_model_with_an_image_says_which_models_can_see() -> None:
    with pytest.raises(ModelDoesNotSupportImages) as caught:
        plan(with_image("deepseek/deepseek-v4-flash"))
    assert caught.value.extra["suggestions"] and caught.value.param == "model"


def test_unknown_provider_slug_is_400_with_param() -> None:
    with pytest.raises(InvalidRequest) as caught:
        plan(body(provider={"order": ["openai", "deepinfro"]}))
    assert caught.value.param == "provider.order[1]" and "deepinfra" in caught.value.message


def test_conflicting_constraints_give_no_route_with_a_funnel() -> None:
    with pytest.raises(NoRoute) as caught:
        plan(body(allowed_models=["anthropic/*"], max_cost_per_1k_tokens=0.00001))
    error = caught.value.body()["error"]
    assert error["code"] == "no_route"
    steps = {s["filter"]: s for s in error["funnel"]}
    assert steps["not_allowed"]["removed"] > 0 and steps["over_max_cost"]["remaining"] == 0
    assert "Anthropic" in error["available_providers"]


def test_the_keys_model_list_is_one_more_filter() -> None:
    p = plan(body(), key_models=["google/*"])
    assert all(c.row.model.id.startswith("google/") for c in p.ranked)
    assert p.excluded["key_model_not_allowed"] > 0


def test_a_cooling_target_goes_last_and_says_why() -> None:
    first = plan(body("deepseek/deepseek-v4-flash")).attempts[0]
    cooled = plan(body("deepseek/deepseek-v4-flash"), cooldowns={first.row.key: Cooldown(status=429, until=1_012.0)})
    assert cooled.attempts[0].row.key != first.row.key
    last = next(c for c in cooled.ranked if c.row.key == first.row.key)
    assert last.cooling == "cooling_down (429, 13 s left)"
    assert "cooling_down (429, 13 s left)" in last.preview(1)["reasons"]


def test_allow_fallbacks_false_keeps_one_provider_per_model() -> None:
    p = plan(body("deepseek/deepseek-v4-flash", provider={"allow_fallbacks": False}))
    assert len(p.attempts) == 1


def test_provider_order_comes_first() -> None:
    p = plan(body("deepseek/deepseek-v4-flash", provider={"order": ["deepinfra", "novita"]}))
    assert [c.row.provider_root for c in p.ranked[:2]] == ["deepinfra", "novita"]


def test_variable_priced_routers_are_never_chosen_by_cost() -> None:
    assert "openrouter/auto" not in models_of(plan(body(objective="cheapest")))
    assert plan(body("openrouter/pareto-code")).ranked[0].row.variable_price  # unless named explicitly


# --- properties ---------------------------------------------------------------------------------------------

AUTHORS = sorted({m.author for m in CATALOG.snapshot.models})
PROVIDERS = sorted({e.provider_root_slug for m in CATALOG.snapshot.models for e in m.endpoints})


@settings(max_examples=60, deadline=None)
@given(
    cap=st.one_of(st.none(), st.floats(min_value=0.0, max_value=0.05)),
    allowed=st.lists(st.sampled_from(AUTHORS), max_size=3),
    blocked=st.lists(st.sampled_from(AUTHORS), max_size=3),
    only=st.lists(st.sampled_from(PROVIDERS), max_size=3),
    ignore=st.lists(st.sampled_from(PROVIDERS), max_size=3),
    image_in=st.booleans(),
    image_out=st.booleans(),
    max_tokens=st.one_of(st.none(), st.integers(min_value=1, max_value=400_000)),
    objective=st.sampled_from(["cheapest", "fastest", "reliable", "balanced"]),
    mode=st.sampled_from(["auto", "free", "bodybuilder"]),
)
def test_rel_35_no_candidate_ever_violates_a_constraint(
    cap: float | None,
    allowed: list[str],
    blocked: list[str],
    only: list[str],
    ignore: list[str],
    image_in: bool,
    image_out: bool,
    max_tokens: int | None,
    objective: str,
    mode: str,
) -> None:
    extra: dict[str, Any] = {"objective": objective, "provider": {"only": only, "ignore": ignore}}
    if cap is not None:
        extra["max_cost_per_1k_tokens"] = cap
    if allowed:
        extra["allowed_models"] = [f"{a}/*" for a in allowed]
    if blocked:
        extra["blocked_models"] = [f"{b}/*" for b in blocked]
    if image_out:
        extra["modalities"] = ["image", "text"]
    if max_tokens:
        extra["max_tokens"] = max_tokens
    request = with_image(mode, **extra) if image_in else body(mode, **extra)
    chat = parse_chat_request(request)
    needs = derive_requirements(chat.body, chat.messages, chat.max_tokens)
    try:
        p = plan(request)
    except NoRoute as exc:
        assert exc.extra["funnel"][-1]["remaining"] == 0
        return
    for c in p.ranked:
        row = c.row
        assert cap is None or est_cost_per_1k(row, needs) <= cap
        assert not allowed or row.model.author in allowed
        assert row.model.author not in blocked
        assert not only or matches_provider(row, only)
        assert not matches_provider(row, ignore)
        assert not image_in or "image" in row.inputs
        assert not image_out or "image" in row.outputs
        assert not row.context_length or needs.prompt_tokens + needs.completion_tokens <= row.context_length
    assert p.ranked[: len(p.attempts)] == p.attempts


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**63),
    model=st.sampled_from(["auto", "deepseek/deepseek-v4-flash", "free", "flagship"]),
)
def test_rel_35_the_order_is_deterministic_for_a_seed(seed: int, model: str) -> None:
    first = [c.row.key for c in plan(body(model), seed=seed).ranked]
    assert first == [c.row.key for c in plan(body(model), seed=seed).ranked]


def test_the_seed_drives_openrouters_price_weighting() -> None:
    firsts = {plan(body("deepseek/deepseek-v4-flash"), seed=s).attempts[0].row.provider_slug for s in range(40)}
    assert len(firsts) > 1  # the inverse-square weighting spreads first picks across providers


def test_a_named_model_builds_only_its_own_rows_and_they_are_the_catalogs() -> None:
    """A cold process's first request for a named model does not flatten the whole catalog."""
    fresh = Catalog(CATALOG.snapshot, "bundled")
    request = body("openai/gpt-5.4-mini")
    first = plan(request, catalog=fresh)
    assert ALL_ROWS.built(fresh) is None and PROVIDER_NAMES.built(fresh) is None
    assert [c.row.key for c in first.attempts] == [c.row.key for c in plan(request).attempts]
    model = fresh.by_id["openai/gpt-5.4-mini"]
    own = model_rows(fresh, model)
    assert openrouter_rows(fresh)[model.id] is own  # the full build reuses the rows already made
    assert [r.key for r in own] == [r.key for r in openrouter_rows(CATALOG)[model.id]]
