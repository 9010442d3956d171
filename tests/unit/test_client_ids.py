"""Every id a client holds maps back to its generation id (domain/client_ids.py); a stream's chunks carry it."""

from __future__ import annotations

import orjson

from routeway.dialects.messages_render import message_id
from routeway.dialects.responses import response_id_for
from routeway.domain.client_ids import generation_id_of
from routeway.gateway import new_generation_id
from routeway.services.streaming import _Shaper


def test_every_dialect_id_maps_back_to_its_generation_id() -> None:
    for _ in range(20):
        generation_id = new_generation_id()
        assert response_id_for(generation_id).startswith("resp_") and "-" not in response_id_for(generation_id)
        assert message_id(generation_id).startswith("msg_")
        for client_id in (generation_id, message_id(generation_id), response_id_for(generation_id)):
            assert generation_id_of(client_id) == generation_id
    assert generation_id_of("gen-upstream-123") == "gen-upstream-123"  # an unknown shape is looked up as it is


def test_a_streams_chunks_carry_the_generation_id_and_keep_their_text_otherwise() -> None:
    shaper = _Shaper("gen-rw-abc")
    first = {"id": "gen-177-x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "x"}}]}
    text = '{"id":"gen-177-x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"}}]}'
    (chunk,) = shaper.take(first, text)
    assert chunk.document["id"] == "gen-rw-abc" and first["id"] == "gen-177-x"  # the upstream's is kept for the bill
    assert chunk.text() == text.replace("gen-177-x", "gen-rw-abc")
    quoted = '{"id": "gen-177-x", "choices": [{"index": 0, "delta": {"content": "\\"id\\":\\"gen-177-x\\""}}]}'
    (spaced,) = shaper.take(orjson.loads(quoted), quoted)  # not the compact form: serialised again
    assert orjson.loads(spaced.text())["id"] == "gen-rw-abc"
    assert orjson.loads(spaced.text())["choices"][0]["delta"]["content"] == '"id":"gen-177-x"'


def test_the_common_chunks_short_path_counts_and_renames_as_the_general_one() -> None:
    """`_Shaper.take` has a short path for a one-choice text chunk: what it counts, renames and relays is what the
    general path does with the same chunk (here forced by a held finish)."""
    chunks = [
        {"id": "up", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hello"}}]},
        {"id": "up", "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": None}]},
        {"id": "up", "choices": [{"index": 0, "delta": {"content": "abcdefghij"}}]},
        {"id": "up", "choices": [{"index": 0, "delta": {"reasoning": "why", "content": "so"}}]},
    ]
    short, general = _Shaper("gen-rw-abc"), _Shaper("gen-rw-abc")
    general.held_finish = {"held": True}
    for chunk in chunks:
        text = orjson.dumps(chunk).decode()
        (fast,) = short.take(orjson.loads(text), text, owned=True)
        slow = general.take(orjson.loads(text), text, owned=True)[-1]
        general.held_finish = {"held": True}
        assert (fast.document, fast.text()) == (slow.document, slow.text())
        assert fast.document["id"] == "gen-rw-abc" and '"id":"gen-rw-abc"' in fast.text()
    assert (short.text_chars, short.pieces) == (general.text_chars, general.pieces) == (20, 3)
