"""Measured facts about one model call, as small immutable records that cross package borders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypedDict


class Message(TypedDict):
    """One chat turn as the models receive it: ``role`` and text ``content``."""
    role: Literal["system", "user", "assistant", "tool"] | str
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one call consumed, as the backend counted them (a server may count more than ``max_tokens``)."""
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token and its natural-log probability under the model (<= 0). ``top`` holds the most likely
    tokens at that step, most likely first, each with its log-probability (OpenAI's ``top_logprobs``), when the
    backend reports them; confidence signals such as the top-2 margin and the entropy read them."""
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Completion:
    """What one model call produced, with the timings measured around it."""

    model: str
    text: str
    finish_reason: str
    usage: Usage
    wall_seconds: float
    ttft_seconds: float
    logprobs: tuple[TokenLogprob, ...] | None = None
    #: "local" for in-process models, "api" for HTTP endpoints: the ledger prices them differently.
    kind: Literal["local", "api"] = "local"

    @property
    def mean_logprob(self) -> float | None:
        """The mean token log-probability of the answer (the log-probability cascade's signal), or None without
        logprobs."""
        if not self.logprobs:
            return None
        return sum(t.logprob for t in self.logprobs) / len(self.logprobs)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One streamed piece. The last chunk carries ``finish_reason`` and the final ``completion``."""

    text: str
    finish_reason: str | None = None
    completion: Completion | None = field(default=None)


def prompt_text(messages: Sequence[Message]) -> str:
    """What routers read: the last user turn (earlier turns rarely change how hard the ask is)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return str(messages[-1].get("content") or "") if messages else ""
