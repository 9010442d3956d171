"""Issue 32's structured outputs with real clients against `routeway serve` (its own process), the fake
OpenRouter behind it answering JSON that validates against the schema: each client must get a parsed object,
and the upstream must have been asked for it with `response_format` (never free text parsed by luck)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.npm import npm_packages
from tests.pyvenv import client_venv
from tests.servers import bare_env, free_port, routeway_serve

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
GPT = "openai/gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"
CLAUDE_SERVED = "anthropic/claude-sonnet-4.5"
TIMEOUT_S = 60.0


class Hour(BaseModel):
    at: int
    rain: bool


class Weather(BaseModel):
    city: str
    temperature_c: float
    sky: Literal["sunny", "cloudy"]
    hours: list[Hour]


# what the fake's schema-following answer holds (tests.fakes.structured): "example", 1, the first enum value…
EXPECTED = Weather(city="example", temperature_c=1, sky="sunny", hours=[Hour(at=1, rain=True)])


@dataclass(frozen=True)
class Served:
    url: str
    key: str


@pytest.fixture(scope="module")
def served(_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `routeway serve` for the module, on a store of its own, with a key made in that store."""
    root = tmp_path_factory.mktemp("structured-clients")
    env = bare_env(
        HOME=str(root),
        ROUTEWAY_HOME=str(root / "home"),
        ROUTEWAY_STORE="local",
        OPENROUTER_BASE_URL=_upstream_server.base_url,
        OPENROUTER_API_KEY=UPSTREAM_KEY,
    )
    gateway = build_gateway(Settings.from_env(env))
    key, _ = create_key(gateway.state.sync, gateway.clock, "structured-clients")
    with routeway_serve(env, root, free_port()) as server:
        yield Served(server.url, register_secret(key))


def structured_request(upstream: FakeUpstream, model: str) -> dict[str, Any]:
    """The one upstream body of the test: it asked for the schema, of an endpoint that supports it."""
    bodies = [r.body for r in upstream.fake.chat_requests()]
    assert len(bodies) == 1, bodies
    body = bodies[0]
    assert body["model"] == model
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and set(fmt["json_schema"]["schema"]["required"]) == set(Weather.model_fields)
    assert body["provider"]["require_parameters"] is True
    assert not body["provider"]["order"][0].startswith("google-vertex")  # no structured outputs there
    return dict(body)


def test_openai_sdk_parse_in_chat_and_responses(served: Served, upstream: FakeUpstream) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.key, max_retries=0, timeout=TIMEOUT_S)
    chat = client.chat.completions.parse(
        model=GPT, messages=[{"role": "user", "content": "Weather in Paris?"}], response_format=Weather
    )
    assert chat.choices[0].message.parsed == EXPECTED
    assert structured_request(upstream, GPT)["response_format"]["json_schema"]["strict"] is True
    upstream.fake.reset()
    reply = client.responses.parse(model=GPT, input="Weather in Paris?", text_format=Weather)
    assert reply.output_parsed == EXPECTED
    structured_request(upstream, GPT)


@pytest.mark.parametrize("beta", [False, True], ids=["output_config", "beta-output_format"])
def test_anthropic_sdk_messages_parse(served: Served, upstream: FakeUpstream, beta: bool) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=served.url, api_key=served.key, max_retries=0, timeout=TIMEOUT_S)
    messages: Any = [{"role": "user", "content": "Weather in Paris?"}]
    if beta:
        message: Any = client.beta.messages.parse(
            model=CLAUDE,
            max_tokens=1024,
            messages=messages,
            output_format=Weather,
            betas=["structured-outputs-2025-11-13"],
        )
    else:
        message = client.messages.parse(model=CLAUDE, max_tokens=1024, messages=messages, output_format=Weather)
    assert message.parsed_output == EXPECTED
    assert message.content[0].type == "text"
    structured_request(upstream, CLAUDE_SERVED)


def test_streamed_parse_with_the_openai_and_anthropic_sdks(served: Served, upstream: FakeUpstream) -> None:
    import anthropic
    import openai

    gpt = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.key, max_retries=0, timeout=TIMEOUT_S)
    messages: Any = [{"role": "user", "content": "Weather in Paris?"}]
    with gpt.chat.completions.stream(model=GPT, messages=messages, response_format=Weather) as stream:
        deltas = [e for e in stream if e.type == "content.delta"]
        completion = stream.get_final_completion()
    assert len(deltas) > 3 and completion.choices[0].message.parsed == EXPECTED
    assert structured_request(upstream, GPT)["stream"] is True
    upstream.fake.reset()
    claude = anthropic.Anthropic(base_url=served.url, api_key=served.key, max_retries=0, timeout=TIMEOUT_S)
    with claude.messages.stream(model=CLAUDE, max_tokens=1024, messages=messages, output_format=Weather) as events:
        message = events.get_final_message()
    assert message.parsed_output == EXPECTED
    assert structured_request(upstream, CLAUDE_SERVED)["stream"] is True


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_pydantic_ai_native_output(served: Served, upstream: FakeUpstream, provider: str) -> None:
    from pydantic_ai import Agent, NativeOutput
    from pydantic_ai.models import Model

    model: Model
    if provider == "openai":
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        model = OpenAIChatModel(GPT, provider=OpenAIProvider(base_url=f"{served.url}/v1", api_key=served.key))
    else:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        model = AnthropicModel(CLAUDE, provider=AnthropicProvider(base_url=served.url, api_key=served.key))
    agent = Agent(model, output_type=NativeOutput(Weather))
    result = agent.run_sync("Weather in Paris?")
    assert result.output == EXPECTED
    structured_request(upstream, GPT if provider == "openai" else CLAUDE_SERVED)


