"""A fake Amazon Bedrock runtime: `POST /model/{modelId}/converse` (JSON) and `/converse-stream` (AWS event-stream
binary frames, each with its prelude and message CRCs), behind a real SigV4 check.

Every request must carry `Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/bedrock/aws4_request,
SignedHeaders=…, Signature=…`, an `x-amz-date` within 15 minutes, and `x-amz-security-token` when the credentials
have one; the signature is computed again here with botocore's own SigV4 signer over the request as it arrived,
and must match. With `api_key`, `Authorization: Bearer <api_key>` is accepted instead (a Bedrock API key). With
`access_key` None any key id is taken (the Lambda-shaped run: one per function's role) with the one secret, and
`calls` records who called what (key id, operation, model id), as IAM would see it.

It calls the first tool it is offered (unless the last turn is a tool result, which it answers in words), and a
fault can be set for every request until `reset()`: throttle (429 ThrottlingException), denied (403
AccessDeniedException), not_enabled (400 ValidationException), not_ready (503 ModelNotReadyException), cut (a
stream cut mid-frame), malformed (a frame whose CRC is wrong), stream_throttle (an exception frame mid-stream),
slow (a stream's answer held until `reset()`, at most SLOW_S; `slow_answered` says whether it went).
"""

from __future__ import annotations

import asyncio
import binascii
import datetime
import json
import re
import struct
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")
MAX_SKEW = datetime.timedelta(minutes=15)
SLOW_S = 30.0


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", 7, len(raw_value)) + raw_value


def frame(headers: dict[str, str], payload: bytes, *, corrupt: bool = False) -> bytes:
    """One AWS event-stream message: total length, headers length, prelude CRC, headers, payload, message CRC."""
    encoded = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + encoded + payload
    crc = binascii.crc32(body) & 0xFFFFFFFF
    return body + struct.pack("!I", crc ^ 0xFF if corrupt else crc)


def event(kind: str, payload: dict[str, Any], *, corrupt: bool = False) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(payload).encode(), corrupt=corrupt)


def exception_frame(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())


@dataclass
class Seen:
    model_id: str
    body: dict[str, Any]
    authorization: str
    stream: bool


ERRORS = {
    "throttle": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "denied": (
        403,
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/routeway-fn/x is not authorized to perform: bedrock:InvokeModel",
    ),
    "not_enabled": (400, "ValidationException", "The provided model identifier is invalid."),
    "not_ready": (503, "ModelNotReadyException", "Model is not ready"),
}


