"""The SSE parser: comments dropped, any split of the bytes gives the same events (RELIABILITY 20, 21)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from routeway.domain.sse import Event, SSEParser, encode_event

STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"choices":[{"delta":{"content":"h\xc3\xa9llo"}}]}\n\n'
    b": OPENROUTER PROCESSING\r\n\r\n"
    b'data: {"choices":[{"delta":{"content":" world"}}]}\r\n\r\n'
    b"event: message\ndata: line one\ndata: line two\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    Event('{"choices":[{"delta":{"content":"héllo"}}]}'),
    Event('{"choices":[{"delta":{"content":" world"}}]}'),
    Event("line one\nline two", event="message"),
    Event("[DONE]"),
]


def parse(chunks: list[bytes]) -> list[Event]:
    parser = SSEParser()
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    return events + list(parser.close())


def test_rel_20_comments_never_become_data() -> None:
    events = parse([STREAM])
    assert events == EXPECTED
    assert events[-1].done
    assert not any("OPENROUTER PROCESSING" in e.data for e in events)


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_rel_21_any_split_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert parse(chunks) == EXPECTED


def test_a_last_event_without_its_blank_line_still_counts() -> None:
    assert parse([b'data: {"x": 1}']) == [Event('{"x": 1}')]
    assert parse([b"data: a\r"]) == [Event("a")]


def test_encode_round_trips() -> None:
    assert parse([encode_event("a\nb"), encode_event("[DONE]")]) == [Event("a\nb"), Event("[DONE]")]
