"""Each (model, prompt) pair is computed once per demo run and its measured completion reused by every
scenario that routes that prompt to that model: four scenarios then cost about two passes, not four.

Reused completions keep the time, tokens and cost measured when they were computed, so each scenario's
log still prices every request as what it really costs to serve. The memo is a JSONL file, which also lets
an interrupted run resume without recomputing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from smallfirst.models.completion import Alternative, Chunk, Completion, Message, TokenLogprob, Usage
from smallfirst.models.model import Model

_KEY_PARAMS = ("max_tokens", "temperature", "top_p", "stop", "seed")


def _key(model: str, messages: Sequence[Message], params: dict[str, Any]) -> str:
    blob = json.dumps([model, list(messages), {k: params.get(k) for k in _KEY_PARAMS}], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _to_json(c: Completion) -> dict[str, Any]:
    d = asdict(c)
    d["logprobs"] = [asdict(t) for t in c.logprobs] if c.logprobs else None
    return d


def _token(t: dict[str, Any]) -> TokenLogprob:
    return TokenLogprob(t["token"], t["logprob"], tuple(t["bytes"]) if t.get("bytes") is not None else None,
                        tuple(Alternative(a["token"], a["logprob"], tuple(a["bytes"]) if a.get("bytes") is not None
                                          else None) for a in t.get("top") or ()))


def _from_json(d: dict[str, Any]) -> Completion:
    return Completion(model=d["model"], text=d["text"], finish_reason=d["finish_reason"], usage=Usage(**d["usage"]),
                      wall_seconds=d["wall_seconds"], ttft_seconds=d["ttft_seconds"], kind=d["kind"],
                      logprobs=tuple(_token(t) for t in d["logprobs"]) if d["logprobs"] else None,
                      parts=tuple(_from_json(p) for p in d.get("parts") or ()))


class Memo:
    """Completions by key, loaded from and appended to the JSONL file ``path`` (one ``{"key", "completion"}`` a
    line; a line cut short is ignored, so that pair is computed again). ``hits`` counts reuses. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, Completion] = {}
        self.hits = 0
        self._lock = threading.Lock()
        self._locks: dict[str, asyncio.Lock] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self.entries[rec["key"]] = _from_json(rec["completion"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interruption is recomputed

    async def get_or_compute(self, key: str, compute: Callable[[], Awaitable[Completion]]) -> Completion:
        """The memoised completion for ``key``, or ``await compute()`` recorded under it (appended to the file).
        Two requests for one key at once compute it once."""
        async with self._pending(key):
            with self._lock:
                if key in self.entries:
                    self.hits += 1
                    return self.entries[key]
            completion = await compute()
            self._record(key, completion)
            return completion

    def _pending(self, key: str) -> asyncio.Lock:
        with self._lock:
            return self._locks.setdefault(key, asyncio.Lock())

    def _record(self, key: str, completion: Completion) -> None:
        with self._lock:
            self.entries[key] = completion
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key, "completion": _to_json(completion)}) + "\n")


class MemoModel:
    """A model whose completions are memoised; local models always record log-probabilities so the
    cascade's confidence signal is there whether or not the first scenario asked for it."""

    def __init__(self, inner: Model, memo: Memo) -> None:
        self.inner, self.memo = inner, memo
        self.name, self.kind = inner.name, inner.kind
        self.context_length = inner.context_length

    async def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """The memoised completion of this request, computed by the inner model the first time."""
        call = {**params, "logprobs": True} if self.kind == "local" else params
        return await self.memo.get_or_compute(_key(self.name, messages, params),
                                              lambda: self.inner.complete(messages, **call))

    async def stream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[Chunk]:
        """The memoised completion as one text chunk and the final chunk."""
        c = await self.complete(messages, **params)
        yield Chunk(c.text)
        yield Chunk("", finish_reason=c.finish_reason, completion=c)

    async def aclose(self) -> None:
        """Close the inner model; the memo file stays."""
        await self.inner.aclose()
