"""The planner (domain/plan.py: pool_plan.py and named_plan.py over domain/route_index.py and route_scores.py)
makes the plan the row-by-row oracle (tests/oracle_planner.py) makes, on random requests over the real catalog:
routing modes, named models, `models` chains and aliases."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routeway.domain.candidates import openrouter_rows
from routeway.domain.catalog import Catalog
from routeway.domain.globs import parse_globs
from routeway.domain.goals import parse_goals
from routeway.domain.plan import Candidate, Cooldown, Plan, plan_route
from routeway.domain.requirements import derive_requirements
from routeway.domain.route_scores import micros
from routeway.domain.wire import parse_chat_request
from routeway.errors import GatewayError
from tests.oracle_planner import plan_reference, round6
from tests.unit.test_routing import CATALOG, PNG

NOW = 1_000.0
ROW_KEYS = sorted(r.key for rows in openrouter_rows(CATALOG).values() for r in rows)
LONG = "Summarise this report. " + "The quarterly figures rose again. " * 12_500  # ~110k tokens: long_context
TEXTS = (
    "Summarise the plot of Hamlet.",
    "Write a Python function that reverses a linked list, with tests.",
    "Prove that the square root of two is irrational.",
    "Translate into French: good morning, how are you?",
    "Draw a watercolour picture of a lighthouse at dusk.",
)


def _optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


PROVIDER = st.fixed_dictionaries(
    {},
    optional={
        "only": st.sampled_from([["deepinfra"], ["novita", "together"], ["google-vertex"]]),
        "ignore": st.sampled_from([["deepinfra"], ["openai", "azure"]]),
        "order": st.sampled_from([["deepinfra", "novita"], ["together"]]),
        "sort": st.sampled_from(["price", "throughput", "latency"]),
        "quantizations": st.sampled_from([["fp8"], ["fp8", "bf16"], ["int4"]]),
        "max_price": st.sampled_from([{"prompt": 1.0}, {"completion": 2.0, "request": 0.0}, {"image": 0.0}]),
        "require_parameters": st.booleans(),
        "allow_fallbacks": st.booleans(),
    },
)

EXTRAS = st.fixed_dictionaries(
    {},
    optional={
        "objective": st.sampled_from(["cheapest", "fastest", "reliable", "balanced"]),
        "max_cost_per_1k_tokens": st.sampled_from([0.0001, 0.002, 0.05]),
        "allowed_models": st.sampled_from([["anthropic/*", "openai/*"], ["meta-llama/*"], ["*free*", "google/*"]]),
        "blocked_models": st.sampled_from([["qwen/*", "mistralai/*"], ["openai/gpt-5*"]]),
        "provider": PROVIDER,
        "tools": st.just([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
        "response_format": st.sampled_from(
            [
                {"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}},
            ]
        ),
        "max_tokens": st.sampled_from([64, 256, 4_000, 60_000, 300_000]),
        "max_completion_tokens": st.sampled_from([100, 8_000]),
        "reasoning": st.sampled_from([{"effort": "high"}, {"enabled": False}]),
        "temperature": st.just(0.3),
        "metadata": st.sampled_from([{"objective": "fastest"}, {"user": "u1"}, {"allowed_models": ["google/*"]}]),
        "modalities": st.sampled_from([["image", "text"], ["text"]]),
        "top_n": st.integers(min_value=1, max_value=6),
    },
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(st.sampled_from((*TEXTS, LONG)))
    content: Any = text
    if draw(st.booleans()):
        content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": PNG}}]
    model = draw(st.sampled_from(["auto", "router", "openrouter/auto", "free", "bodybuilder"]))
    return {"model": model, "messages": [{"role": "user", "content": content}], **draw(EXTRAS)}


COOLDOWNS = st.dictionaries(
    st.sampled_from(ROW_KEYS), st.builds(Cooldown, st.sampled_from([429, 503, None]), st.sampled_from([500.0, 1500.0]))
)


def _plan(
    request: dict[str, Any],
    indexed: bool,
    seed: int,
    cooldowns: dict[str, Cooldown],
    key_models: list[str] | None,
    catalog: Catalog = CATALOG,
    backends: frozenset[str] = frozenset({"openrouter"}),
) -> Plan | GatewayError:
    chat = parse_chat_request(request)
    planner = plan_route if indexed else plan_reference
    try:
        return planner(
            catalog,
            model=chat.model,
            fallbacks=chat.models,
            goals=parse_goals(chat.body),
            needs=derive_requirements(chat.body, chat.messages, chat.max_tokens),
            messages_text=str(request["messages"])[-20_000:],
            available_backends=backends,
            cooldowns=cooldowns,
            now=NOW,
            seed=seed,
            key_models=parse_globs(key_models, "models"),
        )
    except GatewayError as error:
        return error


def _candidate(c: Candidate) -> tuple[Any, ...]:
    s = c.scored
    return (c.row.key, c.upstream_model, c.cooling, s.score, s.tiebreak, s.cost_per_1k, s.expected_cost, s.reasons)


def _summary(result: Plan | GatewayError) -> Any:
    if isinstance(result, GatewayError):
        return type(result).__name__, str(result), getattr(result, "funnel", None)
    return {
        "mode": result.mode,
        "attempts": [_candidate(c) for c in result.attempts],
        "ranked": [_candidate(c) for c in result.ranked],
        "len": len(result.ranked),
        "excluded": result.excluded,
        "notes": result.notes,
        "task": result.task,
        "sort": result.sort,
        "fan_out": result.fan_out,
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=requests(),
    seed=st.integers(min_value=0, max_value=2**63),
    cooldowns=COOLDOWNS,
    key_models=_optional(st.sampled_from([["openai/*", "google/*"], ["meta-llama/*", "mistralai/*", "qwen/*"]])),
)
def test_indexed_planner_agrees_with_the_reference_loop(
    request: dict[str, Any], seed: int, cooldowns: dict[str, Cooldown], key_models: list[str] | None
) -> None:
    indexed = _plan(request, True, seed, cooldowns, key_models)
    reference = _plan(request, False, seed, cooldowns, key_models)
    assert _summary(indexed) == _summary(reference)


MODEL_IDS = sorted(m.id for m in CATALOG.snapshot.models)
VARIANTS = st.sampled_from(MODEL_IDS).map(lambda m: m if ":" in m else m + (":nitro" if len(m) % 2 else ":floor"))
TARGETS = st.sampled_from(MODEL_IDS) | VARIANTS  # a chain's entries: catalog ids, variants among them
NAMED = st.one_of(TARGETS, TARGETS, TARGETS, st.sampled_from(sorted(CATALOG.aliases)), st.just("no-such/model"))


@st.composite
def named_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A named model, a `models` chain (repeats and variants included) or an alias, with any goals."""
    request = draw(requests())
    if draw(st.booleans()):  # half of them without goals: a named model's usual request
        request = {"messages": request["messages"]}
    request["model"] = draw(NAMED)
    if draw(st.booleans()):
        request["models"] = draw(st.lists(TARGETS, min_size=1, max_size=4))
    return request


