"""`routeway serve`'s one line per request on stderr, so a newcomer sees the traffic.

`time method path status key=… model=… provider=… attempts=… ms=… cost=…`: the key's name, never the key.
The serve app's outermost wrapper (`http/middleware.py`, `RequestLog`) opens a `RequestFacts` per request;
the edge notes the caller's key name and the core notes the generation record it makes (model, provider,
attempts, cost), both already in hand, so the line costs one format and no store call. Outside `serve` no
facts are open and noting is one ContextVar read.
"""

from __future__ import annotations

import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass

import orjson

from routeway.domain.records import GenerationRecord


@dataclass(slots=True)
class RequestFacts:
    key_name: str | None = None
    record: GenerationRecord | None = None


_current: ContextVar[RequestFacts | None] = ContextVar("routeway_request_facts", default=None)


def open_facts() -> RequestFacts:
    """The facts of the request this task (and the tasks it starts) serves."""
    facts = RequestFacts()
    _current.set(facts)
    return facts


def note_key(name: str | None) -> None:
    facts = _current.get()
    if facts is not None:
        facts.key_name = name


def note_record(record: GenerationRecord) -> None:
    facts = _current.get()
    if facts is not None:
        facts.record = record


class _Stamp:
    """The line's time, formatted once a second rather than once a request."""

    second = -1
    text = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.text = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return cls.text


def _shown(value: object) -> str:
    """A value as one token: quoted and escaped when it has spaces, quotes or control characters."""
    if value is None or value == "":
        return "-"
    text = str(value)
    return text if text.isprintable() and " " not in text and '"' not in text else orjson.dumps(text).decode()


def request_line(method: str, path: str, status: int, facts: RequestFacts, ms: float) -> str:
    record = facts.record
    route = record.route if record is not None else {}
    key = facts.key_name if record is None else record.key_name
    model = route.get("model") or (record.requested_model if record is not None else None)
    cost = record.cost_usd if record is not None else None
    return (
        f"{_Stamp.now()} {method} {_shown(path)} {status}"
        f" key={_shown(key)} model={_shown(model)} provider={_shown(route.get('provider'))}"
        f" attempts={len(route.get('attempts') or ())} ms={ms:.1f}"
        f" cost={'-' if not isinstance(cost, int | float) else f'{cost:.6f}'}"
    )


def to_stderr(line: str) -> None:
    """Straight to stderr (line-buffered): a logging record would cost several times the line itself. A closed
    or broken stderr loses the line, never the answer."""
    try:
        sys.stderr.write(line + "\n")
    except (OSError, ValueError):
        pass
