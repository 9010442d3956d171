"""Resolve the request's `model` field to a (model, backend) target, or explain why it cannot be.

A catalog id (with OpenRouter variants) goes to OpenRouter; an alias walks its targets across its
backend chain and takes the first backend that is available in this process.
"""

from __future__ import annotations

from dataclasses import dataclass

from routeway.domain.catalog import Alias, Backend, Catalog, Model
from routeway.domain.model_ref import parse_model_ref, suggest_models
from routeway.errors import BackendUnavailable, ModelNotFound


@dataclass(frozen=True)
class Target:
    """One (model, backend) the request can be sent to."""

    model: Model
    backend: Backend
    upstream_model: str  # the name the backend knows the model by
    alias: Alias | None = None


def model_not_found(catalog: Catalog, requested: str) -> ModelNotFound:
    suggestions = suggest_models(requested, catalog.ids, catalog.aliases)
    hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
    return ModelNotFound(
        f"The model {requested[:200]!r} does not exist in the catalog.{hint}",
        param="model",
        suggestions=suggestions,
    )


def resolve_target(catalog: Catalog, requested: str, available: set[str]) -> Target:
    """A catalog id (with variants) goes to OpenRouter; an alias walks its targets × backend chain."""
    alias = catalog.aliases.get(requested)
    if alias is not None:
        for model_id in alias.targets:
            model = catalog.model(model_id)
            if model is None:
                continue
            for backend_name in alias.backends:
                backend = catalog.backends.get(backend_name)
                if backend is not None and backend_name in available:
                    upstream_model = alias.backend_models.get(backend_name, model.id)
                    return Target(model=model, backend=backend, upstream_model=upstream_model, alias=alias)
        raise BackendUnavailable(f"No backend of alias {alias.alias!r} is configured and available.")
    ref = parse_model_ref(requested)
    model = catalog.model(ref.base)
    if model is None:
        raise model_not_found(catalog, requested)
    backend = catalog.backends.get("openrouter") or Backend(name="openrouter", kind="openrouter")
    return Target(model=model, backend=backend, upstream_model=ref.raw if ref.variant else model.id)
