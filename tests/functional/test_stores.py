"""One suite, two adapters: the local store (files + SQLite) and the AWS store (S3 + DynamoDB under moto)."""

from __future__ import annotations

import pytest

from routeway.domain.records import ApiKeyRecord, CatalogVersion, GenerationRecord, StoredResponse
from routeway.errors import ConflictError
from routeway.gateway import Gateway
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import BUCKET, TABLE

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both


def entry(version: str, published_at: str = "2026-11-21T00:00:00Z") -> CatalogVersion:
    return CatalogVersion(version=version, created_at="2026-11-20T00:00:00Z", model_count=3, published_at=published_at)


def test_snapshot_is_written_once_and_never_overwritten(gateway: Gateway) -> None:
    assert gateway.snapshots.get_snapshot("abc123") is None
    assert gateway.snapshots.put_snapshot("abc123", b"first") is True
    assert gateway.snapshots.put_snapshot("abc123", b"second") is False
    assert gateway.snapshots.get_snapshot("abc123") == b"first"


def test_snapshot_version_cannot_escape_the_store(gateway: Gateway) -> None:
    with pytest.raises(ValueError):
        gateway.snapshots.put_snapshot("../evil", b"x")


def test_pointer_moves_only_from_the_expected_version(gateway: Gateway) -> None:
    state = gateway.state.sync
    assert state.get_pointer() is None
    state.publish(entry("v1", "2026-11-21T00:00:01Z"), expected_version=None)
    assert state.get_pointer() == entry("v1", "2026-11-21T00:00:01Z")
    with pytest.raises(ConflictError):
        state.publish(entry("v2"), expected_version=None)  # someone already published
    with pytest.raises(ConflictError):
        state.publish(entry("v2"), expected_version="v0")
    state.publish(entry("v2", "2026-11-21T00:00:02Z"), expected_version="v1")
    pointer = state.get_pointer()
    assert pointer is not None and pointer.version == "v2"
    assert [v.version for v in state.list_history()] == ["v2", "v1"]


def test_a_lost_race_leaves_no_history_entry(gateway: Gateway) -> None:
    gateway.state.sync.publish(entry("v1"), expected_version=None)
    with pytest.raises(ConflictError):
        gateway.state.sync.publish(entry("loser"), expected_version="stale")
    assert [v.version for v in gateway.state.sync.list_history()] == ["v1"]


def record(name: str, key_hash: str) -> ApiKeyRecord:
    return ApiKeyRecord(name=name, key_hash=key_hash, prefix="rw-abcdefg", created_at="2026-11-21T00:00:00Z", rpm=5)


def test_keys_are_found_by_hash_unique_by_name_and_revocable(gateway: Gateway) -> None:
    state = gateway.state.sync
    state.create_key(record("alice", "h1"))
    with pytest.raises(ConflictError):
        state.create_key(record("alice", "h2"))
    assert state.find_key("h2") is None
    found = state.find_key("h1")
    assert found is not None and found.name == "alice" and found.rpm == 5 and not found.revoked
    state.create_key(record("bob", "h3"))
    assert [k.name for k in state.list_keys()] == ["alice", "bob"]
    assert state.revoke_key("alice") is True
    assert state.revoke_key("nobody") is False
    revoked = state.find_key("h1")
    assert revoked is not None and revoked.revoked


def test_generation_records_expire(gateway: Gateway) -> None:
    rec = GenerationRecord(
        id="gen-rw-1",
        created_at="2026-11-21T00:00:00Z",
        expires_at=1_000,
        status="success",
        http_status=200,
        route={"attempts": [{"model": "m", "status": 200}]},
        usage={"prompt_tokens": 3},
        cost_usd=0.5,
    )
    gateway.state.sync.put_generation(rec)
    assert gateway.state.sync.get_generation("gen-rw-1", now_epoch=999) == rec
    assert gateway.state.sync.get_generation("gen-rw-1", now_epoch=1_000) is None
    assert gateway.state.sync.get_generation("gen-rw-other", now_epoch=0) is None


def stored(response_id: str, owner: str, expires_at: int = 1_000) -> StoredResponse:
    return StoredResponse(
        id=response_id,
        owner=owner,
        created_at="2026-11-21T00:00:00Z",
        expires_at=expires_at,
        input=[{"type": "message", "role": "user", "content": "Say hello"}],
        response={"id": response_id, "object": "response", "output": [{"type": "message", "content": []}]},
    )


def test_stored_responses_expire_and_are_deleted_only_by_their_owner(gateway: Gateway) -> None:
    state = gateway.state.sync
    state.put_response(stored("resp_1", "owner-hash"))
    state.put_response(stored("resp_2", ""))  # ROUTEWAY_AUTH=off: no key
    assert state.get_response("resp_1", now_epoch=999) == stored("resp_1", "owner-hash")
    assert state.get_response("resp_1", now_epoch=1_000) is None
    assert state.get_response("resp_nope", now_epoch=0) is None
    assert state.delete_response("resp_1", "someone-else") is False
    assert state.get_response("resp_1", now_epoch=0) is not None
    assert state.delete_response("resp_1", "owner-hash") is True
    assert state.get_response("resp_1", now_epoch=0) is None
    assert state.delete_response("resp_1", "owner-hash") is False
    assert state.delete_response("resp_2", "") is True


def test_a_large_conversation_is_stored_whole(gateway: Gateway) -> None:
    image = "data:image/png;base64," + "iVBORw0KGgo" * 20_000  # ~220 KB of (compressible) base64
    record = stored("resp_big", "h").model_copy(
        update={
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": image}]}]
        }
    )
    gateway.state.sync.put_response(record)
    assert gateway.state.sync.get_response("resp_big", now_epoch=0) == record


def test_the_aws_stores_make_their_clients_from_one_boto3_session(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each boto3 session loads botocore's endpoint and retry data again: on a cold start, once is enough."""
    import boto3

    sessions: list[object] = []
    made_by_boto3 = boto3.session.Session

    class Counted(made_by_boto3):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            sessions.append(self)

    monkeypatch.setattr(boto3.session, "Session", Counted)
    gateway = build_gateway(
        Settings.from_env({"ROUTEWAY_STORE": "aws", "ROUTEWAY_BUCKET": BUCKET, "ROUTEWAY_TABLE": TABLE})
    )
    assert gateway.snapshots.get_snapshot("abc123") is None  # S3
    assert gateway.state.sync.get_pointer() is None  # DynamoDB
    assert len(sessions) == 1
