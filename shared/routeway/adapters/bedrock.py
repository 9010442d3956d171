"""Amazon Bedrock in the team's own account, behind the Upstream port: Converse and ConverseStream through boto3's
`bedrock-runtime` client, run off the event loop; the translation both ways is domain/bedrock_wire.py.

Signed with the function's role (SigV4, boto3's credential chain), or with a Bedrock API key (the backend's
`api_key_env`) sent as a bearer token. boto3's endpoint variables (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`) are
honoured. The client is made on the first call, never at import or build (cold start).

Failures are the port's: a Bedrock error is an answer with its status (429 throttled, 400 a request Bedrock found
invalid, 503 not ready), except access denied (`BackendAccessDenied`, 403), refused or missing credentials
(`BackendUnavailable`, 503), and a model the account or region does not serve or content Converse cannot carry
(`BackendCannotServe`, 400), which the core treats as an attempt it could not make: the request moves on (to
OpenRouter, when it allows), the backend's other targets are skipped, nothing cools down, and the message names
the model or the missing permission, never the credentials.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson

from routeway.domain.bedrock_answers import StreamTranslator, bedrock_error, to_chat_completion
from routeway.domain.bedrock_wire import BedrockRequestError, bedrock_model_id, model_arn, to_converse
from routeway.domain.catalog import Backend
from routeway.errors import BackendAccessDenied, BackendCannotServe, BackendUnavailable, RoutewayError
from routeway.overhead import waiting_upstream
from routeway.ports import Oversize, UpstreamNoAnswer, UpstreamResponse, UpstreamUnreachable

READ_TIMEOUT_S = 120.0  # one socket read; each call's own deadline is the caller's (asyncio.timeout)
CONNECT_TIMEOUT_S = 5.0
JSON = {"content-type": "application/json"}
_END = object()


def _json_error(status: int, message: str, code: str) -> UpstreamResponse:
    body = orjson.dumps({"error": {"message": message, "code": code}})
    return UpstreamResponse(status=status, body=body, headers=JSON)


class _Answered(RoutewayError):
    """Bedrock answered with an error the core reads as an answer (its status and body)."""

    def __init__(self, response: UpstreamResponse) -> None:
        super().__init__(response.status)
        self.response = response


class BedrockUpstream:
    def __init__(
        self,
        backend: Backend,
        region: str,
        *,
        endpoint_url: str | None = None,
        api_key: Callable[[], str | None] = lambda: None,
        control_url: str | None = None,
    ) -> None:
        self.backend = backend
        self.region = region
        self._endpoint_url = endpoint_url
        self._control_url = control_url  # the `bedrock` control plane's (ListFoundationModels), for the refresh
        self._api_key = api_key
        self._lock = threading.Lock()
        self._client: Any = None

    # ---- the boto3 client, made on first use (from a worker thread) ---------------------------------------

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        import boto3
        import botocore
        from botocore.config import Config

        from routeway.adapters.aws_common import quiet_wire_loggers

        quiet_wire_loggers()
        key = self._api_key()
        options: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "read_timeout": READ_TIMEOUT_S,
            "retries": {"max_attempts": 1, "mode": "standard"},  # the core retries, elsewhere if it can
        }
        if key:
            options["signature_version"] = botocore.UNSIGNED  # the API key replaces SigV4
        client = boto3.session.Session().client(
            "bedrock-runtime", region_name=self.region, endpoint_url=self._endpoint_url, config=Config(**options)
        )
        if key:

            def bearer(request: Any, **_: Any) -> None:
                request.headers["Authorization"] = f"Bearer {key}"

            client.meta.events.register("before-send.bedrock-runtime", bearer)
        return client

    # ---- one call, in a worker thread ----------------------------------------------------------------------

    def _call(self, operation: str, request: dict[str, Any], model_id: str) -> Any:
        """The boto3 call, its failures translated: `_Answered` (an error answer), BackendAccessDenied,
        BackendUnavailable, UpstreamUnreachable or UpstreamNoAnswer."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        stream = operation == "converse_stream"
        try:
            return getattr(self.client(), operation)(**request)
        except ClientError as exc:
            raise self._refusal(exc.response, model_id, stream=stream) from None
        except (NoCredentialsError, PartialCredentialsError):
            action = "bedrock:InvokeModelWithResponseStream" if stream else "bedrock:InvokeModel"
            raise BackendUnavailable(
                f"Amazon Bedrock ({self.region}): no AWS credentials found for the gateway; its role needs {action} on"
                f" {model_arn(self.region, model_id)} (or set the backend's api_key_env)."
            ) from None
        except (ConnectTimeoutError, EndpointConnectionError) as exc:
            raise UpstreamUnreachable(f"Amazon Bedrock ({self.region}): {exc.__class__.__name__}") from None
        except ReadTimeoutError:
            raise UpstreamNoAnswer(f"Amazon Bedrock ({self.region}) was silent for {READ_TIMEOUT_S:.0f} s") from None
        except BotoCoreError as exc:  # an answer botocore could not read
            raise UpstreamUnreachable(f"Amazon Bedrock ({self.region}): {exc.__class__.__name__}") from None

    def _refusal(self, response: Mapping[str, Any], model_id: str, *, stream: bool) -> Exception:
        error = response.get("Error") or {}
        meta = response.get("ResponseMetadata") or {}
        said = bedrock_error(
            str(error.get("Code") or ""),
            meta.get("HTTPStatusCode"),
            model_id,
            self.region,
            stream=stream,
            detail=str(error.get("Message") or ""),
        )
        if said.kind == "access_denied":
            return BackendAccessDenied(said.message)
        if said.kind == "credentials":
            return BackendUnavailable(said.message)
        if said.kind == "not_served":
            return BackendCannotServe(said.message)
        headers = dict(JSON)
        retry_after = (meta.get("HTTPHeaders") or {}).get("retry-after")
        if retry_after:
            headers["retry-after"] = str(retry_after)
        return _Answered(UpstreamResponse(status=said.status, body=said.body(), headers=headers))

    def _request(self, payload: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """(catalog model, Bedrock model id, Converse request); BackendCannotServe for what Converse cannot say
        (another backend may: the request moves on when it allows)."""
        model = str(payload.get("model") or "")
        model_id = bedrock_model_id(model, self.backend.model_ids)
        try:
            return model, model_id, to_converse(payload, model_id)
        except BedrockRequestError as exc:
            raise BackendCannotServe(f"Amazon Bedrock ({self.region}): {exc}") from None

    # ---- the Upstream port ---------------------------------------------------------------------------------

    async def chat(
        self, payload: Mapping[str, Any], *, timeout_s: float, max_bytes: int | None = None
    ) -> UpstreamResponse:
        started = time.perf_counter()
        model, model_id, request = self._request(payload)
        try:
            with waiting_upstream():
                async with asyncio.timeout(timeout_s):
                    answer = await asyncio.to_thread(self._call, "converse", request, model_id)
        except TimeoutError:
            raise UpstreamNoAnswer(f"no answer within {timeout_s:.1f} s") from None
        except _Answered as refused:
            return refused.response
        request_id = (answer.get("ResponseMetadata") or {}).get("RequestId")
        body = orjson.dumps(to_chat_completion(answer, model, request_id, created=int(time.time())))
        latency_ms = (time.perf_counter() - started) * 1000
        if max_bytes is not None and len(body) > max_bytes:
            oversize = Oversize(len(body), body[:4_096], body[-65_536:])
            return UpstreamResponse(status=200, body=b"", headers=JSON, latency_ms=latency_ms, oversize=oversize)
        return UpstreamResponse(status=200, body=body, headers=JSON, latency_ms=latency_ms)

    @asynccontextmanager
    async def open_stream(
        self, payload: Mapping[str, Any], *, first_byte_s: float, idle_s: float
    ) -> AsyncIterator[Any]:
        model, model_id, request = self._request(payload)
        call = asyncio.get_running_loop().run_in_executor(None, self._call, "converse_stream", request, model_id)
        try:
            with waiting_upstream():
                async with asyncio.timeout(first_byte_s):
                    answer = await asyncio.shield(call)
        except TimeoutError:
            call.add_done_callback(_close_late)
            raise UpstreamNoAnswer(f"no answer within {first_byte_s:.1f} s") from None
        except asyncio.CancelledError:  # the caller's own first-token deadline
            call.add_done_callback(_close_late)
            raise
        except _Answered as refused:
            yield _ErrorStream(refused.response)
            return
        stream = BedrockStream(answer, model, idle_s, self.region)
        try:
            yield stream
        finally:
            await asyncio.to_thread(stream.close)

    async def embeddings(
        self, payload: Mapping[str, Any], *, timeout_s: float, max_bytes: int | None = None
    ) -> UpstreamResponse:
        del payload, timeout_s, max_bytes
        return _json_error(404, "Embeddings are not served through the Bedrock backend yet.", "not_found")

    async def get(self, path: str, params: Mapping[str, str] | None = None, *, timeout_s: float) -> UpstreamResponse:
        """`models`: what the account's Bedrock lists here (ListFoundationModels, ListInferenceProfiles through
        the `bedrock` control plane), as {foundation_models, inference_profiles}; the refresh maps them to
        catalog models. Nothing else is a document Bedrock has."""
        del params
        if path.strip("/") != "models":
            return _json_error(404, f"Amazon Bedrock has no {path!r} here.", "not_found")
        try:
            async with asyncio.timeout(timeout_s):
                listed = await asyncio.to_thread(self._listing)
        except TimeoutError:
            raise UpstreamNoAnswer(f"Amazon Bedrock ({self.region}) listed nothing within {timeout_s:.0f} s") from None
        if isinstance(listed, UpstreamResponse):
            return listed
        return UpstreamResponse(status=200, body=orjson.dumps(listed), headers=JSON)

    def _listing(self) -> dict[str, Any] | UpstreamResponse:
        """Both listings, every page (in a worker thread); a refusal as an error answer naming the permission."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        options = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=30, retries={"max_attempts": 2})
        client = boto3.session.Session().client(
            "bedrock", region_name=self.region, endpoint_url=self._control_url, config=options
        )
        action = "bedrock:ListFoundationModels"
        try:
            models = client.list_foundation_models().get("modelSummaries") or []
            action = "bedrock:ListInferenceProfiles"
            profiles: list[Any] = []
            for page in client.get_paginator("list_inference_profiles").paginate(typeEquals="SYSTEM_DEFINED"):
                profiles.extend(page.get("inferenceProfileSummaries") or [])
        except ClientError as exc:
            status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 502)
            code = str((exc.response.get("Error") or {}).get("Code") or "")
            return _json_error(status, f"Amazon Bedrock ({self.region}) refused {action}: {code}.", "bedrock_listing")
        except BotoCoreError as exc:
            raise UpstreamUnreachable(f"Amazon Bedrock ({self.region}): {exc.__class__.__name__}") from None
        return {"foundation_models": models, "inference_profiles": profiles}


def _close_late(call: asyncio.Future[Any]) -> None:
    """A stream that opened after its caller gave up on it: its connection goes back, never left open."""
    if call.cancelled() or call.exception() is not None:
        return
    closing = getattr((call.result() or {}).get("stream"), "close", None)
    if callable(closing):
        threading.Thread(target=closing, daemon=True).start()


class _ErrorStream:
    """A stream request Bedrock refused: its status, and its error as the body."""

    def __init__(self, response: UpstreamResponse) -> None:
        self.status = response.status
        self.headers: Mapping[str, str] = dict(response.headers)
        self._body = response.body

    async def chunks(self) -> AsyncIterator[bytes]:
        if False:  # pragma: no cover - an async generator with nothing to give
            yield b""

    async def read(self) -> bytes:
        return self._body


class BedrockStream:
    """ConverseStream's events as the OpenAI SSE the core relays. A stream cut before `messageStop` (mid-frame)
    or a frame botocore cannot decode (its CRC, its lengths) is the port's UpstreamUnreachable; an exception
    Bedrock sends in the stream (throttling, a model error) is an SSE `error` event."""

    status = 200

    def __init__(self, answer: Mapping[str, Any], model: str, idle_s: float, region: str) -> None:
        meta = answer.get("ResponseMetadata") or {}
        self.headers: Mapping[str, str] = {"content-type": "text/event-stream"}
        self._events = answer.get("stream")
        self._iterator: Any = None
        self._idle_s = idle_s
        self._region = region
        self._translator = StreamTranslator(model, meta.get("RequestId"), int(time.time()))

    def _next(self) -> Any:
        """The next event (in a worker thread): a dict, `_END`, or an in-stream exception as an `error` dict."""
        from botocore.exceptions import EventStreamError, ReadTimeoutError

        try:
            if self._iterator is None:
                self._iterator = iter(self._events or ())
            return next(self._iterator, _END)
        except EventStreamError as exc:
            error = exc.response.get("Error") or {}
            code = str(error.get("Code") or "modelStreamErrorException")
            return {"error": {"message": f"Amazon Bedrock ({self._region}) ended the stream: {code}.", "code": code}}
        except ReadTimeoutError:
            raise UpstreamNoAnswer(f"the stream was silent for {self._idle_s:.0f} s") from None
        except Exception as exc:  # a malformed frame (botocore.eventstream.ParserError), a connection cut mid-body
            raise UpstreamUnreachable(f"Amazon Bedrock's event stream broke: {exc.__class__.__name__}") from None

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            try:
                with waiting_upstream():
                    async with asyncio.timeout(self._idle_s):
                        event = await asyncio.to_thread(self._next)
            except TimeoutError:
                raise UpstreamNoAnswer(f"the stream was silent for {self._idle_s:.0f} s") from None
            if event is _END:
                break
            if "error" in event:
                yield b"data: " + orjson.dumps(event) + b"\n\n"
                return
            for chunk in self._translator.take(event):
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
        if not self._translator.stopped:
            raise UpstreamUnreachable("Amazon Bedrock's event stream was cut before its end (mid-frame)")
        yield b"data: [DONE]\n\n"

    async def read(self) -> bytes:
        return b""

    def close(self) -> None:
        closing = getattr(self._events, "close", None)
        if callable(closing):
            try:
                closing()
            except Exception:  # noqa: BLE001 - closing a connection already gone
                pass
