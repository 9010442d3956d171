"""Shared fixtures: the fake OpenRouter on a real port, a gateway per test on either store, keys."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from routeway.domain.records import ApiKeyRecord
from routeway.gateway import Gateway
from routeway.services.keys import create_key, hash_key, iso_now
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.fakes.openrouter import FakeOpenRouter
from tests.servers import botocore_data_loaded_once, plain_moto_numbers, serve_in_thread

UPSTREAM_KEY = "sk-or-v1-upstream-test-key-0123456789"
TABLE = "routeway-test-state"
BUCKET = "routeway-test-catalog"


@dataclass
class FakeUpstream:
    fake: FakeOpenRouter
    url: str  # server root

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/v1"


@pytest.fixture(scope="session")
def _upstream_server() -> Iterator[FakeUpstream]:
    fake = FakeOpenRouter(api_key=UPSTREAM_KEY)
    with serve_in_thread(fake.app) as url:
        yield FakeUpstream(fake, url)


@pytest.fixture
def upstream(_upstream_server: FakeUpstream) -> Iterator[FakeUpstream]:
    _upstream_server.fake.reset()
    yield _upstream_server
    _upstream_server.fake.reset()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture(autouse=True, scope="session")
def _botocore_models_read_once() -> Iterator[None]:
    """botocore's service models read once per test process, not once per boto3 session (tests/servers.py)."""
    undo = botocore_data_loaded_once()
    yield
    undo()


def create_aws_resources(bucket: str = BUCKET, table: str = TABLE) -> None:
    """The bucket and table as template.yaml defines them (pk/sk strings, TTL on expires_at)."""
    import boto3

    boto3.client("s3").create_bucket(Bucket=bucket)
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


@pytest.fixture
def moto_aws(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws
    from moto.core.responses import BaseResponse

    # A real AWS service applies each request atomically; moto's in-process backends are plain dicts that
    # threads can change under each other (a transaction deep-copies a table while another thread writes:
    # "dictionary changed size during iteration"). The store's calls run in threads, so each moto request is
    # handled whole, one at a time, as the service would.
    handle = BaseResponse.call_action
    one_at_a_time = threading.RLock()

    def atomic(self: Any) -> Any:
        with one_at_a_time:
            return handle(self)

    monkeypatch.setattr(BaseResponse, "call_action", atomic)
    undo = plain_moto_numbers()
    try:
        with mock_aws():
            create_aws_resources()
            yield
    finally:
        undo()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`both_stores` runs a test on each store (the second under moto); other tests get the local store only.
    A test naming its store itself (`parametrize("store_env", [...], indirect=True)`) keeps its own list."""
    if "store_env" not in metafunc.fixturenames or metafunc.definition.get_closest_marker("both_stores") is None:
        return
    if any("store_env" in str(mark.args[0]) for mark in metafunc.definition.iter_markers("parametrize")):
        return
    metafunc.parametrize("store_env", ["local", pytest.param("aws", marks=pytest.mark.aws)], indirect=True)


@pytest.fixture
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for one store kind: local unless the test is marked `both_stores` (or names "aws" itself);
    the aws kind runs under moto."""
    kind = getattr(request, "param", "local")
    env = {"ROUTEWAY_HOME": str(tmp_path / "home"), "ROUTEWAY_STORE": kind}
    if kind == "aws":
        request.getfixturevalue("moto_aws")
        env.update(ROUTEWAY_BUCKET=BUCKET, ROUTEWAY_TABLE=TABLE)
    yield env


# ROUTEWAY_TEST_UPSTREAM_CLIENT=aiohttp runs the upstream calls of every gateway built from the `env` fixture on
# the aiohttp transport (what `routeway serve` uses), so the fault tests (stalls, cuts, deadlines, oversize) can
# check it too: it reaches the gateway as its setting ROUTEWAY_UPSTREAM_CLIENT.
UPSTREAM_CLIENT = os.environ.get("ROUTEWAY_TEST_UPSTREAM_CLIENT", "httpx")


@pytest.fixture
def env(store_env: dict[str, str], upstream: FakeUpstream) -> dict[str, str]:
    return {
        **store_env,
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
        "ROUTEWAY_UPSTREAM_CLIENT": UPSTREAM_CLIENT,
        "PATH": os.environ.get("PATH", ""),
    }


@pytest.fixture
def gateway(env: dict[str, str]) -> Gateway:
    return build_gateway(Settings.from_env(env))


ECHOED_SECRET = "sk-or-v1-leakedleakedleaked"  # what tests' upstreams echo in their error bodies (RELIABILITY 39)
SECRETS: set[str] = {UPSTREAM_KEY, ECHOED_SECRET}  # every key a test made or echoed; no log line may contain one


def register_secret(key: str) -> str:
    SECRETS.update({key, hash_key(key)})
    return key


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


@pytest.fixture(autouse=True)
def no_secret_in_any_log() -> Iterator[None]:
    """RELIABILITY 4 across the whole suite: no key, key hash or upstream key in any log record."""
    capture = _Capture()
    watched = [logging.getLogger(), logging.getLogger("routeway")]
    for logger in watched:
        logger.addHandler(capture)
    previous = logging.getLogger("routeway").level
    logging.getLogger("routeway").setLevel(logging.DEBUG)
    yield
    for logger in watched:
        logger.removeHandler(capture)
    logging.getLogger("routeway").setLevel(previous)
    leaked = [s for s in SECRETS for line in capture.lines if s in line]
    assert not leaked, "a secret reached the logs"


@pytest.fixture
def api_key(gateway: Gateway) -> str:
    key, _ = create_key(gateway.state.sync, gateway.clock, "tester")
    return register_secret(key)


def budget_key(gateway: Gateway, name: str, budget_usd: float | None) -> tuple[str, str]:
    """A key made as `routeway keys create` makes it, kept out of every log: (the key, its hash)."""
    key, record = create_key(gateway.state.sync, gateway.clock, name, budget_usd=budget_usd)
    return register_secret(key), record.key_hash


def spend_of(gateway: Gateway, key_hash: str) -> float:
    found = gateway.state.sync.find_key(key_hash)
    assert found is not None
    return found.spend_usd


def seed_key(gateway: Gateway, key: str, name: str = "seeded", **limits: Any) -> ApiKeyRecord:
    """Store a known key (as the events/ files carry) the way `keys create` would: hash and prefix only."""
    record = ApiKeyRecord(
        name=name, key_hash=hash_key(key), prefix=key[:10], created_at=iso_now(gateway.clock), **limits
    )
    gateway.state.sync.create_key(record)
    return record
