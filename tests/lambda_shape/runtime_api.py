"""A local stand-in for the Lambda Runtime API, the HTTP interface `awslambdaric` polls inside Lambda.

It speaks the documented protocol (2018-06-01): `GET invocation/next` long-polls for an event and answers it
with the request id, deadline and function ARN headers; `POST invocation/{id}/response` or `/error` gives the
result; `POST init/error` reports a handler that could not be loaded. It keeps the times Lambda reports
(when init ended, how long each invocation took), so a test can measure a cold start as Lambda does.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


@dataclass
class Invocation:
    request_id: str
    event: dict[str, Any]
    sent_at: float = 0.0  # when `next` handed it out
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: dict[str, Any] | None = None
    finished_at: float = 0.0

    @property
    def duration_ms(self) -> float:
        return (self.finished_at - self.sent_at) * 1000


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime stopped mid-poll resets its connection, as it does when Lambda freezes or ends it."""


class RuntimeApi:
    """One function's Runtime API on 127.0.0.1, for one runtime process at a time."""

    def __init__(self, function_arn: str, timeout_s: float) -> None:
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        self.first_poll_at: float | None = None  # init ends when the runtime first asks for work
        self.init_error: dict[str, Any] | None = None
        self._pending: queue.Queue[Invocation] = queue.Queue()
        self._invocations: dict[str, Invocation] = {}
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def invoke(self, event: dict[str, Any], wait_s: float = 60.0) -> Invocation:
        """Queue one event and wait for its result, as a synchronous Invoke does."""
        invocation = Invocation(request_id=str(uuid.uuid4()), event=event)
        self._invocations[invocation.request_id] = invocation
        self._pending.put(invocation)
        if not invocation.done.wait(wait_s):
            raise TimeoutError(f"no result within {wait_s} s (init error: {self.init_error})")
        return invocation

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the runtime client keeps its connection open

            def log_message(self, *_: Any) -> None:  # quiet: the test reads results, not access logs
                return

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404, {"errorMessage": "unknown path"})
                if api.first_poll_at is None:
                    api.first_poll_at = time.monotonic()
                invocation = api._pending.get()  # long poll, as Lambda holds it until there is work
                invocation.sent_at = time.monotonic()
                deadline_ms = int((time.time() + api.timeout_s) * 1000)
                self._reply(
                    200,
                    invocation.event,
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                        "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0",
                    },
                )

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = json.loads(body or b"{}")
                    for waiting in api._invocations.values():
                        waiting.done.set()
                    return self._reply(202, {"status": "OK"})
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    invocation = api._invocations.get(parts[1])
                    if invocation is None:
                        return self._reply(400, {"errorMessage": "unknown request id"})
                    invocation.finished_at = time.monotonic()
                    if parts[2] == "response":
                        invocation.result = json.loads(body) if body else None
                    else:
                        invocation.error = json.loads(body or b"{}")
                    invocation.done.set()
                    return self._reply(202, {"status": "OK"})
                self._reply(404, {"errorMessage": "unknown path"})

            def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
