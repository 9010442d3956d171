"""Anthropic's model list paging (domain/model_pages.py): cursors both ways, limits named when refused."""

from __future__ import annotations

import pytest

from routeway.domain.model_pages import anthropic_page, page_bounds, page_limit, rfc3339
from routeway.errors import InvalidRequest

IDS = [f"m{i}" for i in range(7)]


def test_pages_forward_and_back_cover_the_list_once() -> None:
    forward, after = [], None
    while True:
        page = page_bounds(IDS, 3, after_id=after, before_id=None)
        forward += IDS[page.start : page.stop]
        if not page.has_more:
            break
        after = IDS[page.stop - 1]
    assert forward == IDS
    back = page_bounds(IDS, 3, after_id=None, before_id="m5")
    assert (back.start, back.stop, back.has_more) == (2, 5, True)
    first = page_bounds(IDS, 3, after_id=None, before_id="m0")
    assert (first.start, first.stop, first.has_more) == (0, 0, False)


@pytest.mark.parametrize("raw", ["0", "1001", "-3", "ten", "1.5", ""])
def test_a_bad_limit_is_refused_naming_it(raw: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        page_limit(raw)
    assert refused.value.param == "limit"


def test_limits_and_cursors_that_are_fine() -> None:
    assert (page_limit(None), page_limit("1"), page_limit("1000")) == (20, 1, 1000)
    for after, before, param in (("nope", None, "after_id"), (None, "nope", "before_id"), ("m1", "m2", "before_id")):
        with pytest.raises(InvalidRequest) as refused:
            page_bounds(IDS, 3, after_id=after, before_id=before)
        assert refused.value.param == param


def test_the_page_is_anthropics_shape() -> None:
    entries = [{"id": "a/x", "name": "X", "created": 1_700_000_000, "context_length": 8000}, {"id": "b/y"}]
    page = anthropic_page(entries, 5, after_id=None, before_id=None)
    assert page == {
        "data": [
            {
                "type": "model",
                "id": "a/x",
                "display_name": "X",
                "created_at": "2023-11-14T22:13:20Z",
                "lifecycle": "active",
                "max_input_tokens": 8000,
            },
            {"type": "model", "id": "b/y", "display_name": "b/y", "created_at": rfc3339(None), "lifecycle": "active"},
        ],
        "has_more": False,
        "first_id": "a/x",
        "last_id": "b/y",
    }
    assert rfc3339(None) == "1970-01-01T00:00:00Z"
