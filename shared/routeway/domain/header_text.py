"""Text made safe for an HTTP header value: printable Latin-1, no surrounding whitespace, bounded length.

Header values copied from an upstream or the catalog (OpenRouter's `provider` field, model ids) are not ours:
a character outside Latin-1 makes Starlette raise while encoding the headers (a 500 after the key was
charged), and CR/LF either injects a header or makes the HTTP server drop the connection (RELIABILITY 72).
Every `x-routeway-*` value goes through `header_text` once, where the headers are built; bodies keep the
original string.
"""

from __future__ import annotations

import unicodedata

MAX_HEADER_CHARS = 200  # a provider or model name is far shorter; 100 kB of it is an attack, not a name
REPLACEMENT = "?"


def header_text(value: str, limit: int = MAX_HEADER_CHARS) -> str:
    """`value` as printable Latin-1 of at most `limit` characters: accents outside Latin-1 dropped to their
    base letter (NFKD), control and other characters replaced by `?`, whitespace (CR/LF included) at either
    end stripped (h11 refuses it)."""
    if len(value) <= limit and value.isascii() and value.isprintable() and value == value.strip():
        return value  # the usual case, without building a new string
    kept = [c if _printable_latin1(c) else _transliterated(c) for c in value.strip()[:limit]]
    return "".join(kept)[:limit].rstrip(" ")  # each character gives one or more: the first `limit` are enough


def _printable_latin1(char: str) -> bool:
    code = ord(char)
    return 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF


def _transliterated(char: str) -> str:
    """A letter's base form when it has one in Latin-1 (`ő` → `o`), else `?`."""
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(_printable_latin1(c) for c in base):
        return base
    return REPLACEMENT
