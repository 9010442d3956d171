"""The answer to a model id that is not in the catalog: 404 with the closest real ids (SEEDS 001)."""

from __future__ import annotations

from routeway.domain.catalog import Catalog
from routeway.domain.model_ref import suggest_models
from routeway.errors import ModelNotFound


def model_not_found(catalog: Catalog, requested: str) -> ModelNotFound:
    suggestions = suggest_models(requested, catalog.ids, catalog.aliases)
    hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
    return ModelNotFound(
        f"The model {requested[:200]!r} does not exist in the catalog.{hint}",
        param="model",
        suggestions=suggestions,
    )
