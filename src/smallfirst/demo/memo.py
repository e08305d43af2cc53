"""Each (model, prompt) pair is computed once per demo run and its measured completion reused by every
scenario that routes that prompt to that model: four scenarios then cost about two passes, not four.

Reused completions keep the time, tokens and cost measured when they were computed, so each scenario's
log still prices every request as what it really costs to serve. The memo is a JSONL file, which also lets
an interrupted run resume without recomputing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from smallfirst.models.base import Model
from smallfirst.models.records import Chunk, Completion, Message, TokenLogprob, Usage

_KEY_PARAMS = ("max_tokens", "temperature", "top_p", "stop", "seed")


def _key(model: str, messages: Sequence[Message], params: dict[str, Any]) -> str:
    blob = json.dumps([model, list(messages), {k: params.get(k) for k in _KEY_PARAMS}], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _to_json(c: Completion) -> dict[str, Any]:
    d = asdict(c)
    d["logprobs"] = [asdict(t) for t in c.logprobs] if c.logprobs else None
    return d


def _from_json(d: dict[str, Any]) -> Completion:
    return Completion(model=d["model"], text=d["text"], finish_reason=d["finish_reason"], usage=Usage(**d["usage"]),
                      wall_seconds=d["wall_seconds"], ttft_seconds=d["ttft_seconds"], kind=d["kind"],
                      logprobs=tuple(TokenLogprob(**t) for t in d["logprobs"]) if d["logprobs"] else None,
                      parts=tuple(_from_json(p) for p in d.get("parts") or ()))


class Memo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, Completion] = {}
        self.hits = 0
        self._lock = threading.Lock()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self.entries[rec["key"]] = _from_json(rec["completion"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interruption is recomputed

    def get_or_compute(self, key: str, compute: Any) -> Completion:
        with self._lock:
            if key in self.entries:
                self.hits += 1
                return self.entries[key]
        completion = compute()
        with self._lock:
            self.entries[key] = completion
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key, "completion": _to_json(completion)}) + "\n")
        return completion


class MemoModel:
    """A model whose completions are memoised; local models always record log-probabilities so the
    cascade's confidence signal is there whether or not the first scenario asked for it."""

    def __init__(self, inner: Model, memo: Memo) -> None:
        self.inner, self.memo = inner, memo
        self.name, self.kind = inner.name, inner.kind
        self.context_length = inner.context_length

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        call = {**params, "logprobs": True} if self.kind == "local" else params
        return self.memo.get_or_compute(_key(self.name, messages, params),
                                        lambda: self.inner.complete(messages, **call))

    def stream(self, messages: Sequence[Message], **params: Any) -> Iterator[Chunk]:
        c = self.complete(messages, **params)
        yield Chunk(c.text)
        yield Chunk("", finish_reason=c.finish_reason, completion=c)

    def close(self) -> None:
        self.inner.close()
