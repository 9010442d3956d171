"""A fixed-reply upstream: the cheapest possible OpenAI-compatible server, so that what is measured is the
gateway. Run as `python -m bench.upstream PORT`."""

from __future__ import annotations

import sys
from typing import Any

import orjson

REPLY = orjson.dumps(
    {
        "id": "gen-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "openai/gpt-5.4-mini",
        "provider": "OpenAI",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": "ok", "refusal": None},
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6, "cost": 0.000004},
    }
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(REPLY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # drain the request body
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": REPLY})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
