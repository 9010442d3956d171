"""The cheap limits on a JSON body's bytes (domain/body_shape.py) agree with its parsed structure: strings full of
brackets, commas, quotes and backslashes never count, and the bytes' nesting depth is the parsed one's."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routeway.domain import body_shape
from routeway.domain.body_shape import (
    MAX_JSON_CONTAINERS,
    MAX_JSON_VALUES,
    check_body_shape,
    costly,
    exact_counts,
    text_nests_deeper_than,
)
from routeway.domain.content import HEAVY_PARTS, many_parts
from routeway.errors import InvalidRequest
from tests.unit.test_hostile_domain import reference_depth

TRICKY = st.text(alphabet='{}[],:"\\ab\n', max_size=4)  # what a string may hold that looks like structure


def json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.integers(-5, 5), TRICKY)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TRICKY, inner, max_size=3)),
        max_leaves=30,
    )


def containers_and_values(value: Any) -> tuple[int, int]:
    """A walk's count: (objects and arrays, values, the document itself included)."""
    if isinstance(value, dict | list):
        children = list(value.values()) if isinstance(value, dict) else value
        counts = [containers_and_values(child) for child in children]
        return 1 + sum(c for c, _ in counts), 1 + sum(v for _, v in counts)
    return 0, 1


@given(value=json_values(), limit=st.integers(min_value=0, max_value=6), slice_bytes=st.sampled_from([3, 7, 1 << 18]))
@settings(max_examples=400, deadline=None)
def test_the_bytes_say_what_the_parsed_document_holds(value: Any, limit: int, slice_bytes: int) -> None:
    raw = orjson.dumps(value)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(body_shape, "SCAN_SLICE_BYTES", slice_bytes)  # a slice may end inside a string
        containers, values = exact_counts(raw)
        deeper = text_nests_deeper_than(raw, limit)
    walked_containers, walked_values = containers_and_values(value)
    assert containers == walked_containers and values >= walked_values  # values: an upper bound
    assert deeper is (reference_depth(value) > limit)


def test_brackets_in_strings_are_not_objects_and_the_limits_hold() -> None:
    check_body_shape(orjson.dumps(["{[,"] * (MAX_JSON_VALUES // 2)))  # the cheap bound is over; the exact count is not
    with pytest.raises(InvalidRequest, match="objects and arrays"):
        check_body_shape(orjson.dumps([{}] * (MAX_JSON_CONTAINERS + 1)))
    with pytest.raises(InvalidRequest, match="values"):
        check_body_shape(orjson.dumps([1] * (MAX_JSON_VALUES + 1)))
    assert not costly(orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
    assert costly(b'"' + b"a" * (body_shape.OFF_LOOP_BYTES + 1) + b'"')  # over 1 MB
    assert costly(orjson.dumps([1] * (body_shape.OFF_LOOP_VALUES + 1)))  # small, but many values


def test_many_parts_counts_messages_and_their_parts() -> None:
    parts = [{"type": "text", "text": "a"}] * HEAVY_PARTS
    assert not many_parts([{"role": "user", "content": "hi"}] * HEAVY_PARTS)
    assert many_parts([{"role": "user", "content": "hi"}] * (HEAVY_PARTS + 1))
    assert many_parts([{"role": "user", "content": parts}])  # one message, and its parts
    assert not many_parts([{"role": "user", "content": parts[1:]}])
