"""Issue 32, against a real `routeway serve` process and the official SDKs: every id a client holds explains
(only to its key), models resolve by a vendor's own name, Anthropic's model list pages, and serve logs one
line per request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.servers import answers, free_port, poll_until

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
TIMEOUT_S = 30.0
HELLO = [{"role": "user", "content": "Say hello"}]


@dataclass
class Serve:
    url: str
    key: str
    other_key: str
    home: Path
    stderr: list[str] = field(default_factory=list)

    def explain(self, client_id: str, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.get(f"{self.url}/v1/route/explain/{client_id}", headers=headers, timeout=TIMEOUT_S)


def _make_key(env: dict[str, str], name: str) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "routeway", "keys", "create", name], env=env, capture_output=True, text=True, check=True
    )
    return register_secret(made.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def served(_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One `routeway serve` for the module (its first key printed at start), its stderr read as it comes."""
    home = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTEWAY_", "OPENROUTER_"))}
    env.update(
        ROUTEWAY_HOME=str(home / "routeway"),
        OPENROUTER_BASE_URL=_upstream_server.base_url,
        OPENROUTER_API_KEY=UPSTREAM_KEY,
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "routeway", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        assert process.stdout is not None
        key = None
        deadline = time.monotonic() + TIMEOUT_S
        for line in process.stdout:
            if line.startswith("routeway key: "):
                key = register_secret(line.removeprefix("routeway key: ").strip())
            if "listening on" in line or time.monotonic() > deadline:
                break
        assert key, "serve did not print its first key"
        url = f"http://127.0.0.1:{port}"
        poll_until(lambda: answers(f"{url}/healthz"), what="routeway serve accepting connections")
        yield Serve(url, key, _make_key(env, "other"), home, lines)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def oai(served: Serve) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.key, max_retries=0, timeout=TIMEOUT_S)
    yield client
    client.close()


@pytest.fixture
def claude(served: Serve) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=served.url, api_key=served.key, max_retries=0, timeout=TIMEOUT_S)
    yield client
    client.close()


def _explains(served: Serve, client_id: str, generation_id: str) -> None:
    """The id explains to its key, as the same record as the generation id; to another key it is 404."""
    mine = served.explain(client_id)
    assert mine.status_code == 200, mine.text
    assert mine.json()["id"] == generation_id and mine.json()["object"] == "route.explanation"
    theirs = served.explain(client_id, served.other_key)
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "generation_not_found"


def test_chat_ids_explain_whole_and_streamed(served: Serve, oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    completion = raw.parse()
    generation_id = raw.headers["x-routeway-generation-id"]
    assert completion.id == generation_id
    _explains(served, completion.id, generation_id)
    with oai.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    ) as streamed:
        generation_id = streamed.headers["x-routeway-generation-id"]
        ids = {chunk.id for chunk in streamed.parse()}
    assert ids == {generation_id}
    _explains(served, generation_id, generation_id)
    legacy = oai.completions.with_raw_response.create(model="gpt-4o-mini", prompt="Say hello")
    assert legacy.parse().id == legacy.headers["x-routeway-generation-id"]


def test_messages_ids_explain_whole_and_streamed(served: Serve, claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=64, messages=HELLO)
    message = raw.parse()
    assert message.id.startswith("msg_")
    _explains(served, message.id, raw.headers["x-routeway-generation-id"])
    with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=HELLO) as stream:
        final = stream.get_final_message()
        generation_id = stream.response.headers["x-routeway-generation-id"]
    assert final.id.startswith("msg_")
    _explains(served, final.id, generation_id)


def test_responses_ids_explain_whole_and_streamed(served: Serve, oai: openai.OpenAI) -> None:
    raw = oai.responses.with_raw_response.create(model="gpt-4o-mini", input="Say hello")
    response = raw.parse()
    assert response.id.startswith("resp_")
    _explains(served, response.id, raw.headers["x-routeway-generation-id"])
    with oai.responses.with_streaming_response.create(model="gpt-4o-mini", input="Say hello", stream=True) as streamed:
        generation_id = streamed.headers["x-routeway-generation-id"]
        events = list(streamed.parse())
    completed: Any = events[-1]
    assert completed.type == "response.completed" and completed.response.id.startswith("resp_")
    _explains(served, completed.response.id, generation_id)


def test_unknown_ids_are_404_in_every_shape(served: Serve) -> None:
    for unknown in ("gen-rw-000000000000000000000000", "msg_gen-rw-nothing", "resp_nothing", "chatcmpl-x", "x" * 300):
        answer = served.explain(unknown)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "generation_not_found", unknown


