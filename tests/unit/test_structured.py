"""The dialects' structured-output formats as chat's `response_format`, and the fake upstream's answers to
them validating against the schema (what a real model's do)."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field

from routeway.domain.structured import from_anthropic, from_responses, is_structured
from routeway.errors import InvalidRequest
from tests.fakes.structured import instance_of, structured_answer


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    postcode: str = Field(min_length=12)


class Person(BaseModel):
    name: str
    age: int = Field(ge=18, le=99)
    height_m: float = Field(gt=0.5)
    colour: Colour
    kind: Literal["customer"]
    home: Address
    others: list[Address] = Field(min_length=2)
    nickname: str | None
    email: str = Field(json_schema_extra={"format": "email"})
    tags: list[str] = []


SCHEMAS: list[dict[str, Any]] = [
    Person.model_json_schema(),
    {"type": "object", "properties": {"a": {"type": ["string", "null"]}}, "required": ["a"]},
    {"type": "array", "items": {"type": "integer", "minimum": 5}, "minItems": 3},
    {"allOf": [{"type": "object", "properties": {"x": {"const": 1}}, "required": ["x"]}]},
    {"oneOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]},
    {"type": "object", "properties": {"n": {"type": "number", "exclusiveMaximum": 0}}, "required": ["n"]},
    {},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_fakes_answer_validates_against_its_schema(schema: dict[str, Any]) -> None:
    jsonschema.validate(instance_of(schema), schema)


def test_the_fakes_answer_fills_nested_models() -> None:
    person = Person.model_validate(instance_of(Person.model_json_schema()))
    assert person.colour is Colour.RED and len(person.others) == 2 and person.age == 18
    assert structured_answer({"type": "json_object"}) == {"answer": "Hello from the fake OpenRouter."}
    assert structured_answer({"type": "text"}) is None


def test_anthropic_formats_become_a_strict_named_json_schema() -> None:
    schema = {"type": "object", "properties": {}}
    assert from_anthropic({"type": "json_schema", "schema": schema}, "output_config.format") == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema, "strict": True},
    }
    assert from_anthropic(None, "output_format") is None
    with pytest.raises(InvalidRequest) as missing:
        from_anthropic({"type": "json_schema"}, "output_format")
    assert missing.value.param == "output_format.schema"


def test_responses_formats() -> None:
    assert from_responses({"format": {"type": "text"}}) is None
    assert from_responses({"verbosity": "low"}) is None
    assert from_responses({"format": {"type": "json_object"}}) == {"type": "json_object"}
    fmt = {"type": "json_schema", "name": "n", "schema": {"type": "object"}, "strict": False, "description": "d"}
    converted = from_responses({"format": fmt})
    assert converted == {"type": "json_schema", "json_schema": {k: v for k, v in fmt.items() if k != "type"}}
    assert is_structured(converted) and not is_structured({"type": "text"}) and not is_structured("json")
    for text, param in [
        ("json", "text"),
        ({"format": []}, "text.format"),
        ({"format": {"type": 1}}, "text.format.type"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            from_responses(text)
        assert refused.value.param == param


@pytest.mark.parametrize("client_provider", [None, {"require_parameters": False, "data_collection": "deny"}])
@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "openrouter-chooses"])
def test_every_structured_attempt_says_require_parameters(client_provider: Any, pinned: bool) -> None:
    """Pinned to a provider or left to OpenRouter, whatever the client's `provider` says: an endpoint that
    would ignore the schema must never answer a structured request."""
    from routeway.domain.candidates import row_for
    from routeway.domain.catalog import Endpoint, Model
    from routeway.domain.goals import ProviderPrefs
    from routeway.domain.plan import Candidate
    from routeway.domain.policy import Scored
    from routeway.services.attempts import build_payload

    endpoint = Endpoint(provider_name="Acme", provider_slug="acme", supported_parameters=("response_format",))
    model = Model(id="acme/json", endpoints=(endpoint,), supported_parameters=("response_format",))
    candidate = Candidate(Scored(row_for(model, endpoint if pinned else None), 0.0, None, None), "acme/json")
    body: dict[str, Any] = {"model": "acme/json", "messages": [{"role": "user", "content": "hi"}]}
    if client_provider is not None:
        body["provider"] = client_provider
    plain, _ = build_payload(candidate, body, ProviderPrefs())
    structured, _ = build_payload(candidate, {**body, "response_format": {"type": "json_object"}}, ProviderPrefs())
    assert structured["provider"]["require_parameters"] is True
    assert (plain.get("provider") or {}).get("require_parameters") is not True
    if client_provider is not None:
        assert structured["provider"]["data_collection"] == "deny"  # the client's other preferences are kept
    if pinned:
        assert structured["provider"]["order"] == ["acme"] and structured["provider"]["allow_fallbacks"] is False