BACKENDS = st.sampled_from(  # mostly with OpenRouter; an alias's local backends with it or alone; none at all
    [frozenset({"openrouter"})] * 3
    + [frozenset({"openrouter", "vllm"}), frozenset({"openrouter", "vllm", "ollama"})]
    + [frozenset({"vllm", "ollama"}), frozenset()]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=named_requests(),
    seed=st.integers(min_value=0, max_value=2**63),
    cooldowns=COOLDOWNS,
    key_models=_optional(st.sampled_from([["openai/*", "google/*"], ["meta-llama/*", "mistralai/*", "qwen/*"]])),
    backends=BACKENDS,
)
def test_named_models_chains_and_aliases_plan_as_the_oracle_does(
    request: dict[str, Any],
    seed: int,
    cooldowns: dict[str, Cooldown],
    key_models: list[str] | None,
    backends: frozenset[str],
) -> None:
    """A named model, a fallback chain or an alias plans over an index of its targets: the oracle's plan,
    errors (unknown model, no route, no vision) and backends that are not configured included."""
    indexed = _plan(request, True, seed, cooldowns, key_models, backends=backends)
    reference = _plan(request, False, seed, cooldowns, key_models, backends=backends)
    assert _summary(indexed) == _summary(reference)
    again = _plan(request, True, seed, cooldowns, key_models, backends=backends)  # from the chain's cached index
    assert _summary(again) == _summary(indexed)


@pytest.mark.parametrize(
    ("model", "models"),
    [
        ("local", []),
        ("flagship", []),
        ("deepseek/deepseek-v4-flash", ["deepseek/deepseek-v4-flash:nitro", "openai/gpt-5.5", "openai/gpt-5.5"]),
    ],
)
def test_a_named_plan_shares_a_repeated_targets_rows_as_the_oracle_does(model: str, models: list[str]) -> None:
    """An alias over local backends, an alias over OpenRouter, a chain naming one model twice (its rows share
    their scores and reasons): the same plan as the oracle's, attempts and all."""
    request = {"model": model, "messages": [{"role": "user", "content": TEXTS[0]}], "models": models}
    backends = frozenset({"openrouter", "vllm", "ollama"})
    indexed, reference = (
        _plan(request, True, 7, {}, None, backends=backends),
        _plan(request, False, 7, {}, None, backends=backends),
    )
    assert isinstance(indexed, Plan) and indexed.attempts
    assert _summary(indexed) == _summary(reference)


