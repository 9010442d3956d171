"""Where the real OpenRouter data lives: ../shared/data/openrouter beside the repo (ROUTEWAY_SHARED overrides)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ROUTEWAY_SHARED", REPO.parent / "shared"))
OPENROUTER_DATA = SHARED / "data" / "openrouter"
OPENAI_SCHEMAS = SHARED / "data" / "openai" / "chat_schemas.json"


@cache
def load(name: str) -> Any:
    return json.loads((OPENROUTER_DATA / name).read_text(encoding="utf-8"))


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !GetAtt, !If) as plain values."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}  # type: ignore[arg-type]


CfnLoader.add_multi_constructor("!", _tag)


def load_template() -> dict[str, Any]:
    """template.yaml as data, short-form tags kept as {tag: value}."""
    template: dict[str, Any] = yaml.load((REPO / "template.yaml").read_text(encoding="utf-8"), Loader=CfnLoader)  # noqa: S506
    return template


@cache
def small_catalog_ids() -> frozenset[str]:
    """A ~30-model slice of the real catalog for refresh tests: every alias target, every image-output and
    embedding model, the first dozen of the default list and the models tests edit by name. A full refresh
    makes one GET per chat model (359); this slice keeps each refresh test to about 30."""
    from routeway.config import load_routing_config

    aliases = load_routing_config(None).aliases
    targets = {target for alias in aliases for target in alias.targets}
    default = [m["id"] for m in load("models.json")["data"]]
    image = {m["id"] for m in load("models_output_image.json")["data"]}
    embedding = {m["id"] for m in load("embedding_models.json")["data"]}
    named = {"ai21/jamba-large-1.7", "anthropic/claude-opus-4.7"}
    return frozenset(targets | image | embedding | named | set(default[:12]))


def small_lists() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The default list, image list, embedding list and endpoints, cut to small_catalog_ids (fresh copies)."""
    import copy

    ids = small_catalog_ids()

    def cut(name: str) -> dict[str, Any]:
        return {"data": [copy.deepcopy(m) for m in load(name)["data"] if m["id"] in ids]}

    endpoints = {key: copy.deepcopy(value) for key, value in load("endpoints.json").items() if key in ids}
    return cut("models.json"), cut("models_output_image.json"), cut("embedding_models.json"), endpoints
