"""`header_text`: any string as a header value that Starlette can encode and h11/httptools will send."""

from __future__ import annotations

import pytest

from routeway.domain.header_text import MAX_HEADER_CHARS, header_text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("DeepInfra", "DeepInfra"),
        ("Evil\r\nSet-Cookie: x=1", "Evil??Set-Cookie: x=1"),
        ("DeepSeek 深度求索", "DeepSeek ????"),
        ("Prövider—Őrség", "Prövider?Orség"),  # Latin-1 kept, a base letter for the rest, else ?
        ("Ｆｕｌｌ", "Full"),
        ("  tab\tand spaces \n", "tab?and spaces"),  # nothing at either end: h11 refuses it
        ("a\x00\x7f\x85b", "a???b"),
        ("", ""),
    ],
)
def test_header_text_is_printable_latin1(value: str, shown: str) -> None:
    assert header_text(value) == shown
    shown.encode("latin-1")


def test_header_text_is_bounded() -> None:
    assert header_text("p" * 100_000) == "p" * MAX_HEADER_CHARS
    assert header_text("東" * 100_000) == "?" * MAX_HEADER_CHARS
    assert header_text("x" * 50, limit=10) == "x" * 10
