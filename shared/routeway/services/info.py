"""GET /v1/info, /v1/models, /v1/models/{id}, /readyz: what the gateway knows and whether it is ready."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from routeway.config import backend_base_url, backend_region, backend_status
from routeway.domain.auto import auto_info, missing_pool_entries
from routeway.domain.catalog import Alias, Catalog, Model, Pricing
from routeway.domain.globs import NO_GLOBS, GlobSet
from routeway.domain.model_pages import anthropic_model, anthropic_page, page_limit
from routeway.domain.resolve import model_not_found
from routeway.errors import BackendUnavailable, InvalidRequest
from routeway.gateway import Gateway
from routeway.services.backends import probe_backends
from routeway.services.routing import resolve_name

ALL = "all"


@dataclass(frozen=True)
class AnthropicPaging:
    """The query of Anthropic's model list, as sent (checked when the page is cut)."""

    limit: str | None = None
    after_id: str | None = None
    before_id: str | None = None


def _pricing(pricing: Pricing) -> dict[str, float]:
    return {k: v for k, v in pricing.model_dump().items() if v or k in ("prompt", "completion")}


def model_entry(model: Model) -> dict[str, Any]:
    """OpenAI's model object (id, object, created, owned_by) plus what routing knows about it."""
    return {
        "id": model.id,
        "object": "model",
        "created": model.created,
        "owned_by": model.author,
        "name": model.name,
        "canonical_slug": model.canonical_slug,
        "context_length": model.context_length,
        "architecture": {
            "input_modalities": list(model.modalities.input),
            "output_modalities": list(model.modalities.output),
        },
        "pricing": _pricing(model.pricing),
        "supported_parameters": list(model.supported_parameters),
        "providers": sorted({e.provider_name for e in model.endpoints}),
    }


def alias_entry(alias: Alias, catalog: Catalog) -> dict[str, Any]:
    return {
        "alias": alias.alias,
        "description": alias.description,
        "family": alias.family,
        "context_window": alias.context_window,
        "tools": alias.tools,
        "vision": alias.vision,
        "reasoning": alias.reasoning,
        "image_input": alias.image_input,
        "image_output": alias.image_output,
        "licensing": alias.licensing,
        "backends": list(alias.backends),
        "targets": list(alias.targets),
        "fallback_on": alias.fallback_on,
        "constraints": alias.constraints.model_dump(),
        "resolves": all(catalog.model(t) is not None for t in alias.targets),
    }


def _first_target(alias: Alias, catalog: Catalog) -> Model | None:
    return next((m for m in map(catalog.model, alias.targets) if m is not None), None)


def _alias_as_model(alias: Alias, first: Model) -> dict[str, Any]:
    """An alias in OpenAI's model list, described by its first target that exists in the catalog."""
    entry = model_entry(first)
    entry.update(
        id=alias.alias,
        owned_by="routeway",
        name=alias.description or alias.alias,
        canonical_slug=None,
        routeway_alias={"targets": list(alias.targets), "backends": list(alias.backends)},
    )
    return entry


def _modalities(raw: str | None, param: str) -> tuple[str, ...]:
    if raw is None or raw.strip().lower() in ("", ALL):
        return ()
    values = tuple(v.strip().lower() for v in raw.split(",") if v.strip())
    if not all(v.isalpha() for v in values):
        raise InvalidRequest(f"'{param}' is a comma-separated list of modalities such as text,image.", param=param)
    return values