def test_models_resolve_by_a_vendors_own_name(served: Serve, oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    assert oai.models.retrieve("gpt-4o-mini").id == "openai/gpt-4o-mini"
    assert oai.models.retrieve("openai/gpt-4o-mini").id == "openai/gpt-4o-mini"
    model = claude.models.retrieve("claude-sonnet-4-5")
    assert (model.type, model.id) == ("model", "anthropic/claude-sonnet-4.5")
    assert model.display_name and model.created_at.year >= 2025
    dated = claude.models.retrieve("claude-sonnet-4-5-20250929")
    assert dated.id == "anthropic/claude-sonnet-4.5"
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.models.retrieve("claude-nothing-9")
    assert missing.value.body["type"] == "error" and missing.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("auto-not-a-model")


def test_anthropics_model_list_pages(served: Serve, oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    everything = [m.id for m in oai.models.list()]
    first = claude.models.list(limit=5)
    assert len(first.data) == 5 and first.has_more and first.first_id == everything[0]
    assert first.last_id == everything[4] and all(m.type == "model" for m in first.data)
    paged = [m.id for m in claude.models.list(limit=50)]  # the SDK follows after_id while has_more
    assert paged == everything
    default = claude.models.list()
    assert len(default.data) == 20
    headers = {"x-api-key": served.key, "anthropic-version": "2023-06-01"}
    before = httpx.get(f"{served.url}/v1/models", params={"before_id": everything[7], "limit": 3}, headers=headers)
    assert [m["id"] for m in before.json()["data"]] == everything[4:7] and before.json()["has_more"] is True
    last = httpx.get(f"{served.url}/v1/models", params={"after_id": everything[-2]}, headers=headers).json()
    assert [m["id"] for m in last["data"]] == everything[-1:] and last["has_more"] is False


@pytest.mark.parametrize("limit", [0, 10_000, -1, "many"])
def test_anthropic_model_list_refuses_a_bad_limit_naming_it(claude: anthropic.Anthropic, limit: Any) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.models.list(limit=limit)
    body: Any = refused.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "limit"


def test_anthropic_model_list_refuses_an_unknown_cursor(served: Serve) -> None:
    headers = {"x-api-key": served.key, "anthropic-version": "2023-06-01"}
    answer = httpx.get(f"{served.url}/v1/models", params={"after_id": "nobody/nothing"}, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "after_id"


def _lines_of(served: Serve, call: Any) -> list[str]:
    """The stderr lines `call()` made, up to the line of a `/healthz` sent after it (so none is missed)."""
    before = len(served.stderr)
    call()
    httpx.get(f"{served.url}/healthz", params={"marker": before})
    poll_until(lambda: any(" /healthz " in line for line in served.stderr[before:]), what="the marker's log line")
    made = served.stderr[before:]
    return made[: next(i for i, line in enumerate(made) if " /healthz " in line)]


LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) key=(?P<key>\S+) "
    r"model=(?P<model>\S+) provider=(?P<provider>\S+|\"[^\"]*\") attempts=(?P<attempts>\d+) ms=(?P<ms>[\d.]+) "
    r"cost=(?P<cost>[\d.]+|-)\n$"
)


def test_serve_logs_one_line_per_request_without_the_key(served: Serve, oai: openai.OpenAI) -> None:
    (chat,) = _lines_of(served, lambda: oai.chat.completions.create(model="gpt-4o-mini", messages=HELLO))
    found = LINE.match(chat)
    assert found, chat
    assert found["method"] == "POST" and found["path"] == "/v1/chat/completions" and found["status"] == "200"
    assert (found["key"], found["model"], found["attempts"]) == ("default", "openai/gpt-4o-mini", "1")
    assert found["provider"] != "-" and float(found["cost"]) > 0 and float(found["ms"]) > 0
    streamed = _lines_of(
        served, lambda: list(oai.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
    )
    assert len(streamed) == 1 and " 200 key=default model=openai/gpt-4o-mini " in streamed[0]
    (listed,) = _lines_of(served, lambda: httpx.get(f"{served.url}/v1/models", headers={"x-api-key": served.key}))
    assert " GET /v1/models 200 key=default model=- provider=- attempts=0 " in listed
    (refused,) = _lines_of(
        served, lambda: httpx.post(f"{served.url}/v1/chat/completions", headers={"x-api-key": "sk-rw-nobody"})
    )
    assert " POST /v1/chat/completions 401 key=- " in refused
    assert not [line for line in served.stderr if served.key in line or served.other_key in line]
    assert not [line for line in served.stderr if "HTTP/1.1" in line]  # uvicorn's access log stays off


VERCEL_ANTHROPIC_VERSION = "4.0.112"
VERCEL_SCRIPT = """
import { createAnthropic } from "@ai-sdk/anthropic";
const [baseURL, apiKey] = process.argv.slice(2);
const model = createAnthropic({ baseURL, apiKey })("claude-sonnet-4-5");
try {
  const prompt = [{ role: "user", content: [{ type: "text", text: "Say hello" }] }];
  const result = await model.doGenerate({ prompt, maxOutputTokens: 64 });
  console.log(JSON.stringify({ text: result.content[0].text, id: result.response.id }));
} catch (error) {
  console.log(JSON.stringify({ status: error.statusCode ?? null }));
}
"""


def test_vercels_anthropic_provider_takes_the_url_with_v1(served: Serve) -> None:
    """The README's Vercel AI SDK line (issue 32): `@ai-sdk/anthropic`'s base URL carries `/v1`; the root does not
    reach the Messages route. Its message id explains too."""
    from tests.npm import npm_package

    folder = npm_package("@ai-sdk/anthropic", VERCEL_ANTHROPIC_VERSION)
    script = folder / "vercel_anthropic.mjs"  # beside node_modules, so the import resolves
    script.write_text(VERCEL_SCRIPT, encoding="utf-8")

    def run(base_url: str) -> dict[str, Any]:
        done = subprocess.run(
            ["node", str(script), base_url, served.key], capture_output=True, text=True, timeout=TIMEOUT_S, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    answered = run(f"{served.url}/v1")
    assert answered["text"] == "Hello from the fake OpenRouter." and answered["id"].startswith("msg_")
    assert served.explain(answered["id"]).status_code == 200
    assert run(served.url) == {"status": 404}