class FakeBedrock:
    def __init__(
        self,
        access_key: str | None = "testing",
        secret_key: str = "testing",
        session_token: str | None = "testing",
        region: str = "us-east-1",
        api_key: str | None = None,
    ) -> None:
        self.access_key, self.secret_key, self.session_token = access_key, secret_key, session_token
        self.region = region
        self.api_key = api_key
        self.served: set[str] | None = None  # None: every model id
        self.fault: str | None = None
        self.seen: list[Seen] = []
        self.slow_release = threading.Event()  # set by reset(): a held slow answer goes then
        self.slow_answered = False
        self.refused: list[str] = []  # why each refused signature was refused
        self.app = Starlette(
            routes=[
                Route("/model/{model_id}/converse", self.converse, methods=["POST"]),
                Route("/model/{model_id}/converse-stream", self.converse_stream, methods=["POST"]),
                # the `bedrock` control plane (AWS_ENDPOINT_URL_BEDROCK): what the refresh lists
                Route("/foundation-models", self.list_foundation_models, methods=["GET"]),
                Route("/inference-profiles", self.list_inference_profiles, methods=["GET"]),
            ]
        )
        self.foundation_models: list[dict[str, Any]] = []
        self.inference_profiles: list[dict[str, Any]] = []
        self.listed: list[str] = []  # the control-plane paths asked
        self.calls: list[tuple[str, str, str]] = []  # (access key id, operation, model id) of each signed call

    def reset(self) -> None:
        self.fault, self.served, self.api_key = None, None, None
        self.foundation_models, self.inference_profiles = [], []
        self.listed = []
        self.calls = []
        self.access_key, self.secret_key, self.session_token = "testing", "testing", "testing"
        self.region = "us-east-1"
        self.seen.clear()
        self.refused.clear()
        self.slow_release.set()
        self.slow_release, self.slow_answered = threading.Event(), False

    # ---- the SigV4 check ---------------------------------------------------------------------------------

    def _signature_problem(self, request: Request, body: bytes) -> str | None:
        authorization = request.headers.get("authorization", "")
        if self.api_key is not None and authorization == f"Bearer {self.api_key}":
            return None
        match = AUTH.match(authorization)
        if match is None:
            return "no SigV4 Authorization header"
        credential, signed, signature = match.groups()
        parts = credential.split("/")
        stamp = request.headers.get("x-amz-date", "")
        if len(parts) != 5 or parts[2:] != [self.region, "bedrock", "aws4_request"]:
            return f"credential scope {'/'.join(parts[1:])!r} is not <date>/{self.region}/bedrock/aws4_request"
        if self.access_key is not None and parts[0] != self.access_key:
            return "unknown access key"
        try:
            when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            return "no x-amz-date"
        if parts[1] != stamp[:8] or abs(datetime.datetime.now(datetime.UTC) - when) > MAX_SKEW:
            return "x-amz-date does not match the credential scope or the time"
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names:
            return "host and x-amz-date must be signed"
        if self.session_token is not None and (
            request.headers.get("x-amz-security-token") != self.session_token or "x-amz-security-token" not in names
        ):
            return "the session token is missing or not signed"
        if not _same_signature(request, body, names, stamp, self._credentials(), self.region, signature):
            return "the signature does not match"
        return None

    def _credentials(self) -> Any:
        from botocore.credentials import Credentials

        return Credentials(self.access_key, self.secret_key, self.session_token)

    def _refuse(self, problem: str) -> Response:
        self.refused.append(problem)
        if problem == "unknown access key":
            kind, message = "UnrecognizedClientException", "The security token included in the request is invalid."
        else:
            kind, message = "InvalidSignatureException", f"Signature check failed: {problem}."
        return _error(403, kind, message)

    # ---- the API -----------------------------------------------------------------------------------------

    async def _listing(self, request: Request, key: str, rows: list[dict[str, Any]]) -> Response:
        problem = self._signature_problem(request, await request.body())
        if problem is not None:
            return self._refuse(problem)
        self.listed.append(f"{request.url.path}?{request.url.query}")
        operation = "ListFoundationModels" if key == "modelSummaries" else "ListInferenceProfiles"
        self.calls.append((_key_id(request), operation, ""))
        if self.fault == "denied":
            return _error(*ERRORS["denied"])
        return Response(json.dumps({key: rows}), media_type="application/json")

    async def list_foundation_models(self, request: Request) -> Response:
        return await self._listing(request, "modelSummaries", self.foundation_models)

    async def list_inference_profiles(self, request: Request) -> Response:
        return await self._listing(request, "inferenceProfileSummaries", self.inference_profiles)

    async def _admit(self, request: Request, stream: bool) -> tuple[Seen | None, Response | None]:
        body = await request.body()
        problem = self._signature_problem(request, body)
        if problem is not None:
            return None, self._refuse(problem)
        model_id = request.path_params["model_id"]
        seen = Seen(model_id, json.loads(body), request.headers.get("authorization", ""), stream)
        self.seen.append(seen)
        self.calls.append((_key_id(request), "ConverseStream" if stream else "Converse", model_id))
        if self.fault in ERRORS:
            return seen, _error(*ERRORS[self.fault])
        if self.served is not None and model_id not in self.served:
            return seen, _error(*ERRORS["not_enabled"])
        if _thinking(seen.body) and _unsigned_tool_turn(seen.body):  # what Anthropic's models on Bedrock refuse
            message = "Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled,"
            return seen, _error(400, "ValidationException", message + " a final `assistant` message must start with it")
        return seen, None

    async def converse(self, request: Request) -> Response:
        seen, refused = await self._admit(request, stream=False)
        if refused is not None or seen is None:
            return refused or _error(500, "InternalServerException", "")
        content = _answer_blocks(seen.body)
        stop = "tool_use" if any("toolUse" in b for b in content) else "end_turn"
        answer = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19, "cacheReadInputTokens": 0},
            "metrics": {"latencyMs": 42},
        }
        return Response(json.dumps(answer), media_type="application/json", headers={"x-amzn-requestid": "req-1"})

    async def converse_stream(self, request: Request) -> Response:
        seen, refused = await self._admit(request, stream=True)
        if refused is not None or seen is None:
            return refused or _error(500, "InternalServerException", "")
        if self.fault == "slow":  # the stream's headers come late: past a short first-token timeout
            release, waited = self.slow_release, 0.0
            while not release.is_set() and waited < SLOW_S:
                await asyncio.sleep(0.05)
                waited += 0.05
            self.slow_answered = True
        frames = _stream_frames(_answer_blocks(seen.body), self.fault)
        return StreamingResponse(
            _pieces(frames), media_type="application/vnd.amazon.eventstream", headers={"x-amzn-requestid": "req-2"}
        )


def _key_id(request: Request) -> str:
    match = AUTH.match(request.headers.get("authorization", ""))
    return match.group(1).split("/")[0] if match else "bearer"


