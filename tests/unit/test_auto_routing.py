"""Issue #18, in the domain: special-purpose models, task detection, task pools, over the real bundled catalog."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from routeway.config import ConfigError, load_routing_config
from routeway.domain.auto import auto_info, live_pools, missing_pool_entries
from routeway.domain.catalog import Catalog, Modalities, Model
from routeway.domain.goals import parse_goals
from routeway.domain.plan import Plan, plan_route
from routeway.domain.requirements import derive_requirements
from routeway.domain.special import classify, special_purpose
from routeway.domain.tasks import LONG_CONTEXT_TOKENS, TASKS, detect_task
from routeway.domain.wire import parse_chat_request
from routeway.errors import NoRoute
from tests.unit.test_routing import CATALOG, body, models_of, plan, with_image

# Every model of the bundled catalog (../shared/data/openrouter, 2026-05-18) the rules classify.
SPECIAL_IN_BUNDLE = {
    "openai/gpt-oss-safeguard-20b": "safety",
    "meta-llama/llama-guard-3-8b": "safety",
    "meta-llama/llama-guard-4-12b": "safety",
    "morph/morph-v3-fast": "apply",
    "morph/morph-v3-large": "apply",
    "relace/relace-apply-3": "apply",
    "relace/relace-search": "retrieval",
    "black-forest-labs/flux.2-klein-4b": "image_only",
    "black-forest-labs/flux.2-pro": "image_only",
    "black-forest-labs/flux.2-max": "image_only",
    "google/lyria-3-pro-preview": "audio_only",
    "google/lyria-3-clip-preview": "audio_only",
    "baidu/qianfan-ocr-fast": "ocr",
    "bytedance/ui-tars-1.5-7b": "gui_agent",
    "openrouter/auto": "router",
    "openrouter/free": "router",
    "openrouter/pareto-code": "router",
    "openrouter/bodybuilder": "router",
    "switchpoint/router": "router",
    "openai/text-embedding-3-small": "embedding",
    "openai/text-embedding-3-large": "embedding",
    "openai/text-embedding-ada-002": "embedding",
    "google/gemini-embedding-001": "embedding",
    "mistralai/mistral-embed-2312": "embedding",
    "qwen/qwen3-embedding-8b": "embedding",
    "baai/bge-m3": "embedding",
}
GENERAL = [
    "anthropic/claude-sonnet-4.5",
    "openai/gpt-4o-mini",
    "openai/gpt-oss-20b",  # the safeguard model's base model is general
    "openai/gpt-oss-120b",
    "qwen/qwen3-coder",  # coders are general models, not apply models
    "mistralai/devstral-2512",
    "openai/gpt-5.3-codex",
    "openai/gpt-audio",  # audio in and out, but a chat model
    "google/gemini-3.1-flash-image-preview",  # image and text out
    "openrouter/owl-alpha",  # a stealth model under openrouter/, not a router
    "meta-llama/llama-3.3-70b-instruct",
    "perplexity/sonar",
]

CHAT = "Summarise the plot of Hamlet in three sentences."
CODE = "Why does this fail?\n```python\ndef add(a, b):\n    return a - b\n```"
REASONING = "Prove that the square root of 2 is irrational."


def needs_of(request: dict[str, Any]):  # type: ignore[no-untyped-def]
    chat = parse_chat_request(request)
    return derive_requirements(chat.body, chat.messages, chat.max_tokens)


def assert_pool_first(p: Plan, pool: Sequence[str]) -> None:
    """The pool's candidates come first, every attempt among them; other general models only follow."""
    ranked = models_of(p)
    assert ranked and ranked[0] in pool
    in_pool = [m in pool for m in ranked]
    assert in_pool == sorted(in_pool, reverse=True)
    assert all(c.row.model.id in pool for c in p.attempts)


def catalog_with_pools(pools: dict[str, tuple[str, ...]]) -> Catalog:
    return Catalog(CATALOG.snapshot.model_copy(update={"auto_pools": pools}), "bundled")


