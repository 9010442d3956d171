"""Catalog refresh against the fake OpenRouter over HTTP, on both stores: complete, validated, atomic.

RELIABILITY.md 24-30: a default-list-only upstream, garbage, store faults mid-publish, races and
repeats never change what is served. The first test refreshes the whole real catalog (one GET per
model, 359); the others refresh a slice of it (tests/fakes/data.small_catalog_ids), published once
over the bundled snapshot, so each fetches a few dozen.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from routeway.adapters.catalog_source import OpenRouterSource, RawCatalog
from routeway.domain.catalog import Backend
from routeway.errors import StoreUnavailable
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.ports import NoTelemetry
from routeway.services.info import InfoService
from routeway.services.keys import create_key
from routeway.services.refresh import refresh_catalog, rollback
from tests.conftest import FakeUpstream, register_secret
from tests.fakes.data import load, small_catalog_ids, small_lists
from tests.fakes.openrouter import Scripted

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

FLUX = "black-forest-labs/flux.2-klein-4b"


async def no_sleep(_seconds: float) -> None:
    return None


def source(gateway: Gateway, **options: Any) -> OpenRouterSource:
    api = gateway.upstreams.for_backend(Backend(name="openrouter", kind="openrouter"))
    return OpenRouterSource(api, sleep=no_sleep, **options)


def refresh(gateway: Gateway, src: Any = None, **options: Any) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        try:
            return (await refresh_catalog(gateway, src or source(gateway), **options)).as_dict()
        finally:
            await gateway.upstreams.aclose()

    return asyncio.run(run())


@pytest.fixture
def small(upstream: FakeUpstream) -> FakeUpstream:
    """The fake lists only the slice; the gateway still serves its bundled whole catalog."""
    upstream.fake.serve_only(small_catalog_ids())
    return upstream


@pytest.fixture
def live(gateway: Gateway, small: FakeUpstream) -> dict[str, Any]:
    """The slice published over the bundled catalog (forced: it is a tenth of its size), so the test's
    refreshes are checked against a live snapshot of the same slice."""
    report = refresh(gateway, force=True)
    assert report["outcome"] == "published", report
    return report


def served(gateway: Gateway) -> tuple[str, str]:
    gateway.catalog.invalidate()
    catalog = gateway.catalog.current_blocking()
    return catalog.version, catalog.source


def image_ids(gateway: Gateway) -> set[str]:
    catalog = gateway.catalog.current_blocking()
    listing = InfoService(gateway).list_models(catalog, output_modalities="image", include_aliases=False)
    return {m["id"] for m in listing["data"]}


def test_refresh_asks_for_every_modality_and_publishes_flux(gateway: Gateway, upstream: FakeUpstream) -> None:
    report = refresh(gateway)
    assert report["outcome"] == "published", report
    assert served(gateway) == (report["version"], "store")
    assert FLUX in image_ids(gateway)
    queries = [r.path for r in upstream.fake.requests if r.path.endswith("/models")]
    assert queries == ["/api/v1/models", "/api/v1/models", "/api/v1/embeddings/models"]
    endpoint_calls = [r for r in upstream.fake.requests if r.path.endswith("/endpoints")]
    assert len(endpoint_calls) == 359  # one per chat model, image-only included; embedding models have none
    assert refresh(gateway)["outcome"] == "unchanged"  # the same content twice is a no-op


def test_refresh_publishes_the_embedding_models(gateway: Gateway, live: dict[str, Any]) -> None:
    catalog = gateway.catalog.current_blocking()
    assert catalog.source == "store"
    key, _ = create_key(gateway.state.sync, gateway.clock, "lister")
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": register_secret(key)}) as client:
        listing = client.get("/v1/models", params={"output_modalities": "embeddings"}).json()
    embedding_ids = {m["id"] for m in listing["data"]}
    assert embedding_ids == {m["id"] for m in load("embedding_models.json")["data"]}
    small = catalog.model("openai/text-embedding-3-small")
    assert small is not None and small.modalities.output == ("embeddings",) and small.pricing.prompt == 2e-8
    assert "dimensions" in small.supported_parameters


def test_a_snapshot_without_embeddings_gains_them_without_a_refusal(gateway: Gateway, small: FakeUpstream) -> None:
    """A store published before embeddings existed: the new group is an addition, never a reason to refuse."""
    small.fake.enqueue(Scripted(path="/embeddings/models", body={"data": []}))
    assert refresh(gateway, force=True)["outcome"] == "published"
    report = refresh(gateway)
    assert report["outcome"] == "published", report
    assert report["diff"]["by_modality"]["embeddings"]["added"] == 7


def test_rel_24_default_list_only_upstream_is_refused(
    gateway: Gateway, live: dict[str, Any], small: FakeUpstream
) -> None:
    small.fake.ignores_output_modalities = True
    report = refresh(gateway)
    assert report["outcome"] == "refused"
    assert "every image-output model would disappear" in report["reason"]
    assert served(gateway) == (live["version"], "store")
    assert FLUX in image_ids(gateway)


def test_default_list_only_is_refused_even_before_the_first_publish(gateway: Gateway, small: FakeUpstream) -> None:
    small.fake.ignores_output_modalities = True
    report = refresh(gateway)
    assert report["outcome"] == "refused"  # checked against the bundled snapshot being served
    assert served(gateway)[1] == "bundled" and FLUX in image_ids(gateway)
    forced = refresh(gateway, force=True)
    assert forced["outcome"] == "published" and FLUX not in image_ids(gateway)


@pytest.mark.parametrize(
    "answer",
    [
        Scripted(path="/models", body="<html><body>502 Bad Gateway</body></html>"),
        Scripted(path="/models", body='{"data": [{"id": "a/b", "pricing": {"prompt": "0.1'),
        Scripted(path="/models", body={"models": []}),
        Scripted(path="/models", status=404, body={"error": {"code": 404, "message": "gone"}}),
    ],
    ids=["html", "truncated", "wrong-shape", "404"],
)
def test_rel_25_garbage_is_refused_and_nothing_changes(
    gateway: Gateway, live: dict[str, Any], small: FakeUpstream, answer: Scripted
) -> None:
    small.fake.enqueue(answer)
    report = refresh(gateway)
    assert report["outcome"] == "refused" and report["reason"]
    assert served(gateway) == (live["version"], "store")


class EditedSource:
    """The slice of the real data with one edit, as a source: for prices and ids no real upstream should send."""

    name = "openrouter"

    def __init__(self, edit: Any) -> None:
        self.edit = edit

    async def fetch(self, progress: Any = None) -> RawCatalog:
        models, image, embedding, endpoints = small_lists()
        self.edit(models, endpoints)
        return RawCatalog([models, image, embedding], endpoints, load("providers.json"))


def negative_price(models: dict[str, Any], _endpoints: dict[str, Any]) -> None:
    models["data"][10]["pricing"]["completion"] = "-0.002"


def negative_endpoint_price(_models: dict[str, Any], endpoints: dict[str, Any]) -> None:
    endpoints["ai21/jamba-large-1.7"]["data"]["endpoints"][0]["pricing"]["prompt"] = "-1"


def duplicate_id(models: dict[str, Any], _endpoints: dict[str, Any]) -> None:
    models["data"].append(copy.deepcopy(models["data"][0]))


def reprice_first(models: dict[str, Any], _endpoints: dict[str, Any]) -> None:
    models["data"][0]["pricing"]["prompt"] = "0.00004"


def alias_target_gone(models: dict[str, Any], _endpoints: dict[str, Any]) -> None:
    models["data"] = [m for m in models["data"] if m["id"] != "anthropic/claude-opus-4.7"]


@pytest.mark.parametrize("edit", [negative_price, negative_endpoint_price, duplicate_id, alias_target_gone])
def test_rel_25_invalid_data_is_refused_even_with_force(gateway: Gateway, edit: Any) -> None:
    before = served(gateway)
    report = refresh(gateway, EditedSource(edit), force=True)
    assert report["outcome"] == "refused", report
    assert served(gateway) == before


def test_a_repricing_is_published_with_a_diff(gateway: Gateway, live: dict[str, Any]) -> None:
    report = refresh(gateway, EditedSource(reprice_first))
    assert report["outcome"] == "published"
    assert report["diff"]["repriced"] == [load("models.json")["data"][0]["id"]]


def test_429_and_5xx_are_retried(gateway: Gateway, small: FakeUpstream) -> None:
    small.fake.enqueue(
        Scripted(path="/models", status=429, headers={"Retry-After": "1"}, body={"error": {"code": 429}}),
        Scripted(path="/providers", status=503, body={"error": {"code": 503}}),
        Scripted(path="/anthropic/claude-opus-4.7/endpoints", status=502, body="bad gateway"),
    )
    report = refresh(gateway, force=True)  # forced: the slice is far smaller than the bundled catalog
    assert report["outcome"] == "published", report


def test_an_upstream_that_keeps_failing_is_refused(gateway: Gateway, small: FakeUpstream) -> None:
    small.fake.enqueue(*[Scripted(path="/providers", status=503, body="down") for _ in range(4)])
    report = refresh(gateway)
    assert report["outcome"] == "refused" and "providers" in report["reason"]


def test_the_deadline_ends_a_slow_refresh(gateway: Gateway, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(Scripted(path="/models", delay_s=2.0, body={"data": []}))
    report = refresh(gateway, source(gateway, deadline_s=0.5, request_timeout_s=0.3))
    assert report["outcome"] == "refused" and "time" in report["reason"]


def test_rel_27_two_refreshes_racing_leave_exactly_one_winner(
    gateway: Gateway, live: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    published_before = len(gateway.state.sync.list_history())
    both_fetching = asyncio.Event()
    arrivals = 0
    if gateway.settings.store == "aws":
        # Store calls run in threads; moto's tables do not lock between threads (a losing transaction's
        # rollback can undo the winner's write), which real DynamoDB does. Both publishes still race on
        # the conditional write, one after the other.
        lock = threading.Lock()
        publish = gateway.state.sync.publish

        def serialised(*args: Any) -> None:
            with lock:
                publish(*args)

        monkeypatch.setattr(gateway.state.sync, "publish", serialised)

    class RacingSource(EditedSource):
        async def fetch(self, progress: Any = None) -> RawCatalog:
            nonlocal arrivals
            arrivals += 1
            if arrivals == 2:
                both_fetching.set()
            await both_fetching.wait()  # both have read the live pointer before either publishes
            return await super().fetch(progress)

    def price(value: str) -> Any:
        def edit(models: dict[str, Any], _endpoints: dict[str, Any]) -> None:
            models["data"][0]["pricing"]["prompt"] = value

        return edit

    async def race() -> list[dict[str, Any]]:
        reports = await asyncio.gather(
            refresh_catalog(gateway, RacingSource(price("0.1"))), refresh_catalog(gateway, RacingSource(price("0.2")))
        )
        return [r.as_dict() for r in reports]

    outcomes = sorted(r["outcome"] for r in asyncio.run(race()))
    assert outcomes == ["lost_race", "published"]
    assert len(gateway.state.sync.list_history()) == published_before + 1


def test_rel_30_rollback_goes_back_and_snapshots_are_never_overwritten(gateway: Gateway, live: dict[str, Any]) -> None:
    first = live

    second = refresh(gateway, EditedSource(reprice_first))
    assert served(gateway)[0] == second["version"]
    assert asyncio.run(rollback(gateway, first["version"])).outcome == "published"
    assert served(gateway)[0] == first["version"]
    assert asyncio.run(rollback(gateway, "feedface")).outcome == "refused"
    assert gateway.snapshots.get_snapshot(second["version"]) is not None


def test_rel_26_a_crash_between_snapshot_write_and_pointer_move_is_harmless(
    gateway: Gateway, live: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = served(gateway)
    from routeway.errors import StoreUnavailable

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise StoreUnavailable("DynamoDB publish: InternalServerError")

    monkeypatch.setattr(gateway.state, "publish", crash)
    report = refresh(gateway, EditedSource(reprice_first))
    assert report["outcome"] == "failed"
    assert served(gateway) == before
    monkeypatch.undo()
    assert refresh(gateway, EditedSource(reprice_first))["outcome"] == "published"  # the next run completes


@pytest.fixture
def aws_gateway(moto_aws: None, small: FakeUpstream, tmp_path: Any) -> Gateway:
    from routeway.settings import Settings
    from routeway.wiring import build_gateway
    from tests.conftest import BUCKET, TABLE, UPSTREAM_KEY

    env = {
        "ROUTEWAY_STORE": "aws",
        "ROUTEWAY_BUCKET": BUCKET,
        "ROUTEWAY_TABLE": TABLE,
        "ROUTEWAY_HOME": str(tmp_path),
        "OPENROUTER_BASE_URL": small.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
    }
    return build_gateway(Settings.from_env(env))


@pytest.mark.parametrize(
    ("store", "event_name", "code"),
    [
        ("snapshots", "before-call.s3.PutObject", "SlowDown"),
        ("state", "before-call.dynamodb.TransactWriteItems", "ProvisionedThroughputExceededException"),
        ("state", "before-call.dynamodb.GetItem", "ThrottlingException"),
    ],
)
def test_rel_26_aws_faults_mid_publish_leave_the_live_snapshot(
    aws_gateway: Gateway, store: str, event_name: str, code: str
) -> None:
    """botocore event hooks make S3 or DynamoDB fail inside moto, exactly where a publish calls them."""
    from botocore.exceptions import ClientError

    first = refresh(aws_gateway, force=True)
    assert first["outcome"] == "published"

    def fail(**_kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, event_name.rsplit(".", 1)[1])

    adapter = aws_gateway.state.sync if store == "state" else aws_gateway.snapshots
    events = adapter.client.meta.events  # type: ignore[attr-defined]
    events.register(event_name, fail)
    report = refresh(aws_gateway, EditedSource(reprice_first))
    assert report["outcome"] == "failed" and code in report["reason"]
    events.unregister(event_name, fail)
    assert served(aws_gateway) == (first["version"], "store")
    assert refresh(aws_gateway, EditedSource(reprice_first))["outcome"] == "published"  # the next run completes


def test_rel_29_dynamodb_and_s3_down_while_serving_keep_the_snapshot_in_memory(aws_gateway: Gateway) -> None:
    """botocore hooks make the pointer read (DynamoDB) and the snapshot read (S3) fail mid-serve."""
    from botocore.exceptions import ClientError

    published = refresh(aws_gateway, force=True)
    assert served(aws_gateway) == (published["version"], "store")

    def down(**_kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, "Call")

    aws_gateway.state.sync.client.meta.events.register("before-call.dynamodb.GetItem", down)  # type: ignore[attr-defined]
    aws_gateway.snapshots.client.meta.events.register("before-call.s3.GetObject", down)  # type: ignore[attr-defined]
    assert served(aws_gateway) == (published["version"], "store")  # the last good snapshot keeps serving
    readiness = InfoService(aws_gateway).readiness(aws_gateway.catalog.current_blocking())
    assert readiness["status"] == "degraded" and readiness["catalog"]["store_reachable"] is False


class RecordingTelemetry(NoTelemetry):
    def __init__(self) -> None:
        self.refreshes: list[dict[str, Any]] = []

    def catalog_refreshed(self, **fields: Any) -> None:
        self.refreshes.append(fields)


class DayLater:
    """The system clock a day ahead: the live snapshot is then a day old."""

    def now(self) -> float:
        return time.time() + 86_400

    def monotonic(self) -> float:
        return time.monotonic()


def test_every_refresh_reports_how_old_the_served_catalog_is(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the stack's catalog alarms watch (CatalogAgeSeconds): fresh after a publish or an unchanged run,
    the served snapshot's age after any refusal or failure, so refreshes that keep failing show an ever
    older catalog; nothing when the age cannot be known."""
    gateway.telemetry = telemetry = RecordingTelemetry()
    bundled = gateway.catalog.bundled_snapshot().created_at
    refresh(gateway, EditedSource(negative_price))  # before any publish the bundled snapshot is served
    refresh(gateway, EditedSource(lambda _m, _e: None), force=True)  # forced: the slice is a tenth of it
    refresh(gateway, EditedSource(lambda _m, _e: None))
    gateway.clock = DayLater()
    refresh(gateway, EditedSource(negative_price))

    async def unreachable(_gateway: Gateway) -> None:
        raise StoreUnavailable("the state store is unreachable")

    monkeypatch.setattr("routeway.services.refresh.live_snapshot", unreachable)
    refresh(gateway, EditedSource(lambda _m, _e: None))
    outcomes = [r["outcome"] for r in telemetry.refreshes]
    assert outcomes == ["refused", "published", "unchanged", "refused", "failed"]
    ages = [r["catalog_age_s"] for r in telemetry.refreshes]
    assert ages[0] == pytest.approx(time.time() - snapshot_epoch(bundled), abs=60)
    assert ages[1] < 60 and ages[2] < 60
    assert ages[3] == pytest.approx(86_400, abs=60)
    assert ages[4] is None


def snapshot_epoch(stamp: str) -> float:
    from datetime import UTC, datetime

    return datetime.fromisoformat(stamp.removesuffix("Z")).replace(tzinfo=UTC).timestamp()
