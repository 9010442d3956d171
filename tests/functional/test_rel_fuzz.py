"""RELIABILITY 34-35: schemathesis over the app's own OpenAPI, in process, and hypothesis on glob matching."""

from __future__ import annotations

import fnmatch

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routeway.domain.globs import parse_globs
from routeway.gateway import Gateway
from routeway.http.app import create_app


def test_rel_34_schemathesis_finds_no_500_and_every_error_is_in_its_dialects_shape(
    gateway: Gateway, api_key: str
) -> None:
    """Every operation of the app's OpenAPI, fuzzed in process (schemathesis strategies driven by hypothesis)."""
    app = create_app(lambda: gateway, expose_openapi=True)
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 9  # every route of the contract is in the OpenAPI document
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {api_key}"})
            assert response.status_code != 500, f"{case.method} {case.path}: {response.text}"
            if response.status_code >= 400:
                document = response.json()
                error = document["error"]
                if "anthropic-version" in {k.lower() for k in case.headers or {}}:  # Anthropic's own error shape
                    assert document["type"] == "error" and {"message", "type"} <= set(error)
                else:
                    assert {"message", "type", "param", "code"} <= set(error)

        check()


SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=12)
MODEL_ID = st.builds(lambda a, b: f"{a}/{b}", SEGMENT, SEGMENT)
PATTERN = st.one_of(
    MODEL_ID,
    st.builds(lambda a: f"{a}/*", SEGMENT),
    st.builds(lambda a, b: f"{a}/{b}*", SEGMENT, SEGMENT),
    st.builds(lambda a: f"*/{a}", SEGMENT),
)


@settings(max_examples=300)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=5), model=MODEL_ID)
def test_rel_35_globs_match_like_fnmatch_ignoring_case(patterns: list[str], model: str) -> None:
    globs = parse_globs(patterns, "allowed_models")
    expected = any(fnmatch.fnmatchcase(model.lower(), p.lower()) for p in patterns)
    assert globs.matches(model) is expected
    assert globs.matches(model.upper()) is expected


@given(st.text(max_size=30))
def test_rel_35_any_string_is_either_a_valid_glob_or_a_400(text: str) -> None:
    try:
        globs = parse_globs([text], "blocked_models")
    except Exception as exc:  # noqa: BLE001 - the only allowed failure is the gateway's own 400
        assert getattr(exc, "status", None) == 400 and getattr(exc, "param", None) == "blocked_models[0]"
    else:
        globs.matches("openai/gpt-5.5")
