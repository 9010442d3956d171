"""Catalog shapes: what a snapshot holds about models, providers, aliases and backends.

A Snapshot is immutable data (one JSON document). A Catalog wraps one snapshot with the indexes
the hot path needs, built once when the snapshot loads and never per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

VARIABLE_PRICE = -1.0  # OpenRouter marks router models (openrouter/auto) with price -1


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Pricing(Frozen):
    """USD per token (per image / per request for those fields)."""

    prompt: float = 0.0
    completion: float = 0.0
    request: float = 0.0
    image: float = 0.0
    web_search: float = 0.0
    internal_reasoning: float = 0.0
    input_cache_read: float = 0.0
    input_cache_write: float = 0.0
    audio: float = 0.0

    @property
    def is_variable(self) -> bool:
        return self.prompt == VARIABLE_PRICE or self.completion == VARIABLE_PRICE

    @property
    def is_free(self) -> bool:
        return self.prompt == 0 and self.completion == 0 and self.request == 0 and self.image == 0


class Modalities(Frozen):
    input: tuple[str, ...] = ("text",)
    output: tuple[str, ...] = ("text",)


class Percentiles(Frozen):
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    p99: float | None = None


class Endpoint(Frozen):
    """One provider serving one model, as OpenRouter's /models/{id}/endpoints describes it."""

    provider_name: str
    provider_slug: str  # OpenRouter's `tag`: what provider.order / only take
    context_length: int | None = None
    max_completion_tokens: int | None = None
    max_prompt_tokens: int | None = None
    pricing: Pricing = Pricing()
    quantization: str = "unknown"
    supported_parameters: tuple[str, ...] = ()
    status: int = 0
    uptime_last_5m: float | None = None
    uptime_last_30m: float | None = None
    uptime_last_1d: float | None = None
    latency_last_30m: Percentiles | None = None
    throughput_last_30m: Percentiles | None = None
    supports_implicit_caching: bool = False

    @property
    def provider_root_slug(self) -> str:
        """`deepinfra/turbo` → `deepinfra`: the slug users usually write in `only`/`ignore`."""
        return self.provider_slug.split("/", 1)[0]


class Model(Frozen):
    id: str
    name: str = ""
    canonical_slug: str | None = None
    hugging_face_id: str | None = None
    created: int = 0
    description: str = ""
    context_length: int | None = None
    modalities: Modalities = Modalities()
    pricing: Pricing = Pricing()
    max_completion_tokens: int | None = None
    is_moderated: bool = False
    supported_parameters: tuple[str, ...] = ()
    expiration_date: str | None = None
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def author(self) -> str:
        return self.id.lstrip("~").split("/", 1)[0]

    @property
    def is_reasoning(self) -> bool:
        return "reasoning" in self.supported_parameters

    @property
    def output_set(self) -> frozenset[str]:
        return frozenset(self.modalities.output)


class Provider(Frozen):
    name: str
    slug: str
    headquarters: str | None = None
    datacenters: tuple[str, ...] = ()
    privacy_policy_url: str | None = None
    terms_of_service_url: str | None = None
    status_page_url: str | None = None


class AliasConstraints(Frozen):
    min_max_tokens: int | None = None
    accepts_image_url: bool = False
    typical_response_seconds: float | None = None


class Alias(Frozen):
    """A configured name for one or more models, with the facts /v1/info shows about it."""

    alias: str
    description: str = ""
    family: str = ""
    context_window: int | None = None
    tools: bool = False
    vision: bool = False
    reasoning: bool = False
    image_input: bool = False
    image_output: bool = False
    licensing: str = ""
    targets: tuple[str, ...]  # catalog model ids, tried in order
    backends: tuple[str, ...] = ("openrouter",)  # backend chain, tried in order
    backend_models: dict[str, str] = Field(default_factory=dict)  # backend → its own model name
    fallback_on: Literal["any", "hard"] = "any"  # "hard": only 5xx, timeouts, no endpoint
    constraints: AliasConstraints = AliasConstraints()


BackendStatus = Literal["available", "unconfigured", "deprecated", "planned"]


