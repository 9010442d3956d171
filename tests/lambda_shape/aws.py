"""AWS for the Lambda-shaped run: a moto server on loopback that records every call as IAM would authorise it.

Each function runs with its own access key id, so a call is attributed to the function that made it (the
SigV4 credential scope names the key and the service). A call becomes the IAM actions and resource ARNs it
needs: a DynamoDB transaction needs each item's own action on its table; an S3 HEAD needs s3:GetObject.
Bedrock, which moto does not serve, is the fake Bedrock (tests/fakes/bedrock.py): its record of signed calls
becomes IAM's the same way (`bedrock_calls`).
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class Call:
    access_key: str
    action: str  # IAM action, e.g. dynamodb:GetItem
    resource: str  # ARN
    leading_key: str | None = None  # the DynamoDB partition key touched (IAM's dynamodb:LeadingKeys)
    profile_arn: str | None = None  # a model invoked through a cross-region profile (bedrock:InferenceProfileArn)

    @property
    def evaluated(self) -> tuple[str, str, str | None, str | None]:
        return self.action, self.resource, self.leading_key, self.profile_arn


class RecordingMoto:
    """moto's own WSGI app (every service, as `moto_server` runs it) behind a recorder, in a thread."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *_: Any) -> None:  # the calls are recorded; no access log
                return

        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, self._record, threaded=True, request_handler=Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> RecordingMoto:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()

    def add(self, calls: list[Call]) -> None:
        """Calls another server recorded (the fake Bedrock's), attributed as moto's are."""
        with self._lock:
            self.calls.extend(calls)

    def calls_of(self, access_key: str) -> set[Call]:
        with self._lock:
            return {c for c in self.calls if c.access_key == access_key}

    def _record(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match:
            key, _, service = match.groups()
            found = list(_iam_calls(service, environ, body))
            with self._lock:
                self.calls.extend(Call(key, *call) for call in found)
        return self._app(environ, start_response)


def _iam_calls(service: str, environ: dict[str, Any], body: bytes) -> Iterator[tuple[str, str, str | None]]:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if service == "dynamodb":
        yield from _dynamodb(target.split(".")[-1], json.loads(body or b"{}"))
    elif service == "ssm":
        payload = json.loads(body or b"{}")
        for name in payload.get("Names") or [payload.get("Name", "")]:
            yield f"ssm:{target.split('.')[-1]}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}", None
    elif service == "s3":
        yield (*_s3(environ), None)
    elif service == "events":  # PutEvents: each entry on its bus (the default bus when it names none)
        for entry in json.loads(body or b"{}").get("Entries", []):
            bus = entry.get("EventBusName") or "default"
            yield f"events:{target.split('.')[-1]}", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}", None
    else:
        yield f"{service}:{target.split('.')[-1] or environ['REQUEST_METHOD']}", "*", None


def _table(name: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


TRANSACT_ITEM_ACTION = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
TRANSACT_ITEM_ACTION["ConditionCheck"] = "ConditionCheckItem"


def _partition(spec: dict[str, Any]) -> str | None:
    key = spec.get("Key") or spec.get("Item") or {}
    value = key.get("pk") or spec.get("ExpressionAttributeValues", {}).get(":pk") or {}
    return value.get("S")


def _dynamodb(operation: str, payload: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    if operation == "TransactWriteItems":
        for item in payload.get("TransactItems", []):
            ((kind, spec),) = item.items()
            yield f"dynamodb:{TRANSACT_ITEM_ACTION[kind]}", _table(spec["TableName"]), _partition(spec)
    elif operation == "TransactGetItems":
        for item in payload.get("TransactItems", []):
            yield "dynamodb:GetItem", _table(item["Get"]["TableName"]), _partition(item["Get"])
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        for table in payload.get("RequestItems", {}):
            yield f"dynamodb:{operation}", _table(table), None
    else:
        table = _table(payload.get("TableName", "*"), payload.get("IndexName"))
        yield f"dynamodb:{operation}", table, _partition(payload)


def _s3(environ: dict[str, Any]) -> tuple[str, str]:
    method = environ["REQUEST_METHOD"]
    bucket, _, key = unquote(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if not key:  # a bucket-level call
        if "versions" in query:
            return "s3:ListBucketVersions", f"arn:aws:s3:::{bucket}"
        if method in ("GET", "HEAD") and not (query.keys() - {"list-type", "prefix", "delimiter", "max-keys"}):
            return "s3:ListBucket", f"arn:aws:s3:::{bucket}"
        return f"s3:{method}Bucket?{'&'.join(sorted(query))}", f"arn:aws:s3:::{bucket}"
    versioned = "Version" if "versionId" in query else ""
    action = {"GET": f"GetObject{versioned}", "HEAD": f"GetObject{versioned}", "PUT": "PutObject"}.get(method)
    action = action or {"DELETE": f"DeleteObject{versioned}"}.get(method, f"{method}Object")
    return f"s3:{action}", f"arn:aws:s3:::{bucket}/{key}"


BEDROCK_ACTIONS = {
    "Converse": "bedrock:InvokeModel",
    "ConverseStream": "bedrock:InvokeModelWithResponseStream",
    "ListFoundationModels": "bedrock:ListFoundationModels",  # list actions: IAM scopes them to no resource
    "ListInferenceProfiles": "bedrock:ListInferenceProfiles",
}
PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "us-gov.")
PROFILE_DESTINATIONS = ("us-east-1", "us-east-2", "us-west-2")  # where a us. profile may route the call


def bedrock_calls(recorded: list[tuple[str, str, str]]) -> list[Call]:
    """The fake Bedrock's (key id, operation, model id) as IAM authorises them: Converse is bedrock:InvokeModel on
    the model, ConverseStream bedrock:InvokeModelWithResponseStream; through a cross-region profile, on the
    profile and on its foundation model in each region it may route to, with the profile as the condition
    `bedrock:InferenceProfileArn`."""
    calls = []
    for key, operation, model_id in recorded:
        action = BEDROCK_ACTIONS[operation]
        if not model_id:
            calls.append(Call(key, action, "*"))
            continue
        prefix = next((p for p in PROFILE_PREFIXES if model_id.startswith(p)), None)
        if prefix is None:
            calls.append(Call(key, action, f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}"))
            continue
        profile = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{model_id}"
        calls.append(Call(key, action, profile))
        foundation = model_id.removeprefix(prefix)
        for region in PROFILE_DESTINATIONS:
            arn = f"arn:aws:bedrock:{region}::foundation-model/{foundation}"
            calls.append(Call(key, action, arn, profile_arn=profile))
    return calls
