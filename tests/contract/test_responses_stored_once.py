"""Responses stored once per turn, on both stores (SQLite, and DynamoDB + S3 under moto), with the openai SDK.

A turn stores what it added, not the conversation again; a turn too large for a DynamoDB item is kept in the
bucket under `responses/`; GET, `previous_response_id`, input_items and DELETE keep working; a turn the store
cannot keep is answered with `"store": false`, never as stored (issue 32: a conversation past DynamoDB's
400 KB answered `"store": true` and was then 404, and SQLite stored three 1.5 MB turns as 17 MB).
"""

from __future__ import annotations

import base64
import random
from typing import Any

import httpx
import openai
import pytest

from routeway.errors import StoreUnavailable
from routeway.gateway import Gateway
from tests.conftest import BUCKET, FakeUpstream

pytestmark = pytest.mark.both_stores

MODEL = "google/gemini-2.5-flash"  # a million tokens of context: the whole conversation fits
TURN_BYTES = 600_000  # incompressible: gzipped, still past DynamoDB's 400 KB item


def big_text(seed: int) -> str:
    return base64.b64encode(random.Random(seed).randbytes(TURN_BYTES * 3 // 4)).decode()


def stored_size(gateway: Gateway, response_id: str) -> int:
    record = gateway.state.sync.get_response(response_id, 0)
    assert record is not None
    return len(record.model_dump_json())


def test_three_large_turns_are_each_stored_once_and_the_conversation_continues(
    sdk: openai.OpenAI, gateway: Gateway, upstream: FakeUpstream, gateway_url: str, api_key: str, store_env: Any
) -> None:
    texts = [big_text(seed) for seed in range(3)]
    first = sdk.responses.create(model=MODEL, input=texts[0])
    second = sdk.responses.create(model=MODEL, input=texts[1], previous_response_id=first.id)
    third = sdk.responses.create(model=MODEL, input=texts[2], previous_response_id=second.id)
    assert [r.store for r in (first, second, third)] == [True, True, True]
    sent = [m["content"] for m in upstream.fake.chat_requests()[-1].body["messages"] if m["role"] == "user"]
    assert sent == texts  # the whole conversation reached the model

    records = [gateway.state.sync.get_response(r.id, 0) for r in (first, second, third)]
    assert [r.earlier for r in records if r is not None] == [[], [first.id], [first.id, second.id]]
    assert [len(r.input) for r in records if r is not None] == [1, 1, 1]  # only what each turn added
    total = sum(stored_size(gateway, r.id) for r in (first, second, third))
    assert total < 3 * TURN_BYTES * 1.2  # each turn once (it was 1 + 2 + 3 turns' worth)

    headers = {"x-api-key": api_key}
    assert sdk.responses.retrieve(third.id).output_text == third.output_text
    items = httpx.get(f"{gateway_url}/v1/responses/{third.id}/input_items", headers=headers).json()["data"]
    assert [i["content"] for i in items if i.get("role") == "user"] == texts
    fourth = sdk.responses.create(model=MODEL, input="Short now.", previous_response_id=third.id)
    assert fourth.status == "completed" and stored_size(gateway, fourth.id) < 20_000

    if store_env["ROUTEWAY_STORE"] == "aws":  # the large turns are objects in the bucket, the small one is not
        import boto3

        keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]}
        assert {f"responses/{r.id}.json.gz" for r in (first, second, third)} <= keys
        assert f"responses/{fourth.id}.json.gz" not in keys


def test_delete_removes_a_large_turn_and_a_conversation_after_it_says_why(
    sdk: openai.OpenAI, gateway: Gateway, store_env: Any
) -> None:
    first = sdk.responses.create(model=MODEL, input=big_text(7))
    second = sdk.responses.create(model=MODEL, input="And then?", previous_response_id=first.id)
    assert sdk.responses.delete(first.id) is None or True  # the SDK answers None for a 200
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.create(model=MODEL, input="More?", previous_response_id=second.id)
    error = caught.value.body
    assert isinstance(error, dict) and first.id in error["message"] and error["param"] == "previous_response_id"
    assert sdk.responses.retrieve(second.id).id == second.id  # the later turn itself is still there
    if store_env["ROUTEWAY_STORE"] == "aws":  # its content is gone from the bucket too
        import boto3

        body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"responses/{first.id}.json.gz")["Body"].read()
        assert body == b""


@pytest.mark.parametrize("stream", [False, True])
def test_a_turn_the_store_cannot_keep_is_answered_store_false(
    sdk: openai.OpenAI, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    def failing(record: Any) -> None:
        raise StoreUnavailable("DynamoDB put response: ProvisionedThroughputExceededException")

    monkeypatch.setattr(gateway.state.sync, "put_response", failing)
    if stream:
        with sdk.responses.stream(model=MODEL, input="Say hello") as events:
            response = events.get_final_response()
    else:
        response = sdk.responses.create(model=MODEL, input="Say hello")
    assert response.status == "completed" and response.store is False
    monkeypatch.undo()
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)
