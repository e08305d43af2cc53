"""The ``replay`` backend: a model that answers from an outcome file, for what-if runs without API keys.

A replayed model stands for a model whose answers were recorded (RouteLLM's GPT-4-1106 and Mixtral, or your own
history written by ``smallfirst collect``). Asked a prompt, it finds the outcome record whose ``prompt`` is the
request's last user turn and answers with that model's recorded text (``results[model].answer``) when the file has
it; otherwise with the record's ``gold`` answer when the recorded outcome was right (quality 1) and a fixed wrong
answer (:data:`WRONG`) when it was not. So a grader that compares with gold sees exactly the recorded outcome.

Token counts come from a real tokenizer (cl100k_base, ``models.tokens``): the prompt as the sum of its turns, the
answer as its text. The ledger prices it as the model it stands for: configure ``pricing = "api"`` with
``price_model`` (and ``price_provider``), or manual prices::

    [models.gpt-4-replay]
    backend = "replay"
    path = "routellm-replay.jsonl.gz"      # an outcome file: JSONL, or JSONL compressed with gzip
    model = "gpt-4-1106-preview"           # whose recorded answers to replay (default: this model's name)
    pricing = "api"
    price_model = "gpt-4-1106-preview"

It serves through the service and the gateway like any backend, streaming too. A prompt the file does not hold
is refused (:class:`ReplayMissError`, HTTP 400).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from smallfirst.errors import ConfigError, DataError, SmallfirstError
from smallfirst.models.completion import Chunk, Completion, Message, Usage, prompt_text
from smallfirst.models.tokens import token_count
from smallfirst.outcomes import read_records

if TYPE_CHECKING:
    from smallfirst.config import ModelSpec, Settings

__all__ = ["WRONG", "ReplayMissError", "ReplayModel", "build", "load_replay"]

#: what a replayed model answers where its recorded outcome was wrong and the file keeps no text
WRONG = "I do not know."


class ReplayMissError(SmallfirstError):
    """A replayed model was asked a prompt its outcome file does not hold."""

    code = "replay_miss"


#: (path, mtime, model) -> prompt -> (answer text, recorded quality)
_CACHE: dict[tuple[str, float, str], dict[str, tuple[str, float]]] = {}
_LOCK = threading.Lock()


def load_replay(path: str | Path, model: str) -> dict[str, tuple[str, float]]:
    """Prompt -> (the answer ``model`` gives, its recorded quality) from an outcome file (cached per file version).
    Raises DataError for a missing file, a model the file does not name, or a record that gives neither an answer
    nor a gold answer."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"replay file {p} does not exist", hint="give an outcome file (docs/formats.md) as `path`")
    key = (str(p.resolve()), p.stat().st_mtime, model)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
    table: dict[str, tuple[str, float]] = {}
    records = read_records(p)
    for i, rec in enumerate(records, 1):
        res = (rec.get("results") or {}).get(model)
        if res is None:
            known = sorted({m for r in records[:1] for m in (r.get("results") or {})})
            raise DataError(f"replay file {p}: record {i} has no result for model {model!r}",
                            hint=f"set `model` to one the file holds ({', '.join(known)})")
        if not isinstance(res, dict):
            res = {"quality": res}
        quality = float(res.get("quality") or 0.0)
        text = res.get("answer")
        if not text:
            gold = rec.get("gold")
            if gold is None and quality >= 1.0:
                raise DataError(f"replay file {p}: record {i} ({rec.get('id', i)}) keeps no answer for {model!r} "
                                "and no gold answer to stand for its right one",
                                hint="add results[model].answer or the record's gold")
            text = str(gold) if quality >= 1.0 else WRONG
        table[str(rec["prompt"])] = (str(text), quality)
    with _LOCK:
        _CACHE[key] = table
    return table


class ReplayModel:
    """A natively async Model that answers from a replay table (:func:`load_replay`). ``stands_for`` is the recorded
    model's name, reported in the log's answers."""

    kind: Literal["local", "api"] = "api"
    context_length: int | None = None

    def __init__(self, name: str, table: dict[str, tuple[str, float]], stands_for: str) -> None:
        self.name = name
        self.table = table
        self.stands_for = stands_for

    def answer_for(self, messages: Sequence[Message]) -> str:
        """The recorded answer to the last user turn. Raises ReplayMissError when the file does not hold it."""
        prompt = prompt_text(messages)
        hit = self.table.get(prompt)
        if hit is None:
            raise ReplayMissError(f"replayed model {self.name!r} has no recorded answer for this prompt "
                                  f"({prompt[:60]!r}...)", hint=f"replay only the prompts of its outcome file "
                                                               f"({len(self.table):,} prompts)")
        return hit[0]

    def usage(self, messages: Sequence[Message], text: str) -> Usage:
        """cl100k_base tokens of the prompt's turns and of the answer."""
        return Usage(sum(token_count(str(m.get("content") or "")) for m in messages), token_count(text))

    async def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """The recorded answer, at once. ``max_tokens`` does not cut it: a replay reproduces what was paid for."""
        start = time.perf_counter()
        text = self.answer_for(messages)
        wall = time.perf_counter() - start
        return Completion(model=self.name, text=text, finish_reason="stop", usage=self.usage(messages, text),
                          wall_seconds=wall, ttft_seconds=wall, kind="api")

    async def stream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[Chunk]:
        """The recorded answer as one chunk, then the completion."""
        completion = await self.complete(messages, **params)
        yield Chunk(completion.text)
        yield Chunk("", finish_reason="stop", completion=completion)

    async def aclose(self) -> None:
        """Nothing to release."""


def build(name: str, spec: ModelSpec, settings: Settings) -> ReplayModel:
    """The registry's ``replay`` backend. Raises ConfigError without ``path`` or without a price for the model it
    stands for, DataError for a bad file."""
    if not spec.path:
        raise ConfigError(f"replayed model {name!r} needs `path`, the outcome file it answers from",
                          hint="set path = \"history.jsonl\" (docs/formats.md) in [models." + name + "]")
    unpriced = spec.input_usd_per_mtok is None or spec.output_usd_per_mtok is None
    if spec.pricing == "hardware" or (spec.pricing == "auto" and unpriced):
        raise ConfigError(f"replayed model {name!r} must be priced as the model it stands for",
                          hint="set pricing = \"api\" and price_model (a genai-prices id), or pricing = \"manual\" "
                               "with input_usd_per_mtok and output_usd_per_mtok")
    stands_for = spec.model or name
    return ReplayModel(name, load_replay(spec.path, stands_for), stands_for)
