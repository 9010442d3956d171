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
