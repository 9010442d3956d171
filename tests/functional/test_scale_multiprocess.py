"""Past one machine (issue 22): three `routeway serve` processes on one DynamoDB table, as Lambdas share one.

A moto server (its own process, on a loopback port) holds the table and the bucket, both created from
template.yaml's own resource definitions; the catalog is published into it by `routeway catalog refresh`
and keys are made by `routeway keys create`, as an operator would with ROUTEWAY_STORE=aws. Three gateways
stand in front of one fake OpenRouter, and concurrent requests on one key are spread over them. What must
hold across processes: spend equals the sum of the costs the clients were told, an rpm limit admits exactly
its count per window, a budget is never passed, and the store operations per request are the ones
docs/SCALE.md's capacity model (bench/capacity.py) counts.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.capacity import GENERATION_RECORD_BYTES, KEY_ITEM_BYTES, item_bytes, operations_of

from routeway.services.admission import WINDOW_S
from routeway.services.keys import hash_key
from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.fakes.data import OPENROUTER_DATA, REPO, load_template
from tests.servers import free_port, start_logged, stop_all, wait_until_answering

pytestmark = [pytest.mark.aws, pytest.mark.heavy]  # heavy: a step of its own in `make test` (Makefile)

GATEWAYS = 3
REQUESTS = 60
IN_FLIGHT = 20  # concurrent requests at any moment, over all gateways
RETRIES = 3  # a 503 store_unavailable is retryable by contract: a client tries again
MODEL = "openai/gpt-4o-mini"  # priced, no hidden reasoning pass: every answer has a small, known cost
TABLE = "routeway-scale-state"
BUCKET = "routeway-scale-catalog"
START_TIMEOUT_S = 90.0  # a loaded 2-core machine starts Python processes slowly; generous, never asserted on
CLI_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 60.0
FRESH_WINDOW_S = 15.0  # the rpm burst starts with at least this much of its minute left
STORE_PHASE = "item_holds"  # issue 35 as built (bench/capacity.py RESERVE_IN_ITEM, NOTE_IN_ITEM, SETTLE_IN_ITEM)


def _template_resource(kind: str) -> dict[str, Any]:
    template = load_template()
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == kind]
    properties: dict[str, Any] = resource["Properties"]
    return properties


def create_resources_from_template(endpoint: str) -> None:
    """The state table and the catalog bucket exactly as template.yaml declares them (nothing restated)."""
    import boto3

    table = _template_resource("AWS::DynamoDB::Table")
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, **_client_credentials())
    ddb.create_table(
        TableName=TABLE,
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode=table["BillingMode"],
        SSESpecification={"Enabled": table["SSESpecification"]["SSEEnabled"]},
    )
    ttl = table["TimeToLiveSpecification"]
    ddb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": ttl["Enabled"], "AttributeName": ttl["AttributeName"]}
    )
    bucket = _template_resource("AWS::S3::Bucket")
    s3 = boto3.client("s3", endpoint_url=endpoint, **_client_credentials())
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration=bucket["VersioningConfiguration"])
    rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]  # CloudFormation's names -> the API's
    encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]} for r in rules]}
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration=encryption)


def _child_env(endpoint: str, home: Path, upstream: FakeUpstream) -> dict[str, str]:
    """A routeway process on the AWS store at `endpoint`: nothing of this machine's AWS or Routeway setup leaks in."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTEWAY_", "OPENROUTER_", "AWS_"))}
    return {
        **inherited,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "HOME": str(home),
        "ROUTEWAY_HOME": str(home / ".routeway"),
        "ROUTEWAY_STORE": "aws",
        "ROUTEWAY_TABLE": TABLE,
        "ROUTEWAY_BUCKET": BUCKET,
        "ROUTEWAY_CATALOG_TTL_S": "3600",  # the pointer is read at start, never during a burst (SCALE.md: per TTL)
        "ROUTEWAY_STORE_TIMEOUT_S": "20",  # moto, one request at a time on a shared machine, is slower than DynamoDB
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
        "PYTHONUNBUFFERED": "1",  # the log files show each line as it is written
    }


