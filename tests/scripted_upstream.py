"""A real OpenAI-compatible HTTP server on loopback whose answers are scripted: the text, the usage it reports
(cached prompt tokens, reasoning tokens, a completion count above max_tokens...), or a reply that ignores the
requested format. llama.cpp's server reports none of those, so the tests that need them talk to this one, over
real sockets, through the one HTTP backend."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse


@dataclass
class Script:
    """What the next answers are: ``text``, ``usage`` (OpenAI's usage object), and ``delay_s`` before answering.
    ``requests`` records every request body."""

    text: str = "Hello there."
    usage: dict[str, Any] = field(default_factory=lambda: {"prompt_tokens": 10, "completion_tokens": 3})
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)


def make_app(script: Script) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = json.loads(await request.body())
        script.requests.append(body)
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        usage = {**script.usage, "total_tokens": script.usage["prompt_tokens"] + script.usage["completion_tokens"]}
        if not body.get("stream"):
            return JSONResponse({
                "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "usage": usage,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": script.text}}],
            })

        async def events() -> Iterator[bytes]:
            base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body["model"]}
            for word in script.text.split(" "):
                piece = word if word == script.text.split(" ")[0] else " " + word
                chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(done)}\n\n".encode()
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@contextmanager
def serve_scripted(port: int) -> Iterator[tuple[str, Script]]:
    """The scripted server on ``port``; yields its base URL (ending in /v1) and the script to change."""
    script = Script()
    server = uvicorn.Server(uvicorn.Config(make_app(script), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1", script
    finally:
        server.should_exit = True
        thread.join(timeout=10)