# --- special-purpose classification --------------------------------------------------------------------------


def test_the_rules_catch_exactly_the_special_purpose_models_of_the_bundled_catalog() -> None:
    assert dict(special_purpose(CATALOG)) == SPECIAL_IN_BUNDLE
    for model_id in GENERAL:
        assert CATALOG.model(model_id) is not None and model_id not in special_purpose(CATALOG)


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"id": "openai/text-embedding-3-small", "modalities": Modalities(output=("embeddings",))}, "embedding"),
        ({"id": "qwen/qwen3-embedding-8b"}, "embedding"),
        ({"id": "cohere/rerank-v3.5", "name": "Cohere: Rerank 3.5"}, "rerank"),
        ({"id": "openai/omni-moderation-latest"}, "moderation"),
        ({"id": "google/shieldgemma-9b"}, "safety"),
        ({"id": "ibm-granite/granite-guardian-3.2-5b"}, "safety"),
        ({"id": "acme/tts-1", "modalities": Modalities(output=("audio",))}, "audio_only"),
        ({"id": "acme/patcher", "description": "A fast apply model for code edits."}, "apply"),
    ],
)
def test_rules_for_kinds_the_bundle_does_not_hold(fields: dict[str, Any], kind: str) -> None:
    assert classify(Model(**fields)) == kind


def test_a_coder_that_mentions_applying_edits_is_general_when_it_takes_tools() -> None:
    coder = Model(id="acme/coder", description="An apply model for edits and agents.", supported_parameters=("tools",))
    assert classify(coder) is None


# --- task detection ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "task"),
    [
        (body(text=CHAT), "chat"),
        (body(text="hello"), "chat"),
        (body(text="What should I cook tonight with leeks?"), "chat"),
        (body(text=CODE), "code"),
        (body(text='Traceback (most recent call last):\n  File "x.py", line 1\nKeyError: 1'), "code"),
        (body(text="Write a Python function that reverses a linked list."), "code"),
        (body(text="import os\nprint(os.getcwd())"), "code"),
        (body(text=REASONING), "reasoning"),
        (body(text="Solve for x: 3x + 5 = 20"), "reasoning"),
        (body(text="A logic puzzle: three boxes, one lies. Which has the gold?"), "reasoning"),
        (body(text="hello", reasoning={"effort": "high"}), "reasoning"),
        (body(text="hello", reasoning_effort="medium"), "reasoning"),
        (body(text="hello", reasoning={"enabled": False}), "chat"),
        (with_image(), "vision"),
        (body(text="x " * (LONG_CONTEXT_TOKENS * 2)), "long_context"),
        (body(text="weather?", tools=[{"type": "function", "function": {"name": "w"}}]), "tools"),
        (body(text="Draw a fox", modalities=["image", "text"]), "image_generation"),
    ],
)
def test_detect_task(request_body: dict[str, Any], task: str) -> None:
    text = "\n".join(m["content"] if isinstance(m["content"], str) else "" for m in request_body["messages"])
    assert detect_task(needs_of(request_body), text).task == task


def test_a_coding_system_prompt_makes_a_code_task() -> None:
    request = {
        "model": "auto",
        "messages": [
            {"role": "system", "content": "You are a coding assistant."},
            {"role": "user", "content": "How do I make it faster?"},
        ],
    }
    assert plan(request).task == "code"


def test_precedence_hard_requirements_first() -> None:
    code_with_image = with_image()
    code_with_image["messages"][0]["content"][0]["text"] = CODE
    assert detect_task(needs_of(code_with_image), CODE).task == "vision"
    tools_and_code = body(text=CODE, tools=[{"type": "function", "function": {"name": "run"}}])
    assert detect_task(needs_of(tools_and_code), CODE).task == "tools"
    code_and_proof = body(text=CODE + "\nProve it terminates.")
    assert detect_task(needs_of(code_and_proof), CODE + "\nProve it terminates.").task == "code"
    assert detect_task(needs_of(body(text=CODE, reasoning={"effort": "high"})), CODE).task == "code"


