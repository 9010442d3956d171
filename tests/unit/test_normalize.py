"""The normaliser over the real OpenRouter data, and its refusals of malformed data."""

from __future__ import annotations

import copy
import gzip
from importlib import resources

import orjson
import pytest

from routeway.config import load_routing_config
from routeway.domain.normalize import (
    CatalogDataError,
    build_snapshot,
    complete_endpoints,
    merge_model_lists,
    normalize_model,
)
from routeway.domain.snapshot_codec import decode_snapshot, encode_snapshot
from tests.fakes.data import load

CREATED = "2026-05-18T00:00:00Z"


def build(model_lists: list[object] | None = None, **overrides: object):  # type: ignore[no-untyped-def]
    config = load_routing_config(None)
    lists = model_lists or [load("models.json"), load("models_output_image.json"), load("embedding_models.json")]
    args = {
        "model_lists": lists,
        "endpoints_by_id": complete_endpoints(lists, load("endpoints.json")),
        "providers_response": load("providers.json"),
        "aliases": config.aliases,
        "backends": config.backends,
        "pools": config.pools,
        "created_at": CREATED,
        "source": "bundled",
    }
    args.update(overrides)
    return build_snapshot(**args)  # type: ignore[arg-type]


def test_real_data_normalises_with_image_only_models() -> None:
    snapshot = build()
    by_id = {m.id: m for m in snapshot.models}
    assert len(by_id) == 366  # 356 default-list models + 3 image-only FLUX models + 7 embedding models
    assert sum(len(m.endpoints) for m in snapshot.models) == 835  # 832 captured + one derived per FLUX model
    flux = by_id["black-forest-labs/flux.2-klein-4b"]
    (maker,) = flux.endpoints  # the capture has none: derived from the listing, with the per-image price
    assert (maker.provider_name, maker.provider_slug, maker.pricing.image) == (
        "Black Forest Labs",
        "black-forest-labs",
        0.014,
    )
    assert flux.modalities.output == ("image",)
    assert by_id["baai/bge-m3"].modalities.output == ("embeddings",)
    assert flux.pricing.image == pytest.approx(0.014)
    gemini = by_id["google/gemini-3.1-flash-image-preview"]
    assert gemini.modalities.output == ("image", "text")
    assert gemini.pricing.prompt == pytest.approx(5e-7)
    assert by_id["openrouter/auto"].pricing.is_variable
    endpoint = by_id["ai21/jamba-large-1.7"].endpoints[0]
    assert (endpoint.provider_slug, endpoint.quantization, endpoint.latency_last_30m.p50) == ("ai21/fp8", "fp8", 625)


def test_default_list_alone_has_no_image_only_models() -> None:
    snapshot = build([load("models.json")])
    assert not [m for m in snapshot.models if m.modalities.output == ("image",)]


def test_same_content_same_version_and_bytes() -> None:
    first, second = build(), build(created_at="2027-01-01T00:00:00Z")
    assert first.version == second.version
    assert encode_snapshot(first) == encode_snapshot(build())
    assert decode_snapshot(encode_snapshot(first)) == first


def test_snapshots_stored_with_every_field_still_decode_the_same() -> None:
    """Stores hold snapshots written before defaults were left out of the bytes."""
    snapshot = build()
    every_field = gzip.compress(orjson.dumps(snapshot.model_dump(mode="json")), mtime=0)
    assert len(encode_snapshot(snapshot)) < len(every_field)
    assert decode_snapshot(every_field) == decode_snapshot(encode_snapshot(snapshot)) == snapshot


@pytest.mark.parametrize(
    "data",
    [b"", b"plain text", gzip.compress(b"[1, 2]", mtime=0), gzip.compress(b"{", mtime=0)],
    ids=["empty", "plain text", "gzipped list", "gzipped broken json"],  # the same ids in every xdist worker
)
def test_bytes_that_are_not_a_snapshot_are_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_snapshot(data)


def test_a_price_change_changes_the_version() -> None:
    models = copy.deepcopy(load("models.json"))
    models["data"][0]["pricing"]["prompt"] = "0.5"
    assert build([models, load("models_output_image.json")]).version != build().version


def test_bundled_snapshot_is_built_from_the_shared_data() -> None:
    """The packaged snapshot is current: rebuilding from ../shared/data gives the same version."""
    data = resources.files("routeway").joinpath("data/snapshot.json.gz").read_bytes()
    bundled = decode_snapshot(data)
    assert bundled.version == build().version
    assert bundled.source == "bundled"


@pytest.mark.parametrize("price", ["abc", "", None, "NaN", "inf", True, [1]])
def test_prices_must_be_numbers(price: object) -> None:
    raw = copy.deepcopy(load("models.json")["data"][0])
    raw["pricing"]["prompt"] = price
    if price in ("", None):  # absent prices are zero, as OpenRouter omits unused fields
        assert normalize_model(raw, None).pricing.prompt == 0
        return
    with pytest.raises(CatalogDataError):
        normalize_model(raw, None)


def test_duplicate_ids_inside_one_response_are_invalid_but_merge_across_responses() -> None:
    row = load("models.json")["data"][0]
    with pytest.raises(CatalogDataError, match="duplicate"):
        merge_model_lists([{"data": [row, row]}])
    assert len(merge_model_lists([{"data": [row]}, {"data": [row]}])) == 1


@pytest.mark.parametrize("garbage", ["<html>oops</html>", {"models": []}, {"data": "x"}, {"data": [{"name": "no id"}]}])
def test_garbage_model_lists_are_refused(garbage: object) -> None:
    with pytest.raises(CatalogDataError):
        merge_model_lists([garbage])


def test_malformed_endpoints_are_refused() -> None:
    raw = load("models.json")["data"][0]
    with pytest.raises(CatalogDataError):
        normalize_model(raw, {"data": {"endpoints": [{"tag": "x"}]}})  # no provider_name
    with pytest.raises(CatalogDataError):
        normalize_model(raw, {"oops": 1})
