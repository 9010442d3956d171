"""The pure parts of the images and embeddings dialects: sizes, inputs, encodings, what a 200 must hold."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from routeway.dialects.images import aspect_ratio, parse_images
from routeway.domain.embeddings import as_base64, as_floats, parse_embeddings_request
from routeway.domain.fallback import classify_response
from routeway.errors import InvalidRequest


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ("1024x1024", "1:1"),
        ("512x512", "1:1"),
        ("1792x1024", "16:9"),
        ("1024x1792", "9:16"),
        ("1536x1024", "3:2"),
        ("1024x1536", "2:3"),
        ("1920x1080", "16:9"),
        ("2520x1080", "21:9"),
        ("auto", None),
        (None, None),
    ],
)
def test_sizes_map_to_aspect_ratios(size: str | None, ratio: str | None) -> None:
    assert aspect_ratio(size) == ratio


@pytest.mark.parametrize("size", ["1000x333", "big", "0x0", "1024", 1024])
def test_other_sizes_are_refused_with_param_size(size: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        aspect_ratio(size)
    assert caught.value.param == "size"


def test_an_image_request_is_a_chat_request_for_image_output() -> None:
    request = parse_images({"prompt": "a fox", "size": "1536x1024", "n": 3, "objective": "cheapest", "quality": "hd"})
    body = request.chat.body
    assert request.chat.model == "image-gen" and request.n == 3 and request.response_format == "b64_json"
    assert body["modalities"] == ["image"] and body["image_config"] == {"aspect_ratio": "3:2"}
    assert body["messages"] == [{"role": "user", "content": "a fox"}]
    assert body["objective"] == "cheapest" and "quality" not in body and "n" not in body


def test_embeddings_inputs_and_the_routing_view() -> None:
    request = parse_embeddings_request(
        {"model": "m/e", "input": [[1, 2, 3], "hello"], "encoding_format": "base64", "models": ["m/f"]}
    )
    assert request.inputs == 2 and request.encoding_format == "base64" and request.chat.models == ("m/f",)
    assert request.chat.body["modalities"] == ["embeddings"] and "input" not in request.chat.body
    assert "encoding_format" not in request.payload and request.payload["input"] == [[1, 2, 3], "hello"]
    assert parse_embeddings_request({"model": "m/e", "input": [5, 6]}).inputs == 1  # one token array


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": ["ok", ""]}, "input[1]"),
        ({"input": ["ok", 3]}, "input[1]"),
        ({"input": None}, "input"),
        ({"input": "x", "dimensions": True}, "dimensions"),
        ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"input": "x", "stream": True}, "stream"),
    ],
)
def test_bad_embeddings_input_names_its_param(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_embeddings_request({"model": "m/e", **fields})
    assert caught.value.param == param


def test_base64_vectors_round_trip_as_little_endian_float32() -> None:
    vector = [0.5, -0.25, 1.0]
    assert as_floats(as_base64(vector)) == vector
    assert as_floats([1, 2.5]) == [1.0, 2.5]
    assert as_floats("not base64!") is None and as_floats([True]) is None


def test_a_200_for_embeddings_must_hold_vectors() -> None:
    good = orjson.dumps({"data": [{"embedding": [0.1]}]})
    assert classify_response(200, good, "embeddings").kind == "success"
    assert classify_response(200, good).error_code == "invalid_response"  # not a chat completion
    empty = classify_response(200, orjson.dumps({"data": []}), "embeddings")
    assert empty.kind == "failed" and empty.message == "not an embeddings list"