class Backend(Frozen):
    """An upstream that speaks the OpenAI chat API (OpenRouter, a vLLM, an Ollama), or Amazon Bedrock in the
    account's own region (`kind: bedrock`: `region`, and `model_ids` from catalog ids to Bedrock's)."""

    name: str
    kind: Literal["openrouter", "openai_compat", "bedrock"]
    base_url: str | None = None
    base_url_env: str | None = None  # env var holding the base URL, read at serve time
    api_key_env: str | None = None
    status: BackendStatus = "available"
    reason: str = ""
    models: tuple[str, ...] = ()  # what the backend listed at refresh time (bedrock: the catalog ids it maps)
    region: str | None = None  # bedrock: its region (else AWS_REGION where the gateway runs)
    model_ids: dict[str, str] = Field(default_factory=dict)  # bedrock: catalog model id → Bedrock model/profile id
    prices: dict[str, Pricing] = Field(default_factory=dict)  # bedrock: Bedrock model/profile id → its price here

    @model_serializer(mode="wrap")
    def _without_unset_bedrock_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        """A backend without Bedrock's fields dumps as it did before they existed: its content version (and so
        every snapshot's made before) is unchanged."""
        document = handler(self)
        if isinstance(document, dict):
            for name in ("region", "model_ids", "prices"):
                if not document.get(name):
                    document.pop(name, None)
        return document


class Snapshot(Frozen):
    """One immutable catalog document. `version` is a hash of its content."""

    version: str
    created_at: str
    source: str = "openrouter"
    models: tuple[Model, ...]
    providers: tuple[Provider, ...] = ()
    aliases: tuple[Alias, ...] = ()
    backends: tuple[Backend, ...] = ()
    # task → model ids that `auto` chooses among (domain/auto.py); empty in snapshots made before pools
    auto_pools: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class Catalog:
    """A snapshot plus lookup indexes, built lazily once per snapshot."""

    def __init__(self, snapshot: Snapshot, source: Literal["store", "bundled"]) -> None:
        self.snapshot = snapshot
        self.source = source
        self.derived: dict[PerCatalog[Any], Any] = {}  # written and read by PerCatalog only

    @property
    def version(self) -> str:
        return self.snapshot.version

    @cached_property
    def by_id(self) -> dict[str, Model]:
        index = {m.id: m for m in self.snapshot.models}
        for m in self.snapshot.models:
            if m.canonical_slug and m.canonical_slug not in index:
                index[m.canonical_slug] = m
        return index

    @cached_property
    def ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.snapshot.models)

    @cached_property
    def aliases(self) -> dict[str, Alias]:
        return {a.alias: a for a in self.snapshot.aliases}

    @cached_property
    def backends(self) -> dict[str, Backend]:
        return {b.name: b for b in self.snapshot.backends}

    def model(self, model_id: str) -> Model | None:
        return self.by_id.get(model_id)

    def models_with(
        self,
        *,
        inputs: Iterable[str] = (),
        outputs: Iterable[str] = (),
        match: Literal["all", "any"] = "any",
    ) -> list[Model]:
        """Models whose modalities include all (or any) of the ones asked for."""
        want_in, want_out = frozenset(inputs), frozenset(outputs)

        def fits(have: tuple[str, ...], want: frozenset[str]) -> bool:
            if not want:
                return True
            owned = want.intersection(have)
            return owned == want if match == "all" else bool(owned)

        return [
            m for m in self.snapshot.models if fits(m.modalities.input, want_in) and fits(m.modalities.output, want_out)
        ]


Derived = TypeVar("Derived")


class PerCatalog(Generic[Derived]):
    """Something another domain module builds from one catalog on first use and keeps for the catalog's life
    (an index, a table of rows): declared once, beside its builder, typed, and read through the declaration."""

    def __init__(self, build: Callable[[Catalog], Derived]) -> None:
        self._build = build

    def __call__(self, catalog: Catalog) -> Derived:
        found = catalog.derived.get(self)
        if found is None:
            found = catalog.derived[self] = self._build(catalog)
        return found

    def built(self, catalog: Catalog) -> Derived | None:
        """The value if it was built, without building it."""
        return catalog.derived.get(self)
