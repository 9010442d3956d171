"""RELIABILITY.md 40-42 in the pure domain: the content allow-list, nesting depth, field types, model names,
which failures cool a provider down, and what a real completion is."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routeway.domain.content import (
    KNOWN_PARTS,
    check_content,
    check_file_data_uri,
    check_image_data_uri,
    refuse_remote_images,
    remote_images_allowed,
)
from routeway.domain.fallback import classify_response, cools_down
from routeway.domain.fields import (
    MAX_JSON_DEPTH,
    check_field_types,
    check_model_name,
    could_nest_deeper_than,
    nested_deeper_than,
)
from routeway.errors import ImageUrlNotSupported, InvalidRequest, ModelNotFound, UnsupportedContent

PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
RASTER = {
    "image/png": PNG_HEAD,
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    "image/gif": b"GIF89a\x01\x00\x01\x00",
    "image/webp": b"RIFF\x10\x00\x00\x00WEBPVP8 ",
}
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'


def data_uri(media: str, payload: bytes) -> str:
    return f"data:{media};base64,{base64.b64encode(payload).decode()}"


def user(*parts: Any, role: str = "user") -> list[dict[str, Any]]:
    return [{"role": role, "content": list(parts)}]


@pytest.mark.parametrize(("media", "head"), RASTER.items())
def test_rel_40_raster_data_uris_pass(media: str, head: bytes) -> None:
    check_image_data_uri(data_uri(media, head), "p")
    assert check_content(user({"type": "image_url", "image_url": {"url": data_uri(media, head)}})) == []


@pytest.mark.parametrize(
    "url",
    [
        data_uri("image/svg+xml", SVG),
        data_uri("image/png", SVG),  # an SVG labelled as a PNG
        data_uri("image/bmp", b"BM\x00\x00"),
        data_uri("text/html", b"<b>hi</b>"),
        data_uri("image/png", b"not an image at all"),
    ],
)
def test_rel_40_non_raster_data_uris_are_unsupported_content(url: str) -> None:
    with pytest.raises(UnsupportedContent) as caught:
        check_image_data_uri(url, "messages[0].content[0].image_url.url")
    assert caught.value.param == "messages[0].content[0].image_url.url" and caught.value.status == 400


def test_rel_40_http_images_are_returned_for_the_plan_and_other_schemes_refused() -> None:
    remote = check_content(user({"type": "text", "text": "x"}, {"type": "image_url", "image_url": "https://h/x.png"}))
    assert [(r.path, r.url) for r in remote] == [("messages[0].content[1].image_url", "https://h/x.png")]
    with pytest.raises(ImageUrlNotSupported) as caught:
        check_content(user({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}))
    assert caught.value.param == "messages[0].content[0].image_url.url"
    with pytest.raises(ImageUrlNotSupported):
        refuse_remote_images(remote, accepts_image_url=False)
    refuse_remote_images(remote, accepts_image_url=True)


@given(
    kind=st.one_of(st.none(), st.integers(), st.text(max_size=20)).filter(
        lambda k: k not in KNOWN_PARTS and k != "refusal"
    ),
    extra=st.dictionaries(st.sampled_from(["url", "image_url", "video_url", "file", "data"]), st.text(max_size=10)),
)
@settings(max_examples=150, deadline=None)
def test_rel_40_every_unknown_part_type_is_refused_with_its_path(kind: Any, extra: dict[str, Any]) -> None:
    part = {**extra, **({"type": kind} if kind is not None else {})}
    with pytest.raises(UnsupportedContent) as caught:
        check_content([{"role": "system", "content": "s"}, *user({"type": "text", "text": "x"}, part)])
    assert caught.value.param == "messages[1].content[1]"


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "file", "file": {"file_data": "https://h/a.pdf"}}, "messages[0].content[0].file.file_data"),
        ({"type": "file", "file": {"file_id": "file-1"}}, "messages[0].content[0]"),
        (
            {"type": "file", "file": {"file_data": data_uri("image/svg+xml", SVG)}},
            "messages[0].content[0].file.file_data",
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "https://h/a.wav", "format": "wav"}},
            "messages[0].content[0].input_audio.data",
        ),
        ("a bare string", "messages[0].content[0]"),
    ],
)
def test_rel_40_urls_in_files_and_audio_are_unsupported_content(part: Any, param: str) -> None:
    with pytest.raises(UnsupportedContent) as caught:
        check_content(user(part))
    assert caught.value.param == param


def test_rel_40_inline_audio_and_files_pass_and_refusal_only_from_the_assistant() -> None:
    audio = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(b"RIFF....WAVE").decode(), "format": "wav"},
    }
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": data_uri("application/pdf", b"%PDF-1.7")}}
    assert check_content(user(audio, pdf)) == []
    mp3 = base64.b64encode(b"\xff\xfb\x90\x64" * 4).decode()  # an MP3 frame: its base64 starts with "//"
    assert mp3.startswith("//")
    assert check_content(user({"type": "input_audio", "input_audio": {"data": mp3, "format": "mp3"}})) == []
    with pytest.raises(InvalidRequest) as caught:  # a scheme-relative URL is not base64
        check_content(user({"type": "input_audio", "input_audio": {"data": "//h/a.wav", "format": "wav"}}))
    assert caught.value.param == "messages[0].content[0].input_audio.data"
    check_file_data_uri(data_uri("image/png", PNG_HEAD), "p")
    refusal = {"type": "refusal", "refusal": "no"}
    assert check_content(user(refusal, role="assistant")) == []
    with pytest.raises(UnsupportedContent):
        check_content(user(refusal))
    with pytest.raises(InvalidRequest) as caught:
        check_content(user({"type": "text", "text": 3}))
    assert caught.value.param == "messages[0].content[0].text"


def candidate(backend: str, accepts: bool | None) -> Any:
    alias = None if accepts is None else SimpleNamespace(constraints=SimpleNamespace(accepts_image_url=accepts))
    return SimpleNamespace(alias=alias, row=SimpleNamespace(backend=backend))


BACKENDS: Any = {"openrouter": SimpleNamespace(kind="openrouter"), "vllm": SimpleNamespace(kind="openai_compat")}


@pytest.mark.parametrize(
    ("attempts", "allowed"),
    [
        ([candidate("openrouter", True)], True),
        ([candidate("openrouter", True), candidate("vllm", True)], False),  # never to a self-hosted backend
        ([candidate("vllm", True)], False),
        ([candidate("openrouter", False)], False),
        ([candidate("openrouter", None)], False),
        ([candidate("gone", True)], False),
    ],
)
def test_rel_40_remote_images_only_where_every_target_is_openrouter_and_accepts_them(
    attempts: list[Any], allowed: bool
) -> None:
    assert remote_images_allowed(attempts, BACKENDS) is allowed


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=3))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=2), inner, max_size=3)),
        max_leaves=max_leaves,
    )


def reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    return 0


@given(value=json_values(), limit=st.integers(min_value=0, max_value=8))
@settings(max_examples=300, deadline=None)
def test_rel_41_depth_matches_a_recursive_reference(value: Any, limit: int) -> None:
    assert nested_deeper_than(value, limit) is (reference_depth(value) > limit)
    raw = orjson.dumps(value)
    if nested_deeper_than(value, limit):
        assert could_nest_deeper_than(raw, limit)  # the cheap bound never hides a deep body


def test_rel_41_depth_far_beyond_the_recursion_limit_is_checked_iteratively() -> None:
    deep: Any = 0
    for _ in range(50_000):
        deep = [deep]
    assert nested_deeper_than(deep) and not nested_deeper_than(json.loads("[" * 64 + "]" * 64))
    assert nested_deeper_than(json.loads("[" * 65 + "]" * 65), MAX_JSON_DEPTH)


@pytest.mark.parametrize(
    "body",
    [
        {"modalities": "image"},
        {"modalities": ["image", "smell"]},
        {"temperature": "0.2"},
        {"top_p": False},
        {"stop": 3},
        {"stop": [None]},
        {"tools": [{"type": "function"}, "f"]},
        {"response_format": ["json_object"]},
        {"logit_bias": 1},
        {"seed": 2.0},
    ],
)
def test_rel_42_wrong_types_are_refused_with_param(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_field_types(body)
    assert caught.value.param == next(iter(body))


def test_rel_42_right_types_and_nulls_pass() -> None:
    check_field_types(
        {
            "modalities": ["image", "text"],
            "temperature": 0,
            "top_p": 0.9,
            "stop": None,
            "tools": [],
            "tool_choice": "auto",
            "response_format": {"type": "json_object"},
            "seed": 7,
            "unknown_vendor_field": "passes through",
        }
    )


BAD_CHARS = [" ", "\n", "\t", "\r", "\x00", "\x1b", "\x7f", "\u00a0", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]


@given(
    head=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/.-:_", max_size=20),
    tail=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/.-:_", max_size=20),
    bad=st.sampled_from(BAD_CHARS),
)
@settings(max_examples=200, deadline=None)
def test_rel_42_a_bad_character_anywhere_in_a_name_is_404(head: str, tail: str, bad: str) -> None:
    check_model_name(head + tail or "m", "model")
    with pytest.raises(ModelNotFound) as caught:
        check_model_name(head + bad + tail, "models[2]")
    assert caught.value.status == 404 and caught.value.param == "models[2]"


@pytest.mark.parametrize(
    ("status", "cools"),
    [(400, False), (401, False), (403, False), (404, False), (413, False), (422, False), (408, True), (429, True)]
    + [(500, True), (502, True), (503, True), (200, True), (None, True)],
)
def test_rel_42_only_the_provider_s_own_failures_cool_it_down(status: int | None, cools: bool) -> None:
    assert cools_down(status) is cools


@pytest.mark.parametrize("choices", [[None], [1], "x", [{"index": 0}, None], [], {"0": {}}])
def test_rel_42_choices_that_are_not_objects_are_not_a_completion(choices: Any) -> None:
    outcome = classify_response(200, orjson.dumps({"choices": choices}))
    assert (outcome.kind, outcome.error_code) == ("failed", "invalid_response")
    assert classify_response(200, orjson.dumps({"choices": [{"index": 0}]})).kind == "success"


def test_rel_41_an_answer_nested_too_deep_is_not_a_completion() -> None:
    deep = '{"k":' * 300 + "1" + "}" * 300
    body = ('{"choices": [{"index": 0, "message": {"role": "assistant", "content": "x", "e": ' + deep + "}}]}").encode()
    assert classify_response(200, body).error_code == "invalid_response"
