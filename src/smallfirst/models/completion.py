"""Measured facts about one model call, as small immutable records that cross package borders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict


class Message(TypedDict):
    """One chat turn as the models receive it: ``role`` ("system", "user", "assistant" or "tool") and text
    ``content``. An assistant turn that called tools carries ``tool_calls`` in the OpenAI shape
    (``[{"id", "type": "function", "function": {"name", "arguments": JSON text}}]``); a tool turn names the call it
    answers in ``tool_call_id``."""

    role: Literal["system", "user", "assistant", "tool"] | str
    content: str
    tool_calls: NotRequired[list[dict[str, Any]]]
    tool_call_id: NotRequired[str]
    name: NotRequired[str]


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one call consumed, as the backend counted them (a server may count more than ``max_tokens``).

    ``prompt_tokens`` includes the cached and audio prompt tokens, and ``completion_tokens`` the reasoning and
    audio completion tokens, as in OpenAI's usage object; the details say how many of each were of a kind that
    is priced at its own rate (``prompt_tokens_details.cached_tokens``, a cache write, audio) or only reported
    (reasoning tokens are priced as completion tokens)."""

    prompt_tokens: int
    completion_tokens: int
    #: prompt tokens read from the provider's prompt cache (OpenAI ``prompt_tokens_details.cached_tokens``)
    cached_tokens: int = 0
    #: prompt tokens written to the provider's prompt cache (Anthropic-style ``cache_creation_input_tokens``)
    cache_write_tokens: int = 0
    #: completion tokens spent on hidden reasoning (``completion_tokens_details.reasoning_tokens``)
    reasoning_tokens: int = 0
    #: audio tokens in the prompt and in the completion (``*_tokens_details.audio_tokens``)
    audio_prompt_tokens: int = 0
    audio_completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def has_details(self) -> bool:
        """True when any token is of a kind priced apart from plain prompt and completion tokens."""
        return bool(self.cached_tokens or self.cache_write_tokens or self.audio_prompt_tokens
                    or self.audio_completion_tokens)


@dataclass(frozen=True, slots=True)
class Alternative:
    """A candidate token at one generation step: its text, natural-log probability (<= 0) and UTF-8 bytes (a
    token may hold part of a multi-byte character, so the bytes, not the text, are exact)."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token, its natural-log probability under the model (<= 0), its UTF-8 bytes, and the ``top``
    most likely tokens at that step (most likely first; empty unless ``top_logprobs`` was asked for)."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top: tuple[Alternative, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for: the call's ``id``, the function ``name`` and its ``arguments`` as JSON
    text (OpenAI's ``tool_calls[].function``)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Completion:
    """What one model call produced, with the timings measured around it (seconds). ``finish_reason`` is
    OpenAI's: "stop", "length" or "tool_calls" (then ``tool_calls`` holds the calls and ``text`` any text
    before them)."""

    model: str
    text: str
    finish_reason: str
    usage: Usage
    wall_seconds: float
    ttft_seconds: float
    logprobs: tuple[TokenLogprob, ...] | None = None
    #: "local" for in-process models, "api" for HTTP endpoints: the ledger prices them differently.
    kind: Literal["local", "api"] = "local"
    tool_calls: tuple[ToolCall, ...] = ()
    #: the model calls a composite model (a pipeline tier such as ``northwind-kpi``) made to produce this answer;
    #: the ledger prices each with its own model's price and sums them, instead of pricing this completion
    parts: tuple[Completion, ...] = ()

    @property
    def mean_logprob(self) -> float | None:
        """The mean token log-probability of the answer (the log-probability cascade's signal), or None without
        logprobs."""
        if not self.logprobs:
            return None
        return sum(t.logprob for t in self.logprobs) / len(self.logprobs)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One streamed piece: its text and the log-probabilities of the tokens it completes (when asked for). The
    last chunk carries ``finish_reason`` and the final ``completion``; the service names the answering model on
    the first."""

    text: str
    finish_reason: str | None = None
    completion: Completion | None = field(default=None)
    logprobs: tuple[TokenLogprob, ...] = ()
    #: the model producing the stream, set by the service on a stream's first chunk
    model: str | None = None


def prompt_text(messages: Sequence[Message]) -> str:
    """What routers read: the last user turn (earlier turns rarely change how hard the ask is)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return str(messages[-1].get("content") or "") if messages else ""