@dataclass
class Outcome:
    gateway: str
    status: int
    cost: float | None = None
    error_code: str | None = None
    scope: str | None = None  # whose budget or limit refused it


@dataclass
class Cluster:
    """The moto server, the gateways in front of it, and the CLI environment an operator would use."""

    endpoint: str
    gateways: list[str]
    env: dict[str, str]
    recording: Path
    upstream: FakeUpstream
    names: Iterator[int] = field(default_factory=itertools.count)

    def routeway(self, *args: str) -> str:
        """Run the `routeway` command against the cluster's store; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "routeway", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def create_key(self, *limits: str) -> str:
        output = self.routeway("keys", "create", f"scale-{next(self.names)}", *limits)
        return register_secret(output.strip().splitlines()[-1])

    def dynamodb(self) -> Any:
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.endpoint, **_client_credentials())

    def stored_spend(self, key: str) -> Decimal:
        item = self.dynamodb().get_item(
            TableName=TABLE, Key={"pk": {"S": f"key#{hash_key(key)}"}, "sk": {"S": "key"}}, ConsistentRead=True
        )["Item"]
        return Decimal(item["spend_usd"]["N"]) if "spend_usd" in item else Decimal(0)

    def rate_counts(self, key: str) -> dict[int, int]:
        """The key's request count per 60 s window, as the gateways left it in the table."""
        items = self.dynamodb().query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"rate#{hash_key(key)}"}},
            ConsistentRead=True,
        )["Items"]
        return {int(i["sk"]["S"]): int(i["count"]["N"]) for i in items}

    def item_sizes(self, key: str) -> dict[str, Any]:
        """The billed size of the key's item and of every generation record in the table."""
        ddb = self.dynamodb()
        key_item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"key#{hash_key(key)}"}, "sk": {"S": "key"}})["Item"]
        pages = ddb.get_paginator("scan").paginate(
            TableName=TABLE,
            FilterExpression="begins_with(pk, :gen)",
            ExpressionAttributeValues={":gen": {"S": "gen#"}},
        )
        records = [item_bytes(item) for page in pages for item in page["Items"]]
        return {"key": item_bytes(key_item), "gen": records}

    def moto_api(self, action: str) -> None:
        response = httpx.post(f"{self.endpoint}/moto-api/recorder/{action}", timeout=10)
        assert response.status_code == 200, response.text

    def recorded_operations(self) -> Counter[str]:
        """Every AWS call the moto server took while recording, by operation (DynamoDB target or S3 verb)."""
        counts: Counter[str] = Counter()
        if not self.recording.exists():
            return counts
        for line in self.recording.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            headers = {k.lower(): v for k, v in entry["headers"].items()}
            target = headers.get("x-amz-target", "")
            if target.startswith("DynamoDB_"):
                counts[target.split(".", 1)[1]] += 1
            else:
                counts[f"S3 {entry['method']}"] += 1
        return counts


def _client_credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, _upstream_server: FakeUpstream) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("scale")
    recording = folder / "moto-recording.jsonl"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = _child_env(endpoint, folder, _upstream_server)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        moto_log = folder / "moto.log"
        serve_moto = "import sys; from tests.servers import run_moto_server; run_moto_server(int(sys.argv[1]))"
        moto_env = {**env, "MOTO_RECORDER_FILEPATH": str(recording), "PYTHONPATH": str(REPO)}
        moto = start_logged([sys.executable, "-c", serve_moto, str(port)], moto_env, moto_log, cwd=REPO)
        processes.append(moto)
        wait_until_answering(moto, f"{endpoint}/moto-api/", moto_log, "the moto server", START_TIMEOUT_S)
        create_resources_from_template(endpoint)
        cluster = Cluster(endpoint, [], env, recording, _upstream_server)
        published = json.loads(cluster.routeway("catalog", "refresh", "--source", str(OPENROUTER_DATA), "--json"))
        assert published["outcome"] == "published", published
        cluster.create_key()  # a key exists, so `serve` makes none of its own
        ports = [free_port() for _ in range(GATEWAYS)]
        logs = [folder / f"gateway-{p}.log" for p in ports]
        for gateway_port, log in zip(ports, logs, strict=True):
            serve = [sys.executable, "-m", "routeway", "serve", "--port", str(gateway_port)]
            processes.append(start_logged(serve, env, log, cwd=REPO))
        for gateway_port, log, process in zip(ports, logs, processes[1:], strict=True):
            url = f"http://127.0.0.1:{gateway_port}"
            what = f"routeway serve on port {gateway_port}"
            wait_until_answering(process, f"{url}/healthz", log, what, START_TIMEOUT_S)
            assert "(store," in log.read_text(errors="replace")  # serving the published catalog, not the bundle
            cluster.gateways.append(url)
        yield cluster
    finally:
        stop_all(processes[::-1])


