"""Server-sent events, and noticing a client that hangs up.

Starlette only notices a disconnect on its next write; a local model can be minutes from its next token.
``SSEResponse`` listens for the disconnect itself and then closes the event generator (shielded, so the
generator's clean-up runs in full), which cancels the generation upstream and logs the request as 499.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel
from pydantic_core import to_json
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

T = TypeVar("T")
DONE = b"data: [DONE]\n\n"


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


def event(payload: BaseModel | dict[str, Any]) -> bytes:
    """One server-sent event carrying ``payload`` as compact JSON."""
    if isinstance(payload, BaseModel):
        return b"data: " + payload.model_dump_json().encode() + b"\n\n"
    return b"data: " + to_json(payload) + b"\n\n"


class SSEResponse(StreamingResponse):
    """A stream of server-sent events that stops generating as soon as the client disconnects (the generator is
    cancelled, so a local model frees its worker), instead of writing into a closed socket."""

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as tg:

                async def stream() -> None:
                    with contextlib.suppress(OSError):
                        await self.stream_response(send)
                    tg.cancel_scope.cancel()

                tg.start_soon(stream)
                await self.listen_for_disconnect(receive)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]


async def until_disconnect(receive: Receive, work: Awaitable[T]) -> T:
    """Await ``work`` in this task, cancelling it if the client disconnects first (then raises ClientGone).

    Only the watcher gets a task of its own: running ``work`` here instead of beside it saves a task, a
    ``wait`` and their wake-ups on every request."""
    current = asyncio.current_task()
    assert current is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        current.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if gone and current.uncancel() == 0:
            raise ClientGone() from None
        raise
    finally:
        watcher.cancel()
