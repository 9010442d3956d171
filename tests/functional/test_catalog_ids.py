"""RELIABILITY 45: a catalog id that is not `<author>/<slug>[:variant]` is refused by the refresh, with a report
that names it (escaped), exit 2 and no traceback; it is never put in an upstream URL, never published."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from routeway.cli.app import app
from routeway.domain.normalize import is_valid_model_id
from routeway.gateway import Gateway
from tests.conftest import FakeUpstream
from tests.fakes.data import load
from tests.fakes.lambda_context import LambdaContext
from tests.fakes.openrouter import Scripted
from tests.functional.test_handlers import event, lambda_env, load_handler  # noqa: F401  (lambda_env: a fixture)

HOSTILE = (
    "evil/model\nrefused: nothing, all fine",
    "../../auth/keys",
    "evil/x?admin=1",
    "evil/x#fragment",
    "evil/with space",
    "evil/..",
    "evil//empty",
)
LISTINGS = {"/api/v1/models", "/api/v1/embeddings/models"}
runner = CliRunner()


def _hostile_listing() -> Scripted:
    """The real default list, with the hostile ids added as copies of a real row."""
    listing = copy.deepcopy(load("models.json"))  # the loaded data is shared (the fake serves it too)
    rows = listing["data"]
    rows.extend({**rows[0], "id": bad} for bad in HOSTILE)
    return Scripted(path="/models", body=listing)


def _never_requested(upstream: FakeUpstream) -> None:
    paths = {r.path for r in upstream.fake.requests}
    assert paths <= LISTINGS, paths - LISTINGS  # no per-model endpoints fetch at all, let alone a hostile path
    assert not [p for p in paths if "evil" in p or "auth" in p]


@pytest.fixture
def cli_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ROUTEWAY_CONFIG", raising=False)
    return env


@pytest.mark.both_stores
def test_rel_45_hostile_ids_are_refused_by_the_cli_refresh_and_never_requested(
    cli_env: dict[str, str], upstream: FakeUpstream, gateway: Gateway
) -> None:
    upstream.fake.enqueue(_hostile_listing())
    result = runner.invoke(app, ["catalog", "refresh"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert "Traceback" not in result.output
    refused = [line for line in result.output.splitlines() if line.startswith("refused:")]
    assert len(refused) == 1, result.output  # the newline in an id cannot forge a second report line
    for bad in HOSTILE:
        assert ascii(bad) in refused[0], bad
    _never_requested(upstream)
    assert gateway.state.sync.get_pointer() is None  # nothing published: the bundled snapshot is still served
    listed = runner.invoke(app, ["models", "--json"])
    assert listed.exit_code == 0 and not [bad for bad in HOSTILE if json.dumps(bad)[1:-1] in listed.stdout]


@pytest.mark.both_stores
def test_rel_45_hostile_ids_are_refused_by_the_scheduled_refresh_handler(
    lambda_env: Gateway,  # noqa: F811
    upstream: FakeUpstream,
) -> None:
    upstream.fake.enqueue(_hostile_listing())
    report: dict[str, Any] = load_handler("catalog_refresh")(event("catalog_refresh_scheduled.json"), LambdaContext())
    assert report["outcome"] == "refused" and "../../auth/keys" in report["reason"]
    assert "\n" not in report["reason"]
    _never_requested(upstream)
    assert lambda_env.state.sync.get_pointer() is None


@pytest.mark.parametrize(
    ("model_id", "valid"),
    [
        ("openai/gpt-5.4-mini", True),
        ("~anthropic/claude-opus-4.7:free", True),
        ("meta-llama/llama-3.1-8b-instruct:nitro", True),
        ("a/b\n", False),
        ("a/b/c", False),
        ("./b", False),
        ("a/", False),
        ("a/b:", False),
        ("a/b:c:d", False),
        ("a/b%2F..", False),
        ("a/b\u200b", False),
    ],
)
def test_rel_45_model_id_rule(model_id: str, valid: bool) -> None:
    assert is_valid_model_id(model_id) is valid