# --- pools --------------------------------------------------------------------------------------------------------


def test_every_pool_entry_exists_in_the_bundled_catalog_and_is_general() -> None:
    pools = CATALOG.snapshot.auto_pools
    assert set(pools) == set(TASKS)
    assert missing_pool_entries(CATALOG) == {}
    assert live_pools(CATALOG) == {task: list(ids) for task, ids in pools.items()}
    for task, ids in pools.items():
        for model_id in ids:
            assert CATALOG.model(model_id) is not None, model_id
            assert model_id not in special_purpose(CATALOG), model_id
        if task != "image_generation":  # only Google and OpenAI make image+text models
            assert len({i.split("/")[0] for i in ids}) >= 5, task  # bodybuilder fans out across authors
    for model_id in pools["vision"]:
        assert "image" in CATALOG.model(model_id).modalities.input  # type: ignore[union-attr]
    for model_id in pools["image_generation"]:
        assert "image" in CATALOG.model(model_id).modalities.output  # type: ignore[union-attr]
    for model_id in pools["long_context"]:
        assert (CATALOG.model(model_id).context_length or 0) >= 1_000_000  # type: ignore[union-attr]
    for model_id in pools["tools"]:
        assert "tools" in CATALOG.model(model_id).supported_parameters  # type: ignore[union-attr]


def test_the_bundled_pools_are_the_packaged_defaults() -> None:
    assert load_routing_config(None).pools == CATALOG.snapshot.auto_pools


@pytest.mark.parametrize("prompt", [CHAT, CODE, REASONING])
@pytest.mark.parametrize("objective", ["balanced", "cheapest", "fastest", "reliable"])
def test_auto_ranks_the_task_pool_and_never_a_special_purpose_model(prompt: str, objective: str) -> None:
    p = plan(body(text=prompt, objective=objective))
    assert p.task in ("chat", "code", "reasoning")
    assert_pool_first(p, CATALOG.snapshot.auto_pools[p.task])
    assert p.excluded["special_purpose"] > 0
    for mode in ("router", "openrouter/auto", "free", "bodybuilder"):
        assert not set(models_of(plan(body(mode, text=prompt, objective=objective)))) & set(SPECIAL_IN_BUNDLE)


def test_free_excludes_special_purpose_models_and_keeps_its_free_pool() -> None:
    p = plan(body("free", objective="fastest"))
    assert p.ranked and all(c.row.model.pricing.is_free or c.row.model.id.endswith(":free") for c in p.ranked)
    assert not set(models_of(p)) & set(SPECIAL_IN_BUNDLE)


def test_allowed_authors_with_auto_stay_within_them_and_general() -> None:
    p = plan(body(allowed_models=["meta-llama/*", "mistralai/*"]))
    assert models_of(p)[0] == "mistralai/mistral-large-2512"  # the one pool model they allow comes first
    assert len(set(models_of(p))) > 1  # then the other models they allow, as fallbacks
    assert p.ranked and all(m.startswith(("meta-llama/", "mistralai/")) for m in models_of(p))
    assert "meta-llama/llama-guard-3-8b" not in models_of(p) and p.excluded["special_purpose"] > 0
    for objective in ("cheapest", "fastest", "reliable"):
        ranked = models_of(plan(body(allowed_models=["meta-llama/*", "mistralai/*"], objective=objective)))
        assert ranked and not set(ranked) & set(SPECIAL_IN_BUNDLE)


def test_a_pool_emptied_by_constraints_falls_back_to_the_filtered_catalog() -> None:
    p = plan(body(allowed_models=["meta-llama/*"], objective="cheapest"))
    assert p.ranked and all(m.startswith("meta-llama/") for m in models_of(p))
    assert not any("guard" in m for m in models_of(p))
    assert any("ranked the filtered catalog" in n for n in p.notes)
    keyed = plan(body(), key_models=["meta-llama/*"])  # a key's model list empties it the same way
    assert keyed.ranked and all(m.startswith("meta-llama/") and "guard" not in m for m in models_of(keyed))