class InfoService:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def info(self, catalog: Catalog) -> dict[str, Any]:
        return {
            "object": "routeway.info",
            "catalog": self._catalog_summary(catalog),
            "aliases": [alias_entry(a, catalog) for a in catalog.snapshot.aliases],
            "backends": self._backends(catalog),
            "auto": auto_info(catalog),
        }

    def _catalog_summary(self, catalog: Catalog) -> dict[str, Any]:
        return {
            "version": catalog.version,
            "created_at": catalog.snapshot.created_at,
            "model_count": len(catalog.snapshot.models),
            "source": catalog.source,
        }

    def _backends(self, catalog: Catalog) -> list[dict[str, Any]]:
        rows = []
        for backend in catalog.snapshot.backends:
            status, reason = backend_status(backend, self.gw.settings)
            base_url = backend_base_url(backend, self.gw.settings)
            row: dict[str, Any] = {
                "name": backend.name,
                "kind": backend.kind,
                "base_url": base_url,
                "status": status,
                "reason": reason,
            }
            if backend.kind == "bedrock":  # where it runs and what it serves (models: and the last refresh's map)
                row |= {"region": backend_region(backend, self.gw.settings), "models": dict(backend.model_ids)}
            rows.append(row)
        return rows

    def list_models(
        self,
        catalog: Catalog,
        *,
        input_modalities: str | None = None,
        output_modalities: str | None = None,
        match: str = "any",
        free: bool = False,
        provider: str | None = None,
        include_aliases: bool = True,
        allowed: GlobSet = NO_GLOBS,
    ) -> dict[str, Any]:
        """OpenAI's model list, filtered by modalities (all or any of them), price, provider and the key's
        model list (`allowed`: a key sees only the models it may use)."""
        if match not in ("all", "any"):
            raise InvalidRequest("'match' must be 'all' or 'any'.", param="match")
        mode: Literal["all", "any"] = "all" if match == "all" else "any"
        inputs = _modalities(input_modalities, "input_modalities")
        outputs = _modalities(output_modalities, "output_modalities")
        models = catalog.models_with(inputs=inputs, outputs=outputs, match=mode)
        if allowed:
            models = [m for m in models if allowed.matches(m.id)]
        if free:
            models = [m for m in models if m.pricing.is_free]
        if provider:
            wanted_provider = provider.strip().lower()
            models = [
                m
                for m in models
                if any(wanted_provider in (e.provider_root_slug.lower(), e.provider_name.lower()) for e in m.endpoints)
            ]
        data = [model_entry(m) for m in models]
        if include_aliases and not free and not provider:
            wanted = {m.id for m in models}
            for alias in catalog.snapshot.aliases:
                first = _first_target(alias, catalog)
                if first is not None and first.id in wanted:
                    data.insert(0, _alias_as_model(alias, first))
        return {"object": "list", "data": data}

    def anthropic_models(self, listed: dict[str, Any], page: AnthropicPaging) -> dict[str, Any]:
        """The OpenAI list `list_models` made, as Anthropic's paged list."""
        limit = page_limit(page.limit)
        return anthropic_page(listed["data"], limit, after_id=page.after_id, before_id=page.before_id)

    def get_model(self, catalog: Catalog, model_id: str, *, anthropic: bool = False) -> dict[str, Any]:
        """A model by its id, an alias, or a vendor's own name that chat accepts (`gpt-4o-mini`,
        `claude-sonnet-4-5`): the resolved model, in Anthropic's shape when asked with `anthropic-version`."""
        entry = self._model_or_alias(catalog, model_id)
        if entry is None:
            resolved = resolve_name(catalog, model_id)
            entry = self._model_or_alias(catalog, resolved) if resolved is not None else None
        if entry is None:
            raise model_not_found(catalog, model_id)
        return anthropic_model(entry) if anthropic else entry

    @staticmethod
    def _model_or_alias(catalog: Catalog, model_id: str) -> dict[str, Any] | None:
        model = catalog.model(model_id)
        if model is not None:
            entry = model_entry(model)
            entry["endpoints"] = [e.model_dump(mode="json") for e in model.endpoints]
            return entry
        alias = catalog.aliases.get(model_id)
        first = _first_target(alias, catalog) if alias is not None else None
        return _alias_as_model(alias, first) if alias is not None and first is not None else None

    async def readiness_with_probes(self, catalog: Catalog) -> dict[str, Any]:
        """Readiness plus whether each configured backend answers right now. A configured backend this process
        cannot use (its key unreadable: a missing or denied SSM parameter) is not ready: 503 saying why."""
        body = self.readiness(catalog)
        body["backends"] = rows = await probe_backends(self.gw, catalog.snapshot.backends)
        unusable = [r for r in rows if r.get("error_code") == BackendUnavailable.code]
        if unusable:
            reasons = " ".join(f"{r['name']}: {r['reason']}" for r in unusable)
            raise BackendUnavailable(f"Not ready. {reasons}", backends=rows)
        return body

    def readiness(self, catalog: Catalog) -> dict[str, Any]:
        """Ready when a catalog is being served; 'degraded' when it is the in-memory or bundled one."""
        health = self.gw.catalog.store_status
        degraded = health.store_reachable is False
        body = {
            "status": "degraded" if degraded else "ready",
            "catalog": {
                **self._catalog_summary(catalog),
                "store_reachable": health.store_reachable,
                "store_error": health.last_error,
                "missing_pool_entries": missing_pool_entries(catalog),
            },
            "backends": self._backends(catalog),
        }
        return body
