"""The raw floor of a Python proxy: a bare ASGI app under `serve`'s uvicorn settings (httptools, uvloop, no access
log) that forwards each POST to the upstream with one aiohttp session, and answers `GET /healthz`.

    python -m bench.floor PORT UPSTREAM_URL

What `routeway serve` adds beyond this is ours (bench/NOTES.md); `bench.compare floor CHECKOUT` runs it beside a
checkout.
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import uvicorn


def forwarding_app(upstream: str) -> Any:
    session: list[aiohttp.ClientSession] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            if session:
                await session[0].close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if scope["path"] == "/healthz":
            status, answer = 200, b"ok"
        else:
            if not session:
                session.append(aiohttp.ClientSession())
            headers = {"content-type": "application/json"}
            async with session[0].post(f"{upstream}/chat/completions", data=body, headers=headers) as response:
                status, answer = response.status, await response.read()
        json_type = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": json_type})
        await send({"type": "http.response.body", "body": answer})

    return app


if __name__ == "__main__":
    uvicorn.run(
        forwarding_app(sys.argv[2]), port=int(sys.argv[1]), log_level="warning", access_log=False, http="httptools"
    )
