"""Bedrock's prices (issue 34, part 2): the packaged table (region × model, with its source and date), the operator's
`prices:` over it, and the row a catalog model gets from them."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from routeway.config import PACKAGED_BEDROCK_PRICES, ConfigError, load_routing_config
from routeway.domain.bedrock_prices import bedrock_price, overrides_of, pricing_of, split_profile
from routeway.domain.catalog import Model, Pricing

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
TABLE = json.loads(resources.files("routeway").joinpath(PACKAGED_BEDROCK_PRICES).read_bytes())


def test_the_packaged_table_says_where_its_prices_come_from_and_when() -> None:
    assert TABLE["source"] == "https://aws.amazon.com/bedrock/pricing/"
    assert TABLE["as_of"][:4] == "2026" and "per million tokens" in TABLE["unit"]
    checked = TABLE["checked_against"]  # what the rows were compared with, and which were not
    assert "BerriAI/litellm/blob/" in checked["litellm"] and checked["checked_on"][:4] == "2026"
    assert set(checked["unchecked"]) <= {model for rows in TABLE["regions"].values() for model in rows}
    for region, rows in TABLE["regions"].items():
        for model, row in rows.items():
            price = pricing_of(row, f"{region}/{model}")  # every row reads
            assert 0 < price.prompt <= price.completion, (region, model)
            assert price.input_cache_read <= price.prompt <= max(price.input_cache_write, price.prompt)


def test_a_profile_is_priced_as_its_region_and_a_global_one_at_the_global_rate() -> None:
    assert split_profile(f"us.{SONNET}") == ("us", SONNET) and split_profile(SONNET) == (None, SONNET)
    regional = bedrock_price(TABLE, {}, "us-east-1", f"us.{SONNET}")
    assert regional == bedrock_price(TABLE, {}, "us-west-2", SONNET)
    assert regional is not None and regional.prompt == pytest.approx(3.3e-6)
    assert regional.completion == pytest.approx(16.5e-6)
    assert (regional.input_cache_read, regional.input_cache_write) == pytest.approx((0.33e-6, 4.125e-6))
    cheaper = bedrock_price(TABLE, {}, "us-east-1", f"global.{SONNET}")
    assert cheaper is not None and (cheaper.prompt, cheaper.completion) == pytest.approx((3e-6, 15e-6))


def test_a_region_or_model_the_table_lacks_is_unpriced_until_the_operator_prices_it() -> None:
    assert bedrock_price(TABLE, {}, "eu-central-1", f"eu.{SONNET}") is None
    assert bedrock_price(TABLE, {}, "us-east-1", "acme.unknown-model-v1:0") is None
    assert bedrock_price(TABLE, {}, None, SONNET) is None  # no region known: nothing to look up
    given = overrides_of({SONNET: {"prompt": 3.6, "completion": 18}}, "prices")
    assert bedrock_price(TABLE, given, "eu-central-1", f"eu.{SONNET}") == Pricing(prompt=3.6e-6, completion=18e-6)
    exact = overrides_of({f"eu.{SONNET}": {"prompt": 1, "completion": 2}, SONNET: {"prompt": 9, "completion": 9}}, "p")
    assert bedrock_price(TABLE, exact, "eu-central-1", f"eu.{SONNET}") == Pricing(prompt=1e-6, completion=2e-6)


def _config(tmp_path: Path, extra: str, region: str = "region: us-east-1") -> Path:
    path = tmp_path / "routeway.yaml"
    path.write_text(
        "backends:\n  - {name: openrouter, kind: openrouter}\n  - name: bedrock\n    kind: bedrock\n"
        f"    {region}\n    models:\n      anthropic/claude-sonnet-4.5: us.{SONNET}\n"
        f"      acme/model: acme.model-v1:0\n{extra}"
    )
    return path


def test_the_config_prices_each_mapped_model_from_the_table_and_the_operator(tmp_path: Path) -> None:
    prices = "    prices:\n      acme.model-v1:0: {prompt: 0.5, completion: 1.5, cache_read: 0.05}\n"
    backend = load_routing_config(_config(tmp_path, prices)).backends[1]
    assert backend.prices[f"us.{SONNET}"].completion == pytest.approx(16.5e-6)
    assert backend.prices["acme.model-v1:0"] == Pricing(prompt=0.5e-6, completion=1.5e-6, input_cache_read=0.05e-6)
    unpriced = load_routing_config(_config(tmp_path, "")).backends[1]
    assert "acme.model-v1:0" not in unpriced.prices
    # no region of its own: the gateway's region prices it
    assert not load_routing_config(_config(tmp_path, "", region="")).backends[1].prices
    here = load_routing_config(_config(tmp_path, "", region=""), "us-west-2").backends[1]
    assert here.prices[f"us.{SONNET}"].prompt == pytest.approx(3.3e-6) and here.region is None


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ("prices: [1, 2]", "map Bedrock model ids"),
        ("prices: {acme.model-v1:0: {prompt: 1}}", "at least prompt and completion"),
        ("prices: {acme.model-v1:0: {prompt: 1, completion: -2}}", "0 or more"),
        ("prices: {acme.model-v1:0: {prompt: 1, completion: 2, input: 3}}", "unknown price 'input'"),
    ],
)
def test_a_price_that_is_not_usd_per_million_tokens_is_a_config_error(
    tmp_path: Path, prices: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_routing_config(_config(tmp_path, f"    {prices}\n"))


def test_a_row_carries_bedrock_s_price_and_an_unpriced_one_a_variable_price(tmp_path: Path) -> None:
    from routeway.domain.candidates import bedrock_row

    backend = load_routing_config(_config(tmp_path, "")).backends[1]
    model = Model(id="anthropic/claude-sonnet-4.5", pricing=Pricing(prompt=3e-6, completion=15e-6))
    row = bedrock_row(model, backend)
    assert (row.prompt_price, row.completion_price) == pytest.approx((3.3e-6, 16.5e-6)) and not row.variable_price
    assert row.endpoint is not None and row.endpoint.pricing.input_cache_write == pytest.approx(4.125e-6)
    unpriced = bedrock_row(Model(id="acme/model", pricing=Pricing(prompt=1e-6, completion=1e-6)), backend)
    assert unpriced.variable_price and unpriced.provider_slug == "amazon-bedrock-own/us-east-1"
