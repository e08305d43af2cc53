"""Refuse a request body over ``max_body_bytes`` with 413 before it is read into memory.

Plain ASGI rather than Starlette middleware: it runs on every request and must add next to nothing. The
completion routes, which answer before the middleware (see ``app.py``), apply the same limit as they read.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smallfirst.errors import PayloadTooLargeError
from smallfirst.server.error_responses import Refusal, from_exception


def too_large(path: str, size: int, limit: int, refused: Refusal | None) -> PayloadTooLargeError:
    """The 413 for a body of ``size`` bytes, already logged as a refusal."""
    error = PayloadTooLargeError(
        f"the request body is {size} bytes, over this gateway's limit of {limit}",
        hint="send a shorter prompt or raise server.max_body_bytes",
    )
    if refused is not None:
        refused(path, 413, str(error))
    return error


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
                    error = too_large(scope["path"], int(value), self.max_bytes, self.refused)
                    await from_exception(error)(scope, receive, send)
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
                    # the app's handler for SmallfirstError shapes it
                    raise too_large(scope["path"], seen, self.max_bytes, self.refused)
            return message  # type: ignore[return-value]

        await self.app(scope, limited, send)
