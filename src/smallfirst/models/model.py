"""The Model contract, async-first, and the blocking contract that in-process backends implement.

Every model the service calls is a :class:`Model`: ``await complete(...)`` returns a Completion, and
``stream(...)`` is an async iterator of Chunks. Backends that talk to a network (the OpenAI-compatible one) are
natively async. Backends that compute in this process (llama.cpp, a specialised classifier) are
:class:`BlockingModel`\\ s: plain methods that hold a CPU until they finish. The model pool serves each of those
through :class:`smallfirst.models.threads.Threaded`, on worker threads of its own behind a bounded queue, so the
event loop never waits on them and the CLI, the gateway and the demo reach every backend the same way.

The registry tells the two apart by whether the backend's ``complete`` is a coroutine function.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from smallfirst.models.completion import Chunk, Completion, Message

__all__ = ["BlockingModel", "Model", "is_async"]


@runtime_checkable
class Model(Protocol):
    """A language model behind one async interface.

    ``complete`` and ``stream`` take OpenAI-style parameters (``max_tokens``, ``temperature``, ``top_p``,
    ``stop``, ``seed``, ``logprobs``...). ``stream`` yields text chunks and ends with one chunk whose
    ``completion`` holds the measured totals. Errors are ``SmallfirstError``\\ s: ``UpstreamError`` for a
    failure worth a fallback, ``ContextOverflowError`` for a prompt too long, ``OverloadedError`` for a full
    queue.
    """

    name: str
    #: "local" (priced by compute) or "api" (priced per token)
    kind: Literal["local", "api"]
    #: tokens of context, or None when the backend does not say
    context_length: int | None

    async def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """One answer to ``messages``."""
        ...

    def stream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[Chunk]:
        """Text chunks, then one chunk whose ``completion`` holds the totals."""
        ...

    async def aclose(self) -> None:
        """Release what the model holds on the running event loop (HTTP sessions, threads, weights)."""
        ...


@runtime_checkable
class BlockingModel(Protocol):
    """An in-process backend: the same calls as :class:`Model`, as plain blocking methods.

    Not thread-safe unless it says so: the pool runs each one on its own worker threads
    (``server.workers_per_model``, default 1)."""

    name: str
    kind: Literal["local", "api"]
    context_length: int | None

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """One answer to ``messages``, computed in the calling thread."""
        ...

    def stream(self, messages: Sequence[Message], **params: Any) -> Iterator[Chunk]:
        """Text chunks, then one chunk whose ``completion`` holds the totals."""
        ...

    def close(self) -> None:
        """Free the weights and contexts."""
        ...


def is_async(model: object) -> bool:
    """True for a :class:`Model` (its ``complete`` is a coroutine function), False for a blocking backend."""
    return inspect.iscoroutinefunction(getattr(type(model), "complete", None))
