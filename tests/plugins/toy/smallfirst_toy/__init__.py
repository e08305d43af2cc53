"""A plugin outside smallfirst's package, installed by the tests to prove each seam takes a registration:

- backend ``toy-echo``: a blocking model that answers with the last user message, reversed;
- router ``toy-length``: scores a prompt by its length (longer is harder);
- price source ``toy-flat``: one micro-dollar per token.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from smallfirst.costs.prices import Price
from smallfirst.models.completion import Chunk, Completion, Usage
from smallfirst.routing.router import Router


class EchoModel:
    kind = "api"
    context_length = None

    def __init__(self, name: str) -> None:
        self.name = name

    def complete(self, messages, **params) -> Completion:
        text = str(messages[-1]["content"])[::-1]
        return Completion(self.name, text, "stop", Usage(len(text.split()), len(text.split())), 0.001, 0.001,
                          kind="api")

    def stream(self, messages, **params):
        c = self.complete(messages, **params)
        yield Chunk(c.text)
        yield Chunk("", finish_reason="stop", completion=c)

    def close(self) -> None:
        pass


def build_echo(name, spec, settings) -> EchoModel:
    return EchoModel(name)


class LengthRouter(Router):
    name = "toy-length"

    def _fit(self, outcomes) -> None:
        pass

    def _score_batch(self, prompts, tasks):
        return np.array([len(p) for p in prompts], dtype=float)


def flat_price(model: str, provider: str | None, usage) -> Price:
    return Price(Decimal(usage.prompt_tokens + usage.completion_tokens) / Decimal(1_000_000), "toy-flat")