def test_langchain_anthropic_json_schema(served: Served, upstream: FakeUpstream) -> None:
    from langchain_anthropic import ChatAnthropic

    llm = ChatAnthropic(  # type: ignore[call-arg]
        model=CLAUDE, base_url=served.url, api_key=served.key, max_retries=0, timeout=TIMEOUT_S
    )
    answer = llm.with_structured_output(Weather, method="json_schema").invoke("Weather in Paris?")
    assert answer == EXPECTED
    structured_request(upstream, CLAUDE_SERVED)


INSTRUCTOR = """
import os
from typing import Literal

import instructor
import openai
from pydantic import BaseModel


class Hour(BaseModel):
    at: int
    rain: bool


class Weather(BaseModel):
    city: str
    temperature_c: float
    sky: Literal["sunny", "cloudy"]
    hours: list[Hour]


client = instructor.from_openai(
    openai.OpenAI(base_url=os.environ["BASE_URL"], api_key=os.environ["API_KEY"], max_retries=0),
    mode=instructor.Mode.JSON_SCHEMA,
)
weather = client.chat.completions.create(
    model=os.environ["MODEL"],
    response_model=Weather,
    max_retries=1,
    messages=[{"role": "user", "content": "Weather in Paris?"}],
)
assert isinstance(weather, Weather)
print(weather.model_dump_json())
"""


@pytest.fixture(scope="session")
def instructor_python() -> Path:
    """instructor in a venv of its own (its jiter pin clashes with the SDKs of constraints.txt)."""
    return client_venv("instructor", "instructor")


def test_instructor_json_schema_mode(
    served: Served, upstream: FakeUpstream, instructor_python: Path, tmp_path: Path
) -> None:
    script = tmp_path / "instructor_weather.py"
    script.write_text(INSTRUCTOR, encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "BASE_URL": f"{served.url}/v1", "API_KEY": served.key, "MODEL": GPT}
    done = subprocess.run(
        [str(instructor_python), str(script)], capture_output=True, text=True, env=env, timeout=TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert Weather.model_validate_json(done.stdout.strip().splitlines()[-1]) == EXPECTED
    structured_request(upstream, GPT)


AI_SDK = {"ai": "7.0.173", "@ai-sdk/openai": "4.0.118", "@ai-sdk/anthropic": "4.0.105", "zod": "4.6.7"}
GENERATE_OBJECT = """
import { generateObject } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { z } from "zod";

const options = { baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY };
const model = process.env.PROVIDER === "openai"
  ? createOpenAI(options).chat(process.env.MODEL)
  : createAnthropic(options)(process.env.MODEL);
const hour = z.object({ at: z.number().int(), rain: z.boolean() });
const schema = z.object({
  city: z.string(),
  temperature_c: z.number(),
  sky: z.enum(["sunny", "cloudy"]),
  hours: z.array(hour),
});
const { object } = await generateObject({ model, schema, prompt: "Weather in Paris?", maxRetries: 0 });
console.log(JSON.stringify(object));
"""


@pytest.fixture(scope="session")
def ai_sdk() -> Path:
    """Vercel's AI SDK with its OpenAI and Anthropic providers, from the repo's npm cache."""
    return npm_packages("ai-sdk", AI_SDK)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_vercel_ai_sdk_generate_object(served: Served, upstream: FakeUpstream, ai_sdk: Path, provider: str) -> None:
    script = ai_sdk / f"generate_object_{provider}.mjs"
    script.write_text(GENERATE_OBJECT, encoding="utf-8")
    model = GPT if provider == "openai" else CLAUDE
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BASE_URL": f"{served.url}/v1",  # both providers take the base URL with /v1
        "API_KEY": served.key,
        "MODEL": model,
        "PROVIDER": provider,
    }
    done = subprocess.run(
        ["node", str(script)], capture_output=True, text=True, env=env, timeout=TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert Weather.model_validate_json(done.stdout.strip().splitlines()[-1]) == EXPECTED
    structured_request(upstream, GPT if provider == "openai" else CLAUDE_SERVED)
