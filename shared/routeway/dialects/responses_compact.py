"""`POST /v1/responses/compact` (what Codex calls to shorten a long session) on top of chat.

OpenAI's contract (openai-openapi `CompactResponseMethodPublicBody` → `CompactResource`): the conversation in
(`input`, `previous_response_id`, `instructions`), a `response.compaction` out whose `output` is the items to
send instead of it: the user's messages, then one `compaction` item. Here the compaction is a summary the
routed model writes when asked with a summarising turn appended (the same routing, keys and budgets as any
request); its `encrypted_content` is that summary, encoded, and a later request's `compaction` input item is
read back as a user message carrying it (`responses_items.compaction_message`). Not encrypted: a client could
send any text as input anyway, and the gateway keeps nothing of it. Pure.
"""

from __future__ import annotations

from typing import Any

from routeway.dialects.responses import ResponsesRequest, chat_body, parse_responses, response_id_for, usage_from
from routeway.dialects.responses_items import encode_summary
from routeway.domain.wire import ChatRequest, parse_chat_request
from routeway.errors import InvalidRequest, UpstreamError
from routeway.services.results import Completion

COMPACT_PROMPT = (
    "Context checkpoint: the conversation above is being compacted. Write a summary that another assistant "
    "will continue from with nothing else: the user's goal and constraints, decisions made, what has been done "
    "(files, commands, results), what is in progress and the exact next steps. Be complete but concise; "
    "answer with the summary only."
)
NOT_HERE = ("stream", "background", "store")  # a compaction is answered whole and never stored


def parse_compact(body: Any) -> ResponsesRequest:
    """The body checked as a Responses request is (the same fields, the same params), answered whole, unstored."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    for name in NOT_HERE:
        if body.get(name):
            raise InvalidRequest(f"'{name}' is not accepted by /v1/responses/compact.", param=name)
    if body.get("input") is None and not body.get("previous_response_id"):
        raise InvalidRequest("Give the conversation to compact in 'input' or 'previous_response_id'.", param="input")
    return parse_responses({**body, "input": body.get("input") or [], "store": False, "stream": False})


def compact_chat(request: ResponsesRequest, history: list[dict[str, Any]]) -> ChatRequest:
    """The conversation, then the summarising turn; tools stay defined (history may call them) but unused."""
    chat = chat_body(request, history)
    chat["messages"].append({"role": "user", "content": COMPACT_PROMPT})
    if "tools" in chat:
        chat["tool_choice"] = "none"
    return parse_chat_request(chat)


def _kept(items: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    """The user's own messages stay in a compacted conversation, as OpenAI keeps them: as whole message items."""
    kept = [i for i in items if i.get("type", "message") == "message" and i.get("role") == "user"]
    return [
        {
            "id": item.get("id") if isinstance(item.get("id"), str) else f"msg_{suffix}_{index}",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": item["content"]}]
            if isinstance(item.get("content"), str)
            else item.get("content"),
        }
        for index, item in enumerate(kept)
    ]


def render_compaction(
    completion: Completion, request: ResponsesRequest, history: list[dict[str, Any]], now: int
) -> dict[str, Any]:
    choice = (completion.body.get("choices") or [{}])[0]
    summary = (choice.get("message") or {}).get("content")
    if not isinstance(summary, str) or not summary.strip():
        raise UpstreamError(f"{completion.proof.model} answered the compaction without a summary.")
    response_id = response_id_for(completion.proof.generation_id)
    suffix = response_id.removeprefix("resp_")
    kept = _kept([*history, *request.items], suffix)
    compaction = {"id": f"cmp_{suffix}", "type": "compaction"}
    compaction["encrypted_content"] = encode_summary(summary)
    return {
        "id": response_id,
        "object": "response.compaction",
        "created_at": now,
        "output": [*kept, compaction],
        "usage": usage_from(completion.body.get("usage")),
        "route": completion.body.get("route"),
    }
