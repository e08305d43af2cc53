"""Measure a local model's sustained throughput on this machine, the figure the hardware profile prices a local
request by (``config.HardwareProfile.throughput``, ``prices.occupancy_seconds``).

Measure alone: one request at a time, nothing else running. Each prompt is streamed, so the time to the first
token is prompt processing (prefill) and the rest is generation (decode); the medians over the prompts are
the sustained rates.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from smallfirst.config import Throughput
from smallfirst.errors import DataError

#: varied prompts (classification, maths, prose) so the medians do not depend on one shape of request
PROMPTS = (
    "Classify this support ticket into one intent: 'my card has not arrived yet, it has been two weeks'.",
    "Summarise in one sentence: The meeting moved to Thursday because the client asked for more time.",
    "Which clause type is this: 'This Agreement shall be governed by the laws of the State of New York.'",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May? Think step by step.",
    "Write a haiku about small language models running on a laptop.",
    "List three risks of sending every request to the largest model, as short bullet points.",
    "Translate to French: the invoice is overdue and we will charge a late fee.",
    "Explain what a context window is to a new engineer, in two sentences.",
)


def measure_throughput(model: Any, prompts: Sequence[str] = PROMPTS, max_tokens: int = 64,
                       clock: str = "wall") -> Throughput:
    """Median prefill (prompt tokens / time to first token) and decode ((completion tokens - 1) / the time after
    the first token) tokens per second of ``model`` (an in-process ``models.model.BlockingModel``) over
    ``prompts``, after one warm-up call, at temperature 0.

    ``clock="wall"`` times the model's own wall clock: the sustained throughput, when nothing else runs.
    ``clock="cpu"`` times this process's CPU time instead: on a loaded machine it is what the computation
    consumed (use a single-thread model; with several, waiting threads spin and count). ValueError for another
    clock; DataError when no prompt produced two tokens or more."""
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', not {clock!r}")
    _timed(model, "hi", 4, clock)
    prefill, decode = [], []
    for i, text in enumerate(prompts):
        # a fresh prefix each time: no KV-cache reuse
        usage, first, rest = _timed(model, f"[{i}] {text}", max_tokens, clock)
        if first > 0:
            prefill.append(usage.prompt_tokens / first)
        if usage.completion_tokens > 1 and rest > 0:
            decode.append((usage.completion_tokens - 1) / rest)
    if not prefill or not decode:
        raise DataError(f"model {model.name!r} produced too few tokens to measure its throughput",
                        hint="raise max_tokens, or use prompts that ask for a longer answer")
    return Throughput(prefill_tokens_per_s=_rate(statistics.median(prefill)),
                      decode_tokens_per_s=_rate(statistics.median(decode)))


def _timed(model: Any, text: str, max_tokens: int, clock: str) -> tuple[Any, float, float]:
    """(usage, seconds to the first token, seconds after it) of one streamed answer."""
    start = time.process_time()
    first: float | None = None
    final = None
    for chunk in model.stream([{"role": "user", "content": text}], max_tokens=max_tokens, temperature=0.0):
        if chunk.text and first is None:
            first = time.process_time()
        if chunk.completion is not None:
            final = chunk.completion
    end = time.process_time()
    assert final is not None
    if clock == "wall":
        return final.usage, final.ttft_seconds, final.wall_seconds - final.ttft_seconds
    first = end if first is None else first
    return final.usage, first - start, end - first


def _rate(x: float) -> Decimal:
    return Decimal(f"{x:.4g}")


def throughput_toml(name: str, rate: Throughput) -> str:
    """The ``[hardware.throughput."<name>"]`` table for a config file."""
    return (f'[hardware.throughput."{name}"]\nprefill_tokens_per_s = {rate.prefill_tokens_per_s}\n'
            f"decode_tokens_per_s = {rate.decode_tokens_per_s}\n")
