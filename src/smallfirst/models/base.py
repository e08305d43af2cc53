"""The one Model contract every backend implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from smallfirst.models.records import Chunk, Completion, Message


@runtime_checkable
class Model(Protocol):
    """A language model behind one interface.

    ``complete`` and ``stream`` accept OpenAI-style parameters (``max_tokens``, ``temperature``, ``top_p``,
    ``stop``, ``seed``, ``logprobs``). ``stream`` yields text chunks and ends with a chunk whose
    ``completion`` holds the measured totals.
    """

    name: str
    kind: str  # "local" or "api"
    context_length: int | None

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion: ...

    def stream(self, messages: Sequence[Message], **params: Any) -> Iterator[Chunk]: ...

    def close(self) -> None: ...
