"""Measured facts about one model call, as small immutable records that cross package borders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypedDict


class Message(TypedDict):
    role: Literal["system", "user", "assistant", "tool"] | str
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class TokenLogprob:
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
        if not self.logprobs:
            return None
        return sum(t.logprob for t in self.logprobs) / len(self.logprobs)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One streamed piece. The last chunk carries ``finish_reason`` and the final ``completion``."""

    text: str
    finish_reason: str | None = None
    completion: Completion | None = field(default=None)
