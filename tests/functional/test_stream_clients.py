"""Real clients on a real server (issue 16's Done-when): OpenAI's Node SDK quickstart loop, unguarded,
and langchain-openai's streamed usage, which must equal the upstream's (never counted twice)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from tests.conftest import FakeUpstream
from tests.fakes.openrouter import Scripted
from tests.functional.test_streams import PRIMARY, ROLE, USAGE, chunk, sse
from tests.npm import npm_package
from tests.servers import serve_in_thread

OPENAI_NODE_VERSION = "7.59.0"

QUICKSTART = """
import OpenAI from "openai";
const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
const model = process.env.MODEL;
let chat = "";
const messages = [{ role: "user", content: "hi" }];
const stream = await client.chat.completions.create({ model, messages, stream: true });
for await (const chunk of stream) {
  chat += chunk.choices[0].delta.content || "";  // OpenAI's quickstart loop: no guard on choices
}
let legacy = "";
const texts = await client.completions.create({ model, prompt: "hi", stream: true });
for await (const chunk of texts) {
  legacy += chunk.choices[0].text || "";
}
console.log(JSON.stringify({ chat, legacy }));
"""


@pytest.fixture(scope="session")
def openai_node() -> Path:
    """The openai Node SDK at its pinned version, from the repo's npm cache."""
    return npm_package("openai", OPENAI_NODE_VERSION)


@pytest.fixture
def served(gateway: Gateway) -> Iterator[str]:
    with serve_in_thread(create_app(lambda: gateway)) as url:
        yield url


def test_the_node_sdk_quickstart_loop_never_crashes(
    openai_node: Path, served: str, api_key: str, upstream: FakeUpstream
) -> None:
    script = openai_node / "quickstart.mjs"
    script.write_text(QUICKSTART, encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "BASE_URL": f"{served}/v1", "API_KEY": api_key, "MODEL": PRIMARY}
    result = subprocess.run(["node", str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {"chat": "Hello from the fake OpenRouter.", "legacy": "Hello from the fake OpenRouter."}


@pytest.mark.parametrize("usage_on_finish", [False, True], ids=["usage-chunk", "usage-on-finish-chunk"])
def test_langchain_streamed_usage_equals_the_upstreams(
    served: str, api_key: str, upstream: FakeUpstream, usage_on_finish: bool
) -> None:
    from langchain_openai import ChatOpenAI

    closing: list[dict[str, Any]] = (
        [chunk({}, "stop", USAGE)]
        if usage_on_finish
        else [chunk({}, "stop"), {**chunk({}), "choices": [], "usage": USAGE}]
    )
    upstream.fake.enqueue(Scripted(stream=sse(ROLE, chunk({"content": "Hi"}), *closing)))
    llm = ChatOpenAI(model=PRIMARY, base_url=f"{served}/v1", api_key=api_key, stream_usage=True, max_retries=0)
    total: Any = None
    for piece in llm.stream("hi"):
        total = piece if total is None else total + piece
    assert total.content == "Hi"
    assert total.usage_metadata is not None
    usage = total.usage_metadata
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (8, 3, 11)
    assert upstream.fake.chat_requests()[0].body["stream_options"] == {"include_usage": True}
