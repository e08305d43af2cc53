"""Refuse a request body over ``max_body_bytes`` with 413 before it is read into memory.

Plain ASGI rather than Starlette middleware: it runs on every request and must add next to nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smallfirst.server.errors import Refusal, error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, refused: Refusal | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refused = refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                if int(value) > self.max_bytes:
                    message = self._message(int(value))
                    if self.refused is not None:
                        self.refused(scope["path"], 413, message)
                    await error_response(413, message, code="request_too_large")(scope, receive, send)
                    return
                # The server frames the body by this length, so it cannot run over: no counting needed.
                await self.app(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message: dict[str, Any] = dict(await receive())
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI passes HTTPException through its body parser untouched; the handler shapes it.
                    raise HTTPException(413, self._message(seen))
            return message  # type: ignore[return-value]

        await self.app(scope, limited, send)

    def _message(self, size: int) -> str:
        return (
            f"the request body is {size} bytes, over this gateway's limit of {self.max_bytes}; "
            "send a shorter prompt or raise server.max_body_bytes"
        )