def _body(index: int, *, stream: bool) -> dict[str, Any]:
    """A chat body whose prompt length (so its cost) varies with `index`."""
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"request {index}: " + "words " * (index % 7)}],
        "max_tokens": 16,
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


async def _one(client: httpx.AsyncClient, gateway: str, key: str, body: dict[str, Any]) -> Outcome:
    url = f"{gateway}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {key}"}
    if not body.get("stream"):
        response = await client.post(url, json=body, headers=headers)
        document = response.json()
        if response.status_code != 200:
            error = document["error"]
            return Outcome(gateway, response.status_code, error_code=error["code"], scope=error.get("scope"))
        return Outcome(gateway, 200, cost=document["usage"]["cost"])
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            error = json.loads(await response.aread())["error"]
            return Outcome(gateway, response.status_code, error_code=error["code"], scope=error.get("scope"))
        outcome = Outcome(gateway, 200)
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: ") :])
            if "error" in chunk:
                outcome.error_code = chunk["error"].get("code")
            if isinstance(chunk.get("usage"), dict) and "cost" in chunk["usage"]:
                outcome.cost = chunk["usage"]["cost"]
        return outcome


def burst(
    cluster: Cluster,
    key: str | list[str],
    count: int = REQUESTS,
    stream_every: int = 3,
    retried: list[str] | None = None,
) -> list[Outcome]:
    """`count` requests on `key` (or on each of several in turn), round-robin over the gateways, at most
    IN_FLIGHT at once; every third streams.

    With `retried`, a 503 `store_unavailable` (retryable by contract) is tried again up to RETRIES times, as a
    client would, and the gateway that answered it is appended to `retried`."""

    async def run() -> list[Outcome]:
        gate = asyncio.Semaphore(IN_FLIGHT)
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as client:

            async def bounded(index: int) -> Outcome:
                async with gate:
                    gateway = cluster.gateways[index % len(cluster.gateways)]
                    sender = key if isinstance(key, str) else key[index % len(key)]
                    for _ in range(RETRIES if retried is not None else 1):
                        outcome = await _one(client, gateway, sender, _body(index, stream=index % stream_every == 0))
                        if retried is None or (outcome.status, outcome.error_code) != (503, "store_unavailable"):
                            break
                        retried.append(outcome.gateway)
                    return outcome

            return await asyncio.gather(*(bounded(i) for i in range(count)))

    return asyncio.run(run())