def test_when_only_special_purpose_models_remain_no_route_names_the_filter() -> None:
    with pytest.raises(NoRoute) as caught:
        plan(body(allowed_models=["meta-llama/llama-guard-*", "morph/*"]))
    funnel = caught.value.extra["funnel"]
    assert {"filter": "special_purpose", "removed": funnel[1]["removed"], "remaining": 0} in funnel
    assert plan(body("meta-llama/llama-guard-3-8b")).ranked[0].row.model.id == "meta-llama/llama-guard-3-8b"


def test_bodybuilder_fans_out_to_the_top_of_the_task_pool() -> None:
    p = plan(body("bodybuilder", text=CODE, top_n=4))
    assert p.task == "code" and len(p.attempts) == 4
    assert {c.row.model.id for c in p.attempts} <= set(CATALOG.snapshot.auto_pools["code"])
    assert len({c.row.model.author for c in p.attempts}) == 4
    wide = plan(body("bodybuilder", top_n=12))  # more than the pool's authors: general models fill the rest
    assert len(wide.attempts) == 12 and not {c.row.model.id for c in wide.attempts} & set(SPECIAL_IN_BUNDLE)


def test_a_pool_entry_missing_from_the_catalog_is_skipped_and_named() -> None:
    catalog = catalog_with_pools({"chat": ("acme/not-a-model", "openai/gpt-5.4-mini"), "code": ("acme/x",)})
    assert missing_pool_entries(catalog) == {"chat": ["acme/not-a-model"], "code": ["acme/x"]}
    assert auto_info(catalog)["pools"] == {"chat": ["openai/gpt-5.4-mini"], "code": []}
    chat = parse_chat_request(body())
    p = plan_route(
        catalog,
        model="auto",
        fallbacks=[],
        goals=parse_goals(chat.body),
        needs=needs_of(body()),
        messages_text=CHAT,
        available_backends=frozenset({"openrouter"}),
        cooldowns={},
        now=0.0,
        seed=1,
    )
    assert models_of(p)[0] == "openai/gpt-5.4-mini" and "acme/not-a-model" not in models_of(p)


# --- configuration ------------------------------------------------------------------------------------------------


def test_an_override_replaces_pools_task_by_task(tmp_path: Path) -> None:
    path = tmp_path / "routeway.yaml"
    path.write_text("backends: []\naliases: []\nauto:\n  pools:\n    chat: [acme/unknown, openai/gpt-4o-mini]\n")
    config = load_routing_config(path)
    assert config.pools["chat"] == ("acme/unknown", "openai/gpt-4o-mini")
    assert config.pools["code"] == load_routing_config(None).pools["code"]
    path.write_text("backends: []\naliases: []\n")
    assert load_routing_config(path).pools == load_routing_config(None).pools


@pytest.mark.parametrize(
    "auto",
    [
        "auto: [a]",
        "auto:\n  pools:\n    poetry: [openai/gpt-4o]",
        "auto:\n  pools:\n    chat: openai/gpt-4o",
        "auto:\n  pools:\n    chat: [openai/gpt-4o, openai/gpt-4o]",
        "auto:\n  pools:\n    chat: ['']",
    ],
)
def test_a_malformed_pool_is_a_config_error(tmp_path: Path, auto: str) -> None:
    path = tmp_path / "routeway.yaml"
    path.write_text(f"backends: []\naliases: []\n{auto}\n")
    with pytest.raises(ConfigError):
        load_routing_config(path)


def test_vision_prompt_is_routed_to_the_vision_pool() -> None:
    p = plan(with_image())
    assert p.task == "vision"
    assert_pool_first(p, CATALOG.snapshot.auto_pools["vision"])