def test_the_named_index_cache_stays_bounded() -> None:
    """Requests bring their own chains: the cache of their indexes is an LRU of bounded size."""
    from routeway.domain.named_plan import MAX_CACHED_CHAINS, NAMED_TARGETS

    catalog = Catalog(CATALOG.snapshot, "bundled")
    for n in range(MAX_CACHED_CHAINS + 10):
        request = {"model": MODEL_IDS[0], "models": [MODEL_IDS[1 + n % 200], MODEL_IDS[1 + n // 200]]}
        _plan({**request, "messages": [{"role": "user", "content": "hi"}]}, True, 0, {}, None, catalog)
        assert len(NAMED_TARGETS(catalog)) <= MAX_CACHED_CHAINS
    first = ("chain", (MODEL_IDS[0], MODEL_IDS[1], MODEL_IDS[1]))
    assert first not in NAMED_TARGETS(catalog)  # the least recently used went first


def _copies(catalog: Catalog, copies: int, keep_pools: bool) -> Catalog:
    """The catalog and `copies - 1` copies of every model under new ids, prices nudged (as bench/routing.py's
    tenfold catalog): a larger catalog, with its task pools or without (the no-pool path)."""
    models = list(catalog.snapshot.models)
    for copy in range(1, copies):
        factor = 1 + copy * 0.013
        for model in catalog.snapshot.models:
            endpoints = tuple(
                e.model_copy(
                    update={
                        "pricing": e.pricing.model_copy(
                            update={"prompt": e.pricing.prompt * factor, "completion": e.pricing.completion * factor}
                        )
                    }
                )
                for e in model.endpoints
            )
            update = {"id": f"{model.id}-x{copy}", "endpoints": endpoints, "canonical_slug": None}
            models.append(model.model_copy(update=update))
    pools = catalog.snapshot.auto_pools if keep_pools else {}
    snapshot = catalog.snapshot.model_copy(update={"models": tuple(models), "auto_pools": pools})
    return Catalog(snapshot, "bundled")


LARGER = {True: _copies(CATALOG, 3, keep_pools=True), False: _copies(CATALOG, 3, keep_pools=False)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests(), seed=st.integers(min_value=0, max_value=2**63), keep_pools=st.booleans())
def test_indexed_planner_agrees_on_a_larger_catalog(request: dict[str, Any], seed: int, keep_pools: bool) -> None:
    """Three times the models (many draws at once, partial sorts past the first models), with pools and without."""
    catalog = LARGER[keep_pools]
    indexed = _plan(request, True, seed, {}, None, catalog)
    reference = _plan(request, False, seed, {}, None, catalog)
    assert _summary(indexed) == _summary(reference)


@pytest.mark.parametrize("model", ["auto", "free", "bodybuilder"])
def test_indexed_plan_reads_like_a_list(model: str) -> None:
    """The lazily made `ranked` slices, indexes from either end and iterates like the reference's list."""
    request = {"model": model, "messages": [{"role": "user", "content": TEXTS[0]}]}
    indexed, reference = _plan(request, True, 3, {}, None), _plan(request, False, 3, {}, None)
    assert isinstance(indexed, Plan) and isinstance(reference, Plan)
    assert len(indexed.ranked) == len(reference.ranked) > 3
    assert indexed.ranked[:3] == indexed.ranked[:3] and indexed.ranked[: len(indexed.attempts)] == indexed.attempts
    assert [_candidate(c) for c in indexed.ranked[:3]] == [_candidate(c) for c in reference.ranked[:3]]
    assert _candidate(indexed.ranked[-1]) == _candidate(reference.ranked[-1])
    with pytest.raises(IndexError):
        indexed.ranked[len(indexed.ranked)]


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-10, max_value=10, allow_nan=False) | st.integers(0, 10**7).map(lambda n: (n + 0.5) / 1e6))
def test_micros_and_round6_are_pythons_round(value: float) -> None:
    import numpy as np

    from routeway.domain import plain_arrays

    assert int(micros(np.array([value]), np)[0]) == round(round(value, 6) * 1e6)
    assert micros(plain_arrays.array([value], dtype=float), plain_arrays)[0] == round(round(value, 6) * 1e6)
    assert repr(round6(value)) == repr(round(value, 6))  # repr: -0.0 and 0.0 differ in JSON


@settings(max_examples=300, deadline=None)
@given(st.floats() | st.integers(-(10**9), 10**9).map(lambda n: (n + 0.5) / 1e6) | st.sampled_from([-0.0, 1e-7, -4e-7]))
def test_round6_is_pythons_round_for_any_float(value: float) -> None:
    assert repr(round6(value)) == repr(round(value, 6))


def test_provider_order_without_fallbacks_ranks_models_by_the_named_providers_only() -> None:
    """The loop used to fail (min() of an empty list) when a model offered none of the named providers;
    now such a model is left out, and each model ranks by the rows it may offer (the property test's finds)."""
    request = {
        "model": "auto",
        "messages": [{"role": "user", "content": TEXTS[0]}],
        "objective": "cheapest",
        "provider": {"only": ["novita", "together"], "order": ["deepinfra", "novita"], "allow_fallbacks": False},
    }
    indexed, reference = _plan(request, True, 0, {}, None), _plan(request, False, 0, {}, None)
    assert isinstance(indexed, Plan) and indexed.attempts
    assert all(c.row.provider_root == "novita" for c in indexed.ranked)
    assert _summary(indexed) == _summary(reference)


@pytest.mark.parametrize(
    "extra",
    [{}, {"temperature": 0.2, "user": "u"}, {"metadata": {"user": "x"}}, {"metadata": None}, {"provider": {}}],
)
def test_a_body_without_goals_gets_what_reading_every_field_gives(extra: dict[str, Any]) -> None:
    """parse_goals' shortcut (bodies without goal fields) agrees with reading each field."""
    from routeway.domain.goals import read_goals

    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **extra}
    assert parse_goals(body) == read_goals(body)


