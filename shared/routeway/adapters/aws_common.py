"""What the AWS stores share: lazily made boto3 clients, DynamoDB numbers, one way to translate failures,
and one way to run a transaction."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import zlib
from collections.abc import Callable
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar

import orjson

from routeway.domain.records import GenerationRecord
from routeway.errors import ConflictError, StoreUnavailable

T = TypeVar("T")
_CONFLICT_CODES = {"ConditionalCheckFailedException", "PreconditionFailed"}
CONDITION_FAILED = "ConditionalCheckFailed"  # a transaction item's cancellation code: its condition was false
LOST = (CONDITION_FAILED, "TransactionConflict")  # the codes of a transaction that lost, not of a failing store
RACING = "The key's budget is being written by other requests; retry."
MAX_RESPONSE_ITEM_BYTES = 390_000  # DynamoDB items stop at 400 KB, keys and attributes included


WIRE_LOGGERS = ("botocore", "boto3", "urllib3")


def quiet_wire_loggers() -> None:
    """botocore's DEBUG lines carry request bodies (key hashes, record ids): never below INFO, whatever the root."""
    for name in WIRE_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO or logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


class AwsSession:
    """The one boto3 session a gateway's AWS stores make their clients from, on first use.

    Each session loads botocore's endpoint, partition and retry data anew: a session per client made a cold
    start load them once for S3 and again for DynamoDB. A session is not thread-safe (its clients are), and
    the stores make their clients on their first call, from the off-loop workers: hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        quiet_wire_loggers()
        config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
        with self._lock:
            if self._session is None:
                self._session = boto3.session.Session()
            return self._session.client(service, config=config)


def number(value: float) -> str:
    """A DynamoDB number in plain notation: small costs (2e-05) must not reach the wire in exponent form."""
    return format(Decimal(repr(float(value))), "f")


def call(what: str, action: Callable[[], T]) -> T:
    """Run one AWS call; translate botocore failures by error code, never by message text."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return action()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _CONFLICT_CODES:
            raise ConflictError(what) from None
        if code == "TransactionCanceledException":
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                raise ConflictError(what) from None
        raise StoreUnavailable(f"{what}: {code or 'AWS error'}") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"{what}: {exc.__class__.__name__}") from None


def request_token(kind: str, ident: str) -> str:
    """A ClientRequestToken for one logical write: a retry of the same call repeats it, never a new write."""
    return hashlib.sha256(f"{kind}:{ident}".encode()).hexdigest()[:36]


def s(value: str) -> dict[str, str]:
    return {"S": value}


def generation_item(record: GenerationRecord) -> dict[str, Any]:
    """A generation record as its item: ("gen#<id>", "gen"), with the TTL attribute expires_at. The record's JSON
    is kept deflated (`z`, binary): a record with its route proof is just over 1 KB as text (2 write units),
    about half that deflated (1 unit)."""
    return {
        "pk": s(f"gen#{record.id}"),
        "sk": s("gen"),
        "expires_at": {"N": str(record.expires_at)},
        "z": {"B": zlib.compress(orjson.dumps(record.model_dump(mode="json")), 9)},
    }


def generation_of(item: dict[str, Any]) -> GenerationRecord:
    """The record of a generation item (deflated, or as text in an item written before issue 35)."""
    if "z" in item:
        return GenerationRecord.model_validate_json(zlib.decompress(item["z"]["B"]))
    return GenerationRecord.model_validate_json(item["record"]["S"])


def transact(client: Any, what: str, items: list[dict[str, Any]], token: str | None = None) -> list[str] | None:
    """Run one TransactWriteItems: None when it committed; each item's cancellation code when a condition or a
    race with another transaction stopped it (the caller decides which); any other failure StoreUnavailable.

    `token` (ClientRequestToken) makes boto3's retry of a write that did land return its first answer."""
    from botocore.exceptions import ClientError

    def run() -> list[str] | None:
        try:
            client.transact_write_items(TransactItems=items, ClientRequestToken=token or secrets.token_hex(18))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") or "None" for r in exc.response.get("CancellationReasons", [])]
            if not any(r in LOST for r in reasons):
                raise
            return reasons
        return None

    return call(what, run)


class DynamoTable:
    """One table and its client, made on first use: what the state store and the parts it holds share."""

    def __init__(self, name: str, session: AwsSession) -> None:
        self.name = name
        self._session = session

    @cached_property
    def client(self) -> Any:
        return self._session.client("dynamodb")

    def get(self, what: str, key: dict[str, Any]) -> dict[str, Any] | None:
        """One item by its key, read consistently; None when there is none."""
        response = call(what, lambda: self.client.get_item(TableName=self.name, Key=key, ConsistentRead=True))
        item: dict[str, Any] | None = response.get("Item")
        return item

    def transact(self, what: str, items: list[dict[str, Any]], token: str | None = None) -> list[str] | None:
        return transact(self.client, what, items, token)

    def settle_once(self, items: list[dict[str, Any]], kind: str, generation_id: str, rounds: int) -> bool:
        """A settle's transaction: True when it landed, False when its first item's condition failed (it landed
        before, or there is nothing to settle); retried while other writes race it, each round with its own
        token; StoreUnavailable after `rounds` lost races."""
        for round_ in range(rounds):
            reasons = self.transact("DynamoDB settle", items, request_token(f"{kind}-{round_}", generation_id))
            if reasons is None:
                return True
            if reasons[0] == CONDITION_FAILED:
                return False
        raise StoreUnavailable(RACING)

    def query(self, what: str, pk: str, sk_prefix: str | None = None, consistent: bool = False) -> list[dict[str, Any]]:
        """Every item of one partition (of those whose sort key starts with `sk_prefix`), page after page."""
        expression = "pk = :pk" + (" AND begins_with(sk, :prefix)" if sk_prefix else "")
        values = {":pk": s(pk), **({":prefix": s(sk_prefix)} if sk_prefix else {})}

        def run() -> list[dict[str, Any]]:
            paginator = self.client.get_paginator("query")
            pages = paginator.paginate(
                TableName=self.name,
                KeyConditionExpression=expression,
                ExpressionAttributeValues=values,
                ConsistentRead=consistent,
            )
            return [item for page in pages for item in page.get("Items", [])]

        return call(what, run)
