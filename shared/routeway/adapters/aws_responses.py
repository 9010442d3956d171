"""Stored Responses answers on DynamoDB, and in S3 when one is too large for a DynamoDB item.

A stored turn holds only what it added (`StoredResponse.input` is this turn's input; `earlier` names the turns
before it), but one turn can still pass DynamoDB's 400 KB item limit (a pasted file, an image). Then its
gzipped record goes to the bucket under `responses/` first, and the item only points at it: an item never
points at an object that is not there, and `"store": true` is never answered without the turn kept.
Deleting one erases the object's content (an empty object written over it): the functions may not delete
objects (tests/lambda_shape/test_iam_evidence.py), and the bucket's lifecycle rule for `responses/` expires
objects and their old versions after the records' TTL.
"""

from __future__ import annotations

import gzip
import re
from functools import cached_property
from typing import Any

import orjson

from routeway.adapters.aws_common import MAX_RESPONSE_ITEM_BYTES, AwsSession, DynamoTable
from routeway.adapters.aws_common import call as _call
from routeway.adapters.aws_common import s as _s
from routeway.domain.records import StoredResponse
from routeway.errors import ConflictError

PREFIX = "responses/"
RESPONSE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


class S3Responses:
    """Large stored turns as objects `responses/<id>.json.gz` in the gateway's bucket."""

    def __init__(self, bucket: str, session: AwsSession) -> None:
        self.bucket = bucket
        self._session = session

    @cached_property
    def client(self) -> Any:
        return self._session.client("s3")

    @staticmethod
    def key(response_id: str) -> str:
        if not RESPONSE_ID.fullmatch(response_id):
            raise ValueError(f"not a response id: {response_id[:100]!r}")
        return f"{PREFIX}{response_id}.json.gz"

    def put(self, response_id: str, document: bytes) -> str:
        key = self.key(response_id)
        _call(
            "S3 put response",
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=document, ContentType="application/json", ContentEncoding="gzip"
            ),
        )
        return key

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        def fetch() -> bytes | None:
            try:
                body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            return body or None  # an erased one is empty

        return _call("S3 get response", fetch)

    def erase(self, key: str) -> None:
        _call("S3 erase response", lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=b""))


class DynamoResponses:
    def __init__(self, db: DynamoTable, blobs: S3Responses | None) -> None:
        self.db = db
        self.blobs = blobs

    @staticmethod
    def _key(response_id: str) -> dict[str, Any]:
        return {"pk": _s(f"resp#{response_id}"), "sk": _s("resp")}

    def put(self, record: StoredResponse) -> None:
        document = gzip.compress(orjson.dumps(record.model_dump(mode="json")), compresslevel=6)
        item = {**self._key(record.id), "owner": _s(record.owner), "expires_at": {"N": str(record.expires_at)}}
        if len(document) <= MAX_RESPONSE_ITEM_BYTES:
            item["record"] = {"B": document}
        elif self.blobs is not None:
            item["blob"] = _s(self.blobs.put(record.id, document))  # the object first: never a dangling item
        else:
            from routeway.errors import StoreUnavailable

            raise StoreUnavailable("DynamoDB put response: over DynamoDB's item size and no bucket for it")
        _call("DynamoDB put response", lambda: self.db.client.put_item(TableName=self.db.name, Item=item))

    def get(self, response_id: str, now_epoch: int) -> StoredResponse | None:
        item = self.db.get("DynamoDB get response", self._key(response_id))
        if item is None or int(item["expires_at"]["N"]) <= now_epoch:  # TTL deletion is lazy
            return None
        if "blob" in item:
            document = self.blobs.get(item["blob"]["S"]) if self.blobs is not None else None
            if document is None:
                return None
        else:
            document = item["record"]["B"]
        return StoredResponse.model_validate_json(gzip.decompress(document))

    def delete(self, response_id: str, owner: str) -> bool:
        try:
            answer = _call(
                "DynamoDB delete response",
                lambda: self.db.client.delete_item(
                    TableName=self.db.name,
                    Key=self._key(response_id),
                    ConditionExpression="#owner = :owner",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={":owner": _s(owner)},
                    ReturnValues="ALL_OLD",
                ),
            )
        except ConflictError:  # none, or someone else's
            return False
        blob = (answer.get("Attributes") or {}).get("blob")
        if blob is not None and self.blobs is not None:
            self.blobs.erase(blob["S"])
        return True