def test_the_index_caches_stay_bounded_and_keep_what_is_in_use() -> None:
    """Requests bring their own globs, modalities and max_tokens: the caches keyed by them stay bounded,
    and what every request uses (a key's glob list, the usual completion size) is not evicted."""
    from routeway.domain.route_index import MAX_CACHED_MASKS, MAX_CACHED_SPEEDS, route_index

    index = route_index(Catalog(CATALOG.snapshot, "bundled"))
    in_use = parse_globs(["openai/*"], "models")
    expected = index.glob_mask(in_use).copy()
    for n in range(MAX_CACHED_MASKS + 20):
        index.glob_mask(parse_globs([f"nobody-{n}/*"], "allowed_models"))
        assert (index.glob_mask(in_use) == expected).all()
        index.speed_log(256)
        index.speed_log(10_000 + n)
        index.without("outputs", f"made-up-{n}")
    assert len(index.memo) <= MAX_CACHED_MASKS and ("globs", in_use) in index.memo
    assert len(index.speed_logs) <= MAX_CACHED_SPEEDS and 256 in index.speed_logs
    assert all(value in index.outputs for _, value in index.lacking)


@pytest.mark.parametrize(
    "extra",
    [
        {"provider": {"only": ["deepinfra"]}},
        {"provider": {"only": ["deepinfra"]}, "objective": "cheapest"},
        {"provider": {"only": ["deepinfra", "novita"], "order": ["novita"], "allow_fallbacks": False}},
        {"provider": {"only": ["deepinfra"]}, "cooldowns": True},
        {"allowed_models": ["anthropic/*"], "tools": [{"type": "function", "function": {"name": "f"}}]},
    ],
)
def test_a_thin_pool_is_ranked_as_the_oracle_ranks_it(extra: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A part of a few rows (a thin pool) goes through the same column operations as a large one: the plan is
    the oracle's (the columns' fixed costs once made the planner rank such parts row by row)."""
    from routeway.domain import pool_plan

    part_sizes: list[int] = []
    real = pool_plan._rank_part
    monkeypatch.setattr(
        pool_plan, "_rank_part", lambda index, at, *rest: part_sizes.append(len(at)) or real(index, at, *rest)
    )
    cooldowns = {key: Cooldown(429, NOW + 30) for key in ROW_KEYS[::3]} if extra.pop("cooldowns", False) else {}
    request = {"model": "auto", "messages": [{"role": "user", "content": TEXTS[1]}], **extra}
    for seed in range(5):
        indexed, reference = _plan(request, True, seed, cooldowns, None), _plan(request, False, seed, cooldowns, None)
        assert _summary(indexed) == _summary(reference)
    assert part_sizes and min(part_sizes) <= 12  # a thin part was ranked