def listed_model(model_id: str, *kinds: str, region: str = "us-east-1") -> dict[str, Any]:
    """One ListFoundationModels summary: an active text model, served on demand or through profiles."""
    return {
        "modelId": model_id,
        "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}",
        "inferenceTypesSupported": list(kinds),
        "outputModalities": ["TEXT"],
        "modelLifecycle": {"status": "ACTIVE"},
    }


def listed_profile(profile_id: str, model_id: str, regions: tuple[str, ...] = ("us-east-1", "us-west-2")) -> Any:
    """One ListInferenceProfiles summary: a system-defined cross-region profile routing to `model_id`."""
    arns = [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{model_id}"} for r in regions]
    return {"inferenceProfileId": profile_id, "status": "ACTIVE", "type": "SYSTEM_DEFINED", "models": arns}


def _same_signature(
    request: Request, body: bytes, names: list[str], stamp: str, credentials: Any, region: str, signature: str
) -> bool:
    """botocore's SigV4 signer over the request as it arrived (its raw path, the headers it says it signed)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    url = f"http://{request.headers['host']}{raw_path.decode()}" + (f"?{query.decode()}" if query else "")
    headers = {name: request.headers.get(name, "") for name in names}
    aws_request = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    aws_request.context["timestamp"] = stamp
    signer = SigV4Auth(credentials, "bedrock", region)
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    return bool(expected == signature)


def _error(status: int, kind: str, message: str) -> Response:
    return Response(
        json.dumps({"message": message}),
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
    )


def _tool_results(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    results = [b["toolResult"] for b in last.get("content") or [] if "toolResult" in b]
    return [" ".join(str(c.get("text", "")) for c in r.get("content") or []) for r in results]


def _thinking(body: dict[str, Any]) -> bool:
    return bool((body.get("additionalModelRequestFields") or {}).get("thinking"))


def _unsigned_tool_turn(body: dict[str, Any]) -> bool:
    turns = [m for m in body.get("messages") or [] if m.get("role") == "assistant"]
    blocks = turns[-1].get("content") or [] if turns else []
    return any("toolUse" in b for b in blocks) and not any("reasoningContent" in b for b in blocks)


def _answer_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = _plain_answer_blocks(body)
    if _thinking(body):
        said = {"text": "Thinking it over.", "signature": "sig-fake-1"}
        return [{"reasoningContent": {"reasoningText": said}}, *blocks]
    return blocks


def _plain_answer_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    results = _tool_results(body)
    tools = ((body.get("toolConfig") or {}).get("tools")) or []
    if tools and not results:
        spec = tools[0]["toolSpec"]
        properties = ((spec.get("inputSchema") or {}).get("json") or {}).get("properties") or {}
        arguments = dict.fromkeys(list(properties)[:1], "Paris")
        return [
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "tooluse_fake1", "name": spec["name"], "input": arguments}},
        ]
    if results:
        return [{"text": f"The tool said: {results[0]}"}]
    has_image = any("image" in b for m in body.get("messages") or [] for b in m.get("content") or [])
    return [{"text": "I see an image. Hello from Bedrock." if has_image else "Hello from Bedrock."}]


def _stream_frames(blocks: list[dict[str, Any]], fault: str | None) -> list[bytes]:
    frames = [event("messageStart", {"role": "assistant"})]
    for index, block in enumerate(blocks):
        if "reasoningContent" in block:
            said = block["reasoningContent"]["reasoningText"]
            for delta in ({"text": said["text"]}, {"signature": said["signature"]}):
                frames.append(
                    event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": delta}})
                )
        elif "toolUse" in block:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            frames.append(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            arguments = json.dumps(use["input"])
            for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
                delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}}
                frames.append(event("contentBlockDelta", delta))
        else:
            words = block["text"].split(" ")
            for n, word in enumerate(words):
                piece = word if n == 0 else " " + word
                frames.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}}))
        frames.append(event("contentBlockStop", {"contentBlockIndex": index}))
    stop = "tool_use" if any("toolUse" in b for b in blocks) else "end_turn"
    frames.append(event("messageStop", {"stopReason": stop}))
    usage = {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19}
    frames.append(event("metadata", {"usage": usage, "metrics": {"latencyMs": 42}}))
    if fault == "cut":  # two pieces of content, then half of the next frame, and the body ends
        return [*frames[:3], frames[3][: len(frames[3]) // 2]]
    if fault == "malformed":
        return [*frames[:3], event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}, corrupt=True)]
    if fault == "stream_throttle":
        return [*frames[:3], exception_frame("throttlingException", "Too many tokens, please wait.")]
    return frames


async def _pieces(frames: list[bytes]) -> AsyncIterator[bytes]:
    for piece in frames:
        yield piece
