"""Measured facts about one model call, as small immutable records that cross package borders."""

from __future__ import annotations

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
    """One generated token and its natural-log probability under the model (<= 0)."""
    token: str
    logprob: float


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
    """One streamed piece. The last chunk carries ``finish_reason`` and the final ``completion``."""

    text: str
    finish_reason: str | None = None
    completion: Completion | None = field(default=None)
