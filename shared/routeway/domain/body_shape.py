"""Cheap limits on a JSON body, checked on its bytes before it is parsed (PRODUCT.md "Robust under load").

Parsing is not the cost of a body's size but of its values: 4 MB holding 1.3 million `{}` took the parser
and the nesting walk over a second, while 4.9 MB of text parse in 4 ms. So a body may hold at most
MAX_JSON_CONTAINERS objects and arrays and MAX_JSON_VALUES values, counted on its bytes before any parse:
first by counting brackets and commas anywhere (a few milliseconds for 5 MB, an upper bound, since a string
may hold them too), and only when that bound is over a limit, exactly, outside the strings. The exact count
works through the body in slices, so a thread doing it lets the event loop run between two.

`costly` says which bodies are parsed off the event loop (`off_loop.cpu_bound`): over 1 MB, or with many
values for their size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from routeway.errors import InvalidRequest

MAX_JSON_CONTAINERS = 100_000  # objects and arrays; a long agent conversation with its tools holds a few thousand
MAX_JSON_VALUES = 400_000  # room for OpenAI's 300,000 embedding tokens as token arrays, and their arrays
OFF_LOOP_BYTES = 1024 * 1024
OFF_LOOP_VALUES = 20_000  # more values than this (by the cheap bound) and the parse is worth a thread
SCAN_SLICE_BYTES = 256 * 1024
NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{}[]")
_INNERMOST_PAIR = re.compile(rb"\{\}|\[\]")


def value_bounds(raw: bytes) -> tuple[int, int]:
    """Upper bounds on (objects and arrays, values) in a JSON text: its brackets and commas, in strings too."""
    containers = raw.count(b"{") + raw.count(b"[")
    return containers, containers + raw.count(b",") + 1


def outside_strings(raw: bytes) -> Iterator[bytes]:
    """The bytes of a JSON text outside its strings, in pieces; for a text that is not JSON, a guess (the parser
    refuses it anyway). Escaped backslashes and quotes are dropped first, so every quote left opens or closes a
    string; then each slice is split on quotes, carrying whether it ends inside a string. Between two slices, a
    thread doing this lets the event loop run."""
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    inside = False
    for start in range(0, len(text), SCAN_SLICE_BYTES):
        parts = text[start : start + SCAN_SLICE_BYTES].split(b'"')
        yield b"".join(parts[1 if inside else 0 :: 2])
        if len(parts) % 2 == 0:  # an odd number of quotes: the next slice starts on the other side
            inside = not inside


def exact_counts(raw: bytes) -> tuple[int, int]:
    """(objects and arrays, values) outside the strings of a JSON text (values: an upper bound, commas + 1)."""
    containers = commas = 0
    for piece in outside_strings(raw):
        containers += piece.count(b"{") + piece.count(b"[")
        commas += piece.count(b",")
    return containers, containers + commas + 1


def text_nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether a JSON text's objects and arrays nest more than `limit` levels, from its bytes: its brackets
    (outside strings) lose their innermost pairs, one level per pass, in C; no walk over parsed objects. For a
    valid JSON text only (an unbalanced one never empties, so it counts as deep)."""
    brackets = b"".join(piece.translate(None, NOT_BRACKETS) for piece in outside_strings(raw))
    for _ in range(limit):
        if not brackets:
            return False
        brackets = _INNERMOST_PAIR.sub(b"", brackets)
    return bool(brackets)


def check_body_shape(raw: bytes) -> None:
    """400 invalid_request for a body with more objects and arrays, or values, than a request needs."""
    containers, values = value_bounds(raw)
    if containers <= MAX_JSON_CONTAINERS and values <= MAX_JSON_VALUES:
        return
    containers, values = exact_counts(raw)
    if containers > MAX_JSON_CONTAINERS:
        raise InvalidRequest(f"The request body holds more than {MAX_JSON_CONTAINERS:,} objects and arrays.")
    if values > MAX_JSON_VALUES:
        raise InvalidRequest(f"The request body holds more than {MAX_JSON_VALUES:,} values.")


def costly(raw: bytes) -> bool:
    """Whether parsing and checking this body could hold the event loop for more than a few milliseconds."""
    return len(raw) > OFF_LOOP_BYTES or value_bounds(raw)[1] > OFF_LOOP_VALUES
