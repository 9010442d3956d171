"""Generated images through the Responses API, as the official openai SDK sees them: the hosted
`image_generation` tool asks for image output, and each image comes back as an `image_generation_call` item
with its base64 `result`, in a whole answer and in a stream (OpenAI's image_generation_call events).
"""

from __future__ import annotations

import base64

import openai

from tests.conftest import FakeUpstream

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GEMINI_IMAGE = "nano-banana"


def test_a_generated_image_is_an_image_generation_call_with_its_base64(
    sdk: openai.OpenAI, upstream: FakeUpstream
) -> None:
    response = sdk.responses.create(
        model=GEMINI_IMAGE, input="Draw a lighthouse", tools=[{"type": "image_generation"}], store=False
    )
    assert upstream.fake.chat_requests()[-1].body["modalities"] == ["image", "text"]
    calls = [item for item in response.output if item.type == "image_generation_call"]
    assert len(calls) == 1 and calls[0].status == "completed" and calls[0].id.startswith("ig_")
    assert calls[0].result is not None and base64.b64decode(calls[0].result).startswith(PNG_SIGNATURE)
    assert [t.type for t in response.tools] == ["image_generation"]


def test_a_streamed_image_comes_with_openais_events(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(
        model=GEMINI_IMAGE, input="Draw a lighthouse", tools=[{"type": "image_generation"}], store=False
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    image_events = [k for k in kinds if k.startswith("response.image_generation_call.")]
    assert image_events == [
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.completed",
    ]
    added = next(e for e in events if e.type == "response.output_item.added" and e.item.type == "image_generation_call")
    done = next(e for e in events if e.type == "response.output_item.done" and e.item.type == "image_generation_call")
    assert added.item.result is None and added.item.status == "in_progress"
    assert done.item.status == "completed" and base64.b64decode(done.item.result or "").startswith(PNG_SIGNATURE)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    (call,) = [item for item in final.output if item.type == "image_generation_call"]
    assert call.result == done.item.result


def test_a_conversation_continues_after_an_image_with_the_image_shown_to_the_model(
    sdk: openai.OpenAI, upstream: FakeUpstream
) -> None:
    first = sdk.responses.create(model=GEMINI_IMAGE, input="Draw a lighthouse", tools=[{"type": "image_generation"}])
    (call,) = [item for item in first.output if item.type == "image_generation_call"]
    again = sdk.responses.create(
        model=GEMINI_IMAGE, input="Make it red", tools=[{"type": "image_generation"}], previous_response_id=first.id
    )
    assert again.status == "completed"
    shown = upstream.fake.chat_requests()[-1].body["messages"][-2]
    assert shown["role"] == "user" and shown["content"][1]["image_url"]["url"].endswith(call.result or "?")
