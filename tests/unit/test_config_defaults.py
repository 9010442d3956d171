"""The packaged defaults are read from data/defaults.json, generated from the hand-edited data/defaults.yaml."""

from __future__ import annotations

import json
from importlib import resources

from routeway.config import PACKAGED_DEFAULTS, load_routing_config, packaged_defaults_document


def test_the_generated_json_says_what_the_yaml_says() -> None:
    generated = json.loads(resources.files("routeway").joinpath(PACKAGED_DEFAULTS).read_bytes())
    assert generated == packaged_defaults_document(), "defaults.yaml changed: run `make snapshot` (build_defaults.py)"


def test_the_packaged_defaults_load_without_yaml() -> None:
    config = load_routing_config(None)
    assert {b.name for b in config.backends} >= {"openrouter", "vllm", "ollama"}
    assert config.aliases and config.pools