def test_spend_is_the_sum_of_the_costs_clients_received_across_three_gateways(cluster: Cluster) -> None:
    key = cluster.create_key()
    upstream_calls_before = len(cluster.upstream.fake.chat_requests())
    outcomes = burst(cluster, key)
    assert [o for o in outcomes if o.status != 200 or o.error_code or o.cost is None] == []
    assert {o.gateway for o in outcomes} == set(cluster.gateways)
    assert len(cluster.upstream.fake.chat_requests()) - upstream_calls_before == REQUESTS  # no retried call
    costs = [o.cost for o in outcomes if o.cost is not None]
    assert all(c > 0 for c in costs) and len(set(costs)) > 1
    received = math.fsum(costs)
    assert abs(float(cluster.stored_spend(key)) - received) <= 1e-9
    for gateway in cluster.gateways:  # every process reads the same spend back (rounded to 8 places there)
        summary = httpx.get(f"{gateway}/v1/key", headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
        assert abs(summary["spend_usd"] - received) <= 1e-8


def _start_of_a_fresh_window() -> None:
    """Wait for the next minute when the current one has less than FRESH_WINDOW_S left (a clock boundary,
    not a timing assertion): the burst then almost always sits in one window; the test allows for two."""
    left = WINDOW_S - time.time() % WINDOW_S
    if left < FRESH_WINDOW_S:
        threading.Event().wait(left + 0.2)


def test_an_rpm_limit_admits_exactly_its_count_per_window_across_processes(cluster: Cluster) -> None:
    rpm = 20
    key = cluster.create_key("--rpm", str(rpm))
    _start_of_a_fresh_window()
    outcomes = burst(cluster, key)
    admitted = [o for o in outcomes if o.status == 200]
    limited = [o for o in outcomes if o.status == 429]
    assert len(admitted) + len(limited) == REQUESTS, Counter(o.status for o in outcomes)
    assert {o.error_code for o in limited} == {"rate_limited"}
    assert all(o.cost is not None for o in admitted)
    counts = cluster.rate_counts(key)
    assert sum(counts.values()) == REQUESTS  # every request counted once, in whichever window it fell
    assert len(counts) in (1, 2) and sorted(counts) == list(range(min(counts), min(counts) + len(counts)))
    assert len(admitted) == sum(min(count, rpm) for count in counts.values())  # = rpm when one window
    assert abs(float(cluster.stored_spend(key)) - math.fsum(o.cost or 0.0 for o in admitted)) <= 1e-9


def test_a_small_budget_is_never_passed_across_processes(cluster: Cluster) -> None:
    probe = burst(cluster, cluster.create_key(), count=1, stream_every=REQUESTS + 1)[0]
    assert probe.status == 200 and probe.cost, probe
    budget = probe.cost * 10.5  # room for a few reservations of max_tokens=16, far less than 60 requests
    key = cluster.create_key("--budget-usd", repr(budget))
    outcomes = burst(cluster, key)
    passed = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status == 402]
    assert len(passed) + len(refused) == REQUESTS, Counter(o.status for o in outcomes)
    assert passed and refused
    assert {o.error_code for o in refused} == {"budget_exceeded"}
    spend = float(cluster.stored_spend(key))
    assert abs(spend - math.fsum(o.cost or 0.0 for o in passed)) <= 1e-9
    assert spend <= budget


def test_store_operations_per_request_are_what_the_capacity_model_counts(cluster: Cluster) -> None:
    """Counted on the moto server, scaled down: the per-request operations bench/capacity.py (and SCALE.md)
    assume for a chat request, plain and streamed, on a key with an rpm limit and a budget (read on every request:
    a key without a budget is cached for ROUTEWAY_KEY_CACHE_S, so its reads are fewer than the model's)."""
    key = cluster.create_key("--rpm", "1000", "--budget-usd", "50")
    cluster.moto_api("reset-recording")
    cluster.moto_api("start-recording")
    try:
        outcomes = burst(cluster, key, count=12, stream_every=2)  # 6 plain, 6 streamed
    finally:
        cluster.moto_api("stop-recording")
    assert all(o.status == 200 and o.cost for o in outcomes), outcomes
    expected: Counter[str] = Counter()
    for route in ("chat", "chat_stream"):
        for operation, count in operations_of(route, rpm=True, budget=True, phase=STORE_PHASE).items():
            expected[operation] += 6 * count
    recorded = cluster.recorded_operations()
    # the model counts a key read per request (a cold cache: every Lambda instance's first request); here each
    # process reads its key once and the burst's other requests wait for that read (services/keys.KeyCache.read)
    key_reads, model_key_reads = recorded.pop("GetItem", 0), expected.pop("GetItem", 0)
    assert len(cluster.gateways) <= key_reads <= model_key_reads, (key_reads, model_key_reads)
    assert recorded == expected
    sizes = cluster.item_sizes(key)  # the units the model charges follow these sizes
    assert sizes["key"] <= KEY_ITEM_BYTES and 0 < max(sizes["gen"]) <= GENERATION_RECORD_BYTES, sizes
